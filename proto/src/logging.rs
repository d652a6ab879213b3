//! The one logging setup of the seamless binaries: tracing to stderr,
//! filtered by `RUST_LOG` (default `info`).
//!
//! `RUST_LOG` takes tracing-subscriber's directives: a level (`debug`), or
//! a list of `target=level` with an optional default level, such as
//! `RUST_LOG=seamless_lab=debug,kube=info` (only those two targets) or
//! `RUST_LOG=info,seamless_lab=debug` (everything at info, the lab at
//! debug). A target is a module path: the crate's name with `_`, e.g.
//! `seamless_analyzer`, `seamless_controller::rollout`, `kube`.
//!
//! With the `env-filter` feature the filter is
//! `tracing_subscriber::EnvFilter`, which also takes span and field
//! directives (`[span{field=value}]=trace`). Without it (the agent, whose
//! dependency tree stays small: EnvFilter brings regex-automata and
//! regex-syntax) it is `tracing_subscriber::filter::Targets`: the same
//! `target=level` lists, without spans and fields. A `RUST_LOG` that does
//! not parse is never fatal: the binary warns and logs at `info`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable read.
pub const ENV: &str = "RUST_LOG";

/// The filter when `RUST_LOG` is unset, empty or bad.
pub const DEFAULT: &str = "info";

/// The filter type: `EnvFilter` with the `env-filter` feature, else
/// `Targets`.
#[cfg(feature = "env-filter")]
pub type Filter = tracing_subscriber::EnvFilter;
/// The filter type: `EnvFilter` with the `env-filter` feature, else
/// `Targets`.
#[cfg(not(feature = "env-filter"))]
pub type Filter = tracing_subscriber::filter::Targets;

/// A `RUST_LOG` value that is not a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{ENV}={spec:?} is not a log filter ({reason}); logging at {DEFAULT} instead \
     (write e.g. {ENV}=debug or {ENV}=info,seamless_lab=debug,kube=warn)"
)]
pub struct FilterError {
    /// The value given.
    pub spec: String,
    /// What the parser found wrong.
    pub reason: String,
}

/// Parses a filter (`RUST_LOG`'s syntax); an empty or blank text is the
/// default, `info`.
pub fn parse_filter(spec: &str) -> Result<Filter, FilterError> {
    let trimmed = spec.trim();
    let text = if trimmed.is_empty() { DEFAULT } else { trimmed };
    parse(text).map_err(|reason| FilterError {
        spec: spec.to_owned(),
        reason,
    })
}

#[cfg(feature = "env-filter")]
fn parse(text: &str) -> Result<Filter, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "env-filter"))]
fn parse(text: &str) -> Result<Filter, String> {
    text.parse()
        .map_err(|e: tracing_subscriber::filter::ParseError| e.to_string())
}

/// The filter `RUST_LOG` asks for, or the default and why not.
pub fn filter_from_env() -> (Filter, Option<FilterError>) {
    let spec = match std::env::var(ENV) {
        Ok(spec) => spec,
        Err(std::env::VarError::NotPresent) => String::new(),
        Err(std::env::VarError::NotUnicode(raw)) => {
            let e = FilterError {
                spec: raw.to_string_lossy().into_owned(),
                reason: "not UTF-8".into(),
            };
            return (default_filter(), Some(e));
        }
    };
    match parse_filter(&spec) {
        Ok(f) => (f, None),
        Err(e) => (default_filter(), Some(e)),
    }
}

#[cfg(feature = "env-filter")]
fn default_filter() -> Filter {
    tracing_subscriber::EnvFilter::new(DEFAULT)
}

#[cfg(not(feature = "env-filter"))]
fn default_filter() -> Filter {
    Filter::new().with_default(tracing::Level::INFO)
}

/// How the log lines look; [`Logging::init`] installs it.
#[derive(Debug, Clone, Copy)]
pub struct Logging {
    target: bool,
}

impl Default for Logging {
    fn default() -> Self {
        Self { target: true }
    }
}

impl Logging {
    /// Lines name their target (the module), as tracing's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines without their target (the agent's: one short line each).
    pub fn without_target(mut self) -> Self {
        self.target = false;
        self
    }

    /// Installs the global subscriber: stderr, filtered by `RUST_LOG`. A bad
    /// `RUST_LOG` is warned about, once, and the default used. Safe to call
    /// more than once (later calls do nothing).
    pub fn init(self) {
        let (filter, error) = filter_from_env();
        // Colour for a person at a terminal, never in a file or a pipe (nor
        // with NO_COLOR set, https://no-color.org).
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_target(self.target);
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
            .is_ok();
        if let (true, Some(e)) = (installed, error) {
            tracing::warn!("{e}");
        }
    }
}

/// [`Logging::new`]`.init()`: the setup every binary but the agent uses.
pub fn init() {
    Logging::new().init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::{Layer, Registry};

    fn max_level(spec: &str) -> Option<LevelFilter> {
        Layer::<Registry>::max_level_hint(&parse_filter(spec).unwrap())
    }

    #[test]
    fn levels_and_target_lists() {
        assert_eq!(max_level(""), Some(LevelFilter::INFO));
        assert_eq!(max_level("  "), Some(LevelFilter::INFO));
        assert_eq!(max_level("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(
            max_level("seamless_lab=debug,kube=info"),
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(
            max_level("warn,seamless_controller::rollout=trace"),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(max_level("off"), Some(LevelFilter::OFF));
    }

    #[test]
    fn a_bad_filter_is_an_error_naming_it() {
        for spec in ["seamless_lab=loud", "kube=info=debug", "=debug,=,x=y"] {
            let e = parse_filter(spec).unwrap_err();
            assert_eq!(e.spec, spec);
            let msg = e.to_string();
            assert!(msg.contains(&format!("RUST_LOG={spec:?}")), "{msg}");
            assert!(msg.contains("logging at info instead"), "{msg}");
        }
    }
}
