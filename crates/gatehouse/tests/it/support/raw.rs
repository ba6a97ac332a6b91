//! Raw HTTP over TCP, for requests a well-behaved client library would not send: split,
//! slow, malformed, or with headers it would merge.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads one HTTP/1.1 response with a Content-Length body from `s` (a socket, or a TLS
/// stream).
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed; got {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Sends one request on a new connection and reads its response.
pub async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut s).await
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
pub struct Ended {
    /// When the server closed it, counted from the call.
    pub after: Duration,
    /// What it sent before closing.
    pub sent: Vec<u8>,
}

/// Waits up to `bound` for the server to close `s`, reading (and keeping) what it sends;
/// `None` if it is still open then.
pub async fn closed_within(s: &mut TcpStream, bound: Duration) -> Option<Ended> {
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = bound.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some(Ended {
                    after: started.elapsed(),
                    sent,
                });
            }
            Ok(Ok(n)) => sent.extend_from_slice(&chunk[..n]),
        }
    }
}
