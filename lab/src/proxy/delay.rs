//! Delays drawn from a configurable distribution, reproducibly from a seed.
//!
//! The generator is SplitMix64, written out here on purpose: its output for a
//! seed is fixed by its definition, so a seed recorded in `run.json` replays
//! the same delays with any build of the lab.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A delay distribution: `50ms` (fixed) or `20ms..150ms` (uniform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between the bounds (inclusive low, exclusive high).
    Uniform(Duration, Duration),
}

/// A delay that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad delay {text:?}: use a duration (50ms) or a uniform range (20ms..150ms)")]
pub struct BadDelay {
    text: String,
}

fn parse_dur(s: &str, text: &str) -> Result<Duration, BadDelay> {
    // The one duration grammar of every seamless CLI (proto's).
    seamless_proto::duration::parse(s).map_err(|_| BadDelay {
        text: text.to_owned(),
    })
}

impl FromStr for Delay {
    type Err = BadDelay;
    fn from_str(s: &str) -> Result<Delay, BadDelay> {
        match s.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_dur(lo, s)?, parse_dur(hi, s)?);
                if hi < lo {
                    return Err(BadDelay { text: s.to_owned() });
                }
                Ok(Delay::Uniform(lo, hi))
            }
            None => Ok(Delay::Fixed(parse_dur(s, s)?)),
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::Fixed(d) => write!(f, "{}", humantime::format_duration(*d)),
            Delay::Uniform(lo, hi) => write!(
                f,
                "{}..{}",
                humantime::format_duration(*lo),
                humantime::format_duration(*hi)
            ),
        }
    }
}

impl Delay {
    /// Draws one value.
    pub fn draw(&self, rng: &mut SplitMix64) -> Duration {
        match *self {
            Delay::Fixed(d) => d,
            Delay::Uniform(lo, hi) => {
                let span = (hi - lo).as_nanos() as u64;
                if span == 0 {
                    return lo;
                }
                lo + Duration::from_nanos(rng.next_u64() % span)
            }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, fully determined by
/// its seed.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Written as its text form (`Display`), read back through `FromStr`.
impl serde::Serialize for Delay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Delay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_draws_in_range() {
        let d: Delay = "20ms..150ms".parse().unwrap();
        assert_eq!(
            d,
            Delay::Uniform(Duration::from_millis(20), Duration::from_millis(150))
        );
        let mut rng = SplitMix64::new(7);
        for _ in 0..1000 {
            let v = d.draw(&mut rng);
            assert!(v >= Duration::from_millis(20) && v < Duration::from_millis(150));
        }
        assert_eq!(
            "50ms".parse::<Delay>().unwrap().draw(&mut rng),
            Duration::from_millis(50)
        );
        assert!("150ms..20ms".parse::<Delay>().is_err());
        assert!("soon".parse::<Delay>().is_err());
        assert_eq!(d.to_string().parse::<Delay>().unwrap(), d);
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference output of SplitMix64 for seed 1234567.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }
}
