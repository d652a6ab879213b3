//! Logging: the binaries' one setup, `seamless_proto::logging` (tracing to
//! stderr; `RUST_LOG` as EnvFilter reads it, e.g.
//! `RUST_LOG=seamless_lab=debug,kube=info`; default `info`).

/// Installs the global subscriber. Safe to call more than once; a bad
/// `RUST_LOG` is warned about and the default used.
pub fn init() {
    seamless_proto::logging::init();
}
