//! The probe target: an `http://` URL, resolved once at start.

use std::net::{SocketAddr, ToSocketAddrs};

/// Why a URL cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not `http://...`.
    #[error("unsupported URL {0:?}: only http://HOST[:PORT]/PATH is supported")]
    Scheme(String),
    /// The authority part is malformed.
    #[error("malformed URL {url:?}: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The host did not resolve.
    #[error("cannot resolve {host:?}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The host resolved to nothing.
    #[error("{0:?} resolved to no address")]
    NoAddress(String),
    /// A path flag that is not a request path.
    #[error(
        "{flag} {path:?}: a path starts with / and has no spaces or control characters, e.g. /sleep?ms=2000"
    )]
    Path {
        /// The flag.
        flag: String,
        /// Its value.
        path: String,
    },
}

/// A parsed, resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// Host as written (name or IP literal, brackets kept for IPv6).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The first resolved address.
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves `url`.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| TargetError::Scheme(url.to_owned()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let malformed = |reason| TargetError::Malformed {
            url: url.to_owned(),
            reason,
        };
        if authority.contains('@') {
            return Err(malformed("user info is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| malformed("unclosed '[' in host"))?;
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(malformed("garbage after ']'")),
            };
            (&authority[..end + 2], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(malformed("empty host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| malformed("port is not a number 0-65535"))?,
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .map_err(|source| TargetError::Resolve {
                host: bare.to_owned(),
                source,
            })?
            .next()
            .ok_or_else(|| TargetError::NoAddress(bare.to_owned()))?;
        Ok(Target {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            path,
            addr,
        })
    }

    /// The request bytes for `path`: `GET` over HTTP/1.0 with `Connection:
    /// close`, or, for `keep_alive`, over HTTP/1.1 (keep-alive by default).
    pub fn request(&self, path: &str, keep_alive: bool) -> Vec<u8> {
        let host = if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let (version, connection) = if keep_alive {
            ("1.1", "")
        } else {
            ("1.0", "Connection: close\r\n")
        };
        format!(
            "GET {path} HTTP/{version}\r\nHost: {host}\r\nUser-Agent: seamless-agent/{}\r\nAccept: */*\r\n{connection}\r\n",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    }
}

/// Checks a `--path`/`--slow` value: it starts with `/` and holds no
/// whitespace or control characters (it goes into the request line as is).
pub fn check_path(flag: &str, path: &str) -> Result<(), TargetError> {
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(TargetError::Path {
            flag: flag.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let t = Target::parse("http://127.0.0.1:8080/healthz?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/healthz?x=1")
        );
        let t = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!((t.host.as_str(), t.addr.port()), ("[::1]", 9));
        let t = Target::parse("http://localhost:81?q").unwrap();
        assert_eq!(t.path, "/?q");
        assert!(t.addr.ip().is_loopback());
        let req = String::from_utf8(t.request(&t.path, false)).unwrap();
        assert!(
            req.starts_with("GET /?q HTTP/1.0\r\nHost: localhost:81\r\n"),
            "{req}"
        );
        assert!(req.contains("Connection: close\r\n"));
        let req = String::from_utf8(t.request("/x", true)).unwrap();
        assert!(req.starts_with("GET /x HTTP/1.1\r\n"), "{req}");
        assert!(!req.contains("Connection:"), "{req}");
        assert!(check_path("--path", "/sleep?ms=5").is_ok());
        assert!(check_path("--slow", "sleep").is_err());
        assert!(check_path("--slow", "/a b").is_err());
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "https://x/",
            "127.0.0.1:80",
            "http://:80/",
            "http://h:99999/",
            "http://u@h/",
            "http://[::1/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let e = Target::parse("ftp://x").unwrap_err().to_string();
        assert!(e.contains("only http://"), "{e}");
    }
}
