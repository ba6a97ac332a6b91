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

/// One HTTP/1.1 response read whole, as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Statuses of interim (1xx) responses before it.
    pub interim: Vec<u16>,
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Decoded (chunked framing removed).
    pub body: Vec<u8>,
    /// The body ran until the server closed the connection.
    pub close_delimited: bool,
}

/// Reads one response from `s` (a request of method HEAD when `head`), keeping bytes of the
/// next in `buf`; `None` if the connection ends before a whole response.
pub async fn read_message<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
    head: bool,
) -> Option<Message> {
    let mut interim = Vec::new();
    loop {
        let end = loop {
            if let Some(end) = find(buf, b"\r\n\r\n") {
                break end;
            }
            fill(s, buf).await?;
        };
        let text = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        if (100..200).contains(&status) && status != 101 {
            interim.push(status);
            continue;
        }
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut close_delimited = false;
        let body = if head || status == 204 || status == 304 || status == 101 {
            Vec::new()
        } else if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        break i;
                    }
                    fill(s, buf).await?;
                };
                let line = String::from_utf8_lossy(&buf[..line_end]).to_string();
                buf.drain(..line_end + 2);
                let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
                if size == 0 {
                    loop {
                        let end = loop {
                            if let Some(i) = find(buf, b"\r\n") {
                                break i;
                            }
                            fill(s, buf).await?;
                        };
                        buf.drain(..end + 2);
                        if end == 0 {
                            break;
                        }
                    }
                    break body;
                }
                while buf.len() < size + 2 {
                    fill(s, buf).await?;
                }
                body.extend(buf.drain(..size));
                buf.drain(..2);
            }
        } else if let Some(length) = value("content-length") {
            let length: usize = length.parse().ok()?;
            while buf.len() < length {
                fill(s, buf).await?;
            }
            buf.drain(..length).collect()
        } else {
            close_delimited = true;
            while fill(s, buf).await.is_some() {}
            std::mem::take(buf)
        };
        return Some(Message {
            interim,
            status,
            headers,
            body,
            close_delimited,
        });
    }
}

async fn fill<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
