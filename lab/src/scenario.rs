//! The scenario matrix: network (pod | host) x access (clusterip | nodeport)
//! x termination (no-prestop | prestop), named like `pod-clusterip-no-prestop`.

use std::fmt;
use std::str::FromStr;

/// Where the backend's socket lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A pod network namespace on the node's bridge (the CNI case).
    Pod,
    /// The node's own network namespace (hostNetwork).
    Host,
}

/// How the agent reaches the Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// ClusterIP:port.
    ClusterIp,
    /// NodeIP:NodePort of the probing node.
    NodePort,
}

/// What kubelet runs before SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// SIGTERM at once.
    NoPreStop,
    /// A preStop sleep first.
    PreStop,
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Pod or host network.
    pub network: Network,
    /// ClusterIP or NodePort.
    pub access: Access,
    /// With or without preStop.
    pub termination: Termination,
}

/// A scenario name that is not in the matrix.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown scenario {0:?}: expected NETWORK-ACCESS-TERMINATION with NETWORK pod|host, \
     ACCESS clusterip|nodeport, TERMINATION no-prestop|prestop (e.g. pod-clusterip-no-prestop)"
)]
pub struct UnknownScenario(pub String);

impl Scenario {
    /// The whole matrix, in a stable order.
    pub fn all() -> Vec<Scenario> {
        let mut v = Vec::new();
        for network in [Network::Pod, Network::Host] {
            for access in [Access::ClusterIp, Access::NodePort] {
                for termination in [Termination::NoPreStop, Termination::PreStop] {
                    v.push(Scenario {
                        network,
                        access,
                        termination,
                    });
                }
            }
        }
        v
    }

    /// True when kubelet sleeps before SIGTERM.
    pub fn has_prestop(&self) -> bool {
        self.termination == Termination::PreStop
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = match self.network {
            Network::Pod => "pod",
            Network::Host => "host",
        };
        let a = match self.access {
            Access::ClusterIp => "clusterip",
            Access::NodePort => "nodeport",
        };
        let t = match self.termination {
            Termination::NoPreStop => "no-prestop",
            Termination::PreStop => "prestop",
        };
        write!(f, "{n}-{a}-{t}")
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Scenario, UnknownScenario> {
        Scenario::all()
            .into_iter()
            .find(|sc| sc.to_string() == s)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

/// Written as its text form (`Display`), read back through `FromStr`.
impl serde::Serialize for Scenario {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scenario {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let all = Scenario::all();
        assert_eq!(all.len(), 8);
        let mut names: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        for (s, n) in all.iter().zip(&names) {
            assert_eq!(&n.parse::<Scenario>().unwrap(), s);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8);
        assert!(names.contains(&"pod-clusterip-no-prestop".to_string()));
        assert!(names.contains(&"host-nodeport-prestop".to_string()));
        assert!("pod-clusterip".parse::<Scenario>().is_err());
    }
}
