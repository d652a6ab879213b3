//! Logging: tracing to stderr, filtered by `RUST_LOG` (default `info`).

/// Installs the global subscriber. Safe to call more than once.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .try_init();
}
