//! kube-proxy's last rule sync, from its Prometheus metrics.

use std::net::SocketAddr;
use std::time::Duration;

use super::LAST_SYNC_METRIC;

/// The time of kube-proxy's last successful sync (seconds since the
/// epoch) from its metrics at `addr`, or None before the first (or when it
/// does not answer). In 1.37 the newest over the IP families.
pub async fn last_sync(addr: SocketAddr) -> Option<f64> {
    let text = scrape(addr, "/metrics").await?;
    parse_last_sync(&text)
}

/// [`LAST_SYNC_METRIC`] from a Prometheus text page: the largest value
/// above 0, if any.
pub fn parse_last_sync(text: &str) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(LAST_SYNC_METRIC)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .reduce(f64::max)
}

/// GET `path` over plain HTTP/1.0 from the lab's world; the body of a 200.
pub async fn scrape(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.")
            .then(|| head.split_whitespace().nth(1) == Some("200"))
            .filter(|ok| *ok)
            .map(|_| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_sync_is_read_from_both_versions_metrics() {
        let v126 = "# HELP x\nkubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7e+09\n\
                    kubeproxy_sync_proxy_rules_last_timestamp_seconds_x 5\n";
        assert_eq!(parse_last_sync(v126), Some(1.7e9));
        let v137 = "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.8e+09\n\
                    kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 1.9e+09\n";
        assert_eq!(parse_last_sync(v137), Some(1.9e9));
        assert_eq!(
            parse_last_sync("kubeproxy_sync_proxy_rules_last_timestamp_seconds 0\n"),
            None
        );
    }
}
