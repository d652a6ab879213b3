//! The probing modes of a run and their schedules, from `--mode`, `--rate`,
//! `--concurrency`, `--pool`, `--path` and `--slow`.
//!
//! `--rate` and `--concurrency` take one value for every mode (`--rate
//! 1000`) or values per mode (`--rate new=1000,reuse=200`); a mode gets
//! exactly one schedule: a rate (open loop) or a concurrency (closed loop).

use std::str::FromStr;

use seamless_proto::{Mode, Schedule};

/// The open-loop rate when no mode is given a schedule.
pub const DEFAULT_RATE: f64 = 1000.0;
/// Reuse mode's pool in open loop when `--pool` is not given.
pub const DEFAULT_POOL: u32 = 8;

/// Why the modes' options do not make a run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModeError {
    /// A per-mode list names an unknown mode or has no `=`.
    #[error("{flag}: {reason}")]
    Syntax {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A value out of range.
    #[error("{0}")]
    Range(String),
    /// A mode has two schedules, none, or one but is not run.
    #[error("{0}")]
    Schedule(String),
}

/// A value for every mode, or per mode.
#[derive(Debug, Clone, PartialEq)]
pub enum PerMode<T> {
    /// `--flag V`: every mode.
    All(T),
    /// `--flag mode=V,mode=V`.
    Each(Vec<(Mode, T)>),
}

impl<T: Copy> PerMode<T> {
    /// The value for `mode`, if any.
    pub fn get(&self, mode: Mode) -> Option<T> {
        match self {
            PerMode::All(v) => Some(*v),
            PerMode::Each(list) => list.iter().find(|(m, _)| *m == mode).map(|&(_, v)| v),
        }
    }

    fn modes(&self) -> Vec<Mode> {
        match self {
            PerMode::All(_) => Vec::new(),
            PerMode::Each(list) => list.iter().map(|&(m, _)| m).collect(),
        }
    }
}

/// Parses `V` or `mode=V[,mode=V...]`.
pub fn parse_per_mode<T: FromStr>(s: &str) -> Result<PerMode<T>, String> {
    let value = |v: &str| {
        v.trim()
            .parse::<T>()
            .map_err(|_| format!("{v:?} is not a valid value"))
    };
    if !s.contains('=') {
        return value(s).map(PerMode::All);
    }
    let mut list = Vec::new();
    for part in s.split(',') {
        let (m, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: write MODE=VALUE, e.g. reuse=200"))?;
        let mode = parse_mode(m.trim())?;
        if list.iter().any(|&(seen, _)| seen == mode) {
            return Err(format!("mode {mode} given twice"));
        }
        list.push((mode, value(v)?));
    }
    Ok(PerMode::Each(list))
}

/// Parses a mode name.
pub fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::from_name(s).ok_or_else(|| format!("unknown mode {s:?}: the modes are new, reuse, slow"))
}

/// One mode of the run, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ModePlan {
    /// The mode.
    pub mode: Mode,
    /// Its schedule.
    pub schedule: Schedule,
    /// Reuse mode: connections in the pool (0 otherwise).
    pub pool: u32,
}

/// Resolves the modes' schedules and pool.
pub fn plan(
    modes: &[Mode],
    rate: Option<&PerMode<f64>>,
    concurrency: Option<&PerMode<u32>>,
    pool: Option<u32>,
) -> Result<Vec<ModePlan>, ModeError> {
    let mut seen = Vec::new();
    for &m in modes {
        if seen.contains(&m) {
            return Err(ModeError::Schedule(format!("--mode lists {m} twice")));
        }
        seen.push(m);
    }
    for (flag, named) in [
        ("--rate", rate.map(PerMode::modes).unwrap_or_default()),
        (
            "--concurrency",
            concurrency.map(PerMode::modes).unwrap_or_default(),
        ),
    ] {
        if let Some(m) = named.iter().find(|m| !modes.contains(m)) {
            return Err(ModeError::Schedule(format!(
                "{flag} gives mode {m} a schedule, but --mode does not run it (add it: --mode {},{m})",
                modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(",")
            )));
        }
    }
    if matches!(pool, Some(0)) {
        return Err(ModeError::Range("--pool must be at least 1".into()));
    }
    if pool.is_some() && !modes.contains(&Mode::Reuse) {
        return Err(ModeError::Schedule(
            "--pool sizes the reuse mode's connection pool: add reuse to --mode".into(),
        ));
    }
    let nothing = rate.is_none() && concurrency.is_none();
    let mut out = Vec::new();
    for &mode in modes {
        let r = rate.and_then(|r| r.get(mode));
        let c = concurrency.and_then(|c| c.get(mode));
        let schedule = match (r, c) {
            (Some(_), Some(_)) => {
                return Err(ModeError::Schedule(format!(
                    "mode {mode} has both a --rate and a --concurrency: give it one (e.g. --rate new=1000 --concurrency reuse=8), or both flags cannot be used with one value"
                )));
            }
            (Some(r), None) => {
                if !(r.is_finite() && r > 0.0 && r <= 10_000_000.0) {
                    return Err(ModeError::Range(format!(
                        "--rate must be a number of probes a second in (0, 10000000], got {r}"
                    )));
                }
                Schedule::Rate { per_sec: r }
            }
            (None, Some(0)) => {
                return Err(ModeError::Range("--concurrency must be at least 1".into()));
            }
            (None, Some(c)) => Schedule::Concurrency { workers: c },
            (None, None) if nothing => Schedule::Rate {
                per_sec: DEFAULT_RATE,
            },
            (None, None) => {
                return Err(ModeError::Schedule(format!(
                    "mode {mode} has no schedule: give it --rate {mode}=R or --concurrency {mode}=C"
                )));
            }
        };
        let pool = match (mode, &schedule) {
            (Mode::Reuse, _) if pool.is_some() => pool.unwrap_or(DEFAULT_POOL),
            (Mode::Reuse, Schedule::Concurrency { workers }) => *workers,
            (Mode::Reuse, Schedule::Rate { .. }) => DEFAULT_POOL,
            _ => 0,
        };
        out.push(ModePlan {
            mode,
            schedule,
            pool,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mode_values() {
        assert_eq!(parse_per_mode::<f64>("500"), Ok(PerMode::All(500.0)));
        assert_eq!(
            parse_per_mode::<f64>("new=1000, reuse=200"),
            Ok(PerMode::Each(vec![
                (Mode::New, 1000.0),
                (Mode::Reuse, 200.0)
            ]))
        );
        assert!(
            parse_per_mode::<f64>("fresh=1")
                .unwrap_err()
                .contains("new, reuse, slow")
        );
        assert!(
            parse_per_mode::<u32>("new=1,new=2")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_per_mode::<u32>("new=x").is_err());
        assert!(
            parse_per_mode::<u32>("new=1,2")
                .unwrap_err()
                .contains("MODE=VALUE")
        );
    }

    #[test]
    fn schedules_per_mode() {
        let both = [Mode::New, Mode::Reuse];
        let p = plan(&both, None, None, None).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|m| m.schedule
            == Schedule::Rate {
                per_sec: DEFAULT_RATE
            }));
        assert_eq!(p[1].pool, DEFAULT_POOL);
        let rate = PerMode::Each(vec![(Mode::New, 1000.0)]);
        let conc = PerMode::Each(vec![(Mode::Reuse, 4)]);
        let p = plan(&both, Some(&rate), Some(&conc), None).unwrap();
        assert_eq!(p[1].schedule, Schedule::Concurrency { workers: 4 });
        assert_eq!(p[1].pool, 4);
        let e = plan(
            &both,
            Some(&PerMode::All(5.0)),
            Some(&PerMode::All(2)),
            None,
        );
        assert!(e.unwrap_err().to_string().contains("cannot be used with"));
        let e = plan(&both, Some(&rate), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode reuse has no schedule"), "{e}");
        let e = plan(
            &[Mode::New],
            Some(&PerMode::Each(vec![(Mode::Slow, 1.0)])),
            None,
            None,
        );
        assert!(e.unwrap_err().to_string().contains("does not run it"));
        assert!(plan(&[Mode::New], None, None, Some(4)).is_err());
        assert!(plan(&both, None, None, Some(0)).is_err());
        assert!(plan(&[Mode::New, Mode::New], None, None, None).is_err());
        assert!(plan(&both, Some(&PerMode::All(0.0)), None, None).is_err());
    }
}
