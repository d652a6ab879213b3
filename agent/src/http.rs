//! Parsing the response head (status line and headers) with httparse.

use seamless_proto::Outcome;

/// Headers parsed at most; more is treated as oversized.
const MAX_HEADERS: usize = 64;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Bytes of the head, including the blank line.
    pub len: usize,
    /// `Content-Length`, when present and valid.
    pub content_length: Option<u64>,
    /// The value of the backend header, when asked for and present.
    pub backend: Option<String>,
    /// The server lets the connection carry another request: HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Head {
    /// Whether the response has no body whatever its headers say (1xx, 204,
    /// 304).
    pub fn bodiless(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// Whether a comma-separated header value holds `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Tries to parse a response head from the bytes received so far.
///
/// `Ok(None)`: more bytes are needed. `Err(outcome)`: the response is
/// malformed or has too many headers.
pub fn parse_head(buf: &[u8], backend_header: Option<&str>) -> Result<Option<Head>, Outcome> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Outcome::Oversized),
        Err(_) => return Err(Outcome::Malformed),
    };
    let status = resp.code.ok_or(Outcome::Malformed)?;
    let mut content_length = None;
    let mut backend = None;
    let mut close = false;
    let mut keep = false;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            close |= has_token(h.value, "close");
            keep |= has_token(h.value, "keep-alive");
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= has_token(h.value, "chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        } else if backend_header.is_some_and(|b| h.name.eq_ignore_ascii_case(b)) {
            backend = Some(String::from_utf8_lossy(h.value).trim().to_owned());
        }
    }
    let http11 = resp.version == Some(1);
    Ok(Some(Head {
        status,
        len,
        content_length,
        backend,
        keep_alive: !close && (http11 || keep),
        chunked,
    }))
}

/// A `Transfer-Encoding: chunked` body, consumed as it arrives.
#[derive(Debug, Default)]
pub struct Chunked {
    /// Bytes not yet consumed (a size line or trailer split across reads).
    pending: Vec<u8>,
    state: ChunkState,
    /// Body bytes seen (chunk data only), against the body cap.
    pub data: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data, this many bytes of it left.
    DataEnd(u8),
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    /// The whole body arrived.
    Done,
}

impl Chunked {
    /// Feeds received bytes. `Ok(true)`: the body is complete (bytes after it
    /// are reported by `extra`); `Ok(false)`: more are needed; `Err`: the
    /// framing is malformed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, Outcome> {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        let buf = std::mem::take(&mut self.pending);
        let result = loop {
            let rest = &buf[at..];
            match self.state {
                ChunkState::Done => break Ok(true),
                ChunkState::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, 0))) => {
                        at += used;
                        self.state = ChunkState::Trailer;
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        at += used;
                        self.state = ChunkState::Data(size);
                    }
                    Ok(httparse::Status::Partial) if rest.len() > 1024 => {
                        break Err(Outcome::Malformed);
                    }
                    Ok(httparse::Status::Partial) => break Ok(false),
                    Err(_) => break Err(Outcome::Malformed),
                },
                ChunkState::Data(left) => {
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    self.data += take;
                    if take == left {
                        self.state = ChunkState::DataEnd(2);
                    } else {
                        self.state = ChunkState::Data(left - take);
                        break Ok(false);
                    }
                }
                ChunkState::DataEnd(left) => {
                    let want: &[u8] = if left == 2 { b"\r\n" } else { b"\n" };
                    let n = want.len().min(rest.len());
                    if rest[..n] != want[..n] {
                        break Err(Outcome::Malformed);
                    }
                    at += n;
                    if n == want.len() {
                        self.state = ChunkState::Size;
                    } else {
                        self.state = ChunkState::DataEnd(left - n as u8);
                        break Ok(false);
                    }
                }
                ChunkState::Trailer => match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        let line = &rest[..i];
                        at += i + 1;
                        if line.is_empty() || line == b"\r" {
                            self.state = ChunkState::Done;
                        }
                    }
                    None if rest.len() > 8192 => break Err(Outcome::Oversized),
                    None => break Ok(false),
                },
            }
        };
        self.pending = buf[at..].to_vec();
        result
    }

    /// Bytes received after the end of the body (a server that sent more
    /// than the response).
    pub fn extra(&self) -> usize {
        self.pending.len()
    }
}

/// Whether the bytes so far hold a complete status line (so a close now is
/// "ended inside the headers", not "closed before the status line").
pub fn has_status_line(buf: &[u8]) -> bool {
    buf.contains(&b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_partial_and_malformed() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pod-Name: web-a\r\n\r\nok";
        let head = parse_head(full, Some("x-pod-name")).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.len, full.len() - 2);
        assert_eq!(head.content_length, Some(2));
        assert_eq!(head.backend.as_deref(), Some("web-a"));
        assert_eq!(parse_head(&full[..10], None), Ok(None));
        assert_eq!(
            parse_head(b"SSH-2.0-OpenSSH\r\n\r\n", None),
            Err(Outcome::Malformed)
        );
        let mut many = b"HTTP/1.0 200 OK\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many, None), Err(Outcome::Oversized));
    }

    #[test]
    fn keep_alive_rules() {
        let h = |raw: &[u8]| parse_head(raw, None).unwrap().unwrap();
        assert!(h(b"HTTP/1.1 200 OK\r\n\r\n").keep_alive);
        assert!(!h(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!h(b"HTTP/1.0 200 OK\r\n\r\n").keep_alive);
        assert!(h(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(h(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").chunked);
        assert!(h(b"HTTP/1.1 204 No Content\r\n\r\n").bodiless());
    }

    #[test]
    fn chunked_bodies_in_any_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..body.len() {
            let mut c = Chunked::default();
            let first = c.feed(&body[..split]).unwrap();
            assert!(!first, "complete after {split} bytes");
            assert!(c.feed(&body[split..]).unwrap(), "split at {split}");
            assert_eq!((c.data, c.extra()), (9, 0));
        }
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"zz\r\n"), Err(Outcome::Malformed));
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"1\r\nab\r\n"), Err(Outcome::Malformed));
        let mut c = Chunked::default();
        assert!(c.feed(b"0\r\n\r\nHTTP").unwrap());
        assert_eq!(c.extra(), 4);
    }
}
