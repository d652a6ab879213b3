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
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        } else if backend_header.is_some_and(|b| h.name.eq_ignore_ascii_case(b)) {
            backend = Some(String::from_utf8_lossy(h.value).trim().to_owned());
        }
    }
    Ok(Some(Head {
        status,
        len,
        content_length,
        backend,
    }))
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
}
