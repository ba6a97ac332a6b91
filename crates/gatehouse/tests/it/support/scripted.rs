//! A raw HTTP/1.1 back end that records each request as it arrived on the wire (head fields
//! in order, body decoded) and answers with a response shape picked by the request path's
//! last segment: the shapes a proxy must pass on faithfully (chunked with trailers,
//! close-delimited, HTTP/1.0, 1xx before the answer, 204, 304, a large body, an echo).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// One request as the back end read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Decoded (chunked framing removed).
    pub body: Vec<u8>,
}

/// The running back end.
pub struct Scripted {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Scripted {
    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Starts the back end on 127.0.0.1:0.
pub async fn start() -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (record, count) = (Arc::clone(&seen), Arc::clone(&connections));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(serve(stream, Arc::clone(&record)));
        }
    });
    Scripted {
        addr,
        seen,
        connections,
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Request>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        seen.lock().unwrap().push(request.clone());
        let (bytes, close) = answer(&request);
        if stream.write_all(&bytes).await.is_err() || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// The response for a request, and whether the connection closes after it.
fn answer(request: &Request) -> (Vec<u8>, bool) {
    let path = request.target.split('?').next().unwrap_or_default();
    let shape = path.rsplit('/').next().unwrap_or_default();
    let date = "Date: Tue, 01 Dec 2026 12:00:00 GMT\r\n";
    let fixed = |status: &str, extra: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\n{date}X-Shape: {shape}\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    match shape {
        "chunked" => (
            format!(
                "HTTP/1.1 200 OK\r\n{date}Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n\
                 5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 11\r\n\r\n"
            )
            .into_bytes(),
            false,
        ),
        "close" => (
            format!("HTTP/1.1 200 OK\r\n{date}Connection: close\r\n\r\nuntil the end").into_bytes(),
            true,
        ),
        "http10" => (
            format!("HTTP/1.0 200 OK\r\n{date}\r\nan HTTP/1.0 body").into_bytes(),
            true,
        ),
        "nocontent" => (
            format!("HTTP/1.1 204 No Content\r\n{date}X-Shape: nocontent\r\n\r\n").into_bytes(),
            false,
        ),
        "notmodified" => (
            format!("HTTP/1.1 304 Not Modified\r\n{date}ETag: \"v1\"\r\n\r\n").into_bytes(),
            false,
        ),
        "early" => {
            let mut out = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n".to_vec();
            out.extend(fixed("200 OK", "", b"after hints"));
            (out, false)
        }
        "continue" => {
            let mut out = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            out.extend(fixed("200 OK", "", b"after continue"));
            (out, false)
        }
        "upgrade" => (
            format!("HTTP/1.1 101 Switching Protocols\r\n{date}Upgrade: websocket\r\nConnection: upgrade\r\n\r\n")
                .into_bytes(),
            true,
        ),
        "big" => {
            let body: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
            (fixed("200 OK", "", &body), false)
        }
        "echo" => (fixed("200 OK", "Content-Type: application/octet-stream\r\n", &request.body), false),
        "nodate" => (
            b"HTTP/1.1 200 OK\r\nX-Shape: nodate\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            false,
        ),
        "error" => (fixed("500 Internal Server Error", "Content-Type: text/plain\r\n", b"it broke"), false),
        "hops" => (
            fixed(
                "200 OK",
                "Connection: keep-alive, X-Hop\r\nX-Hop: private\r\nKeep-Alive: timeout=5\r\nX-Request-Id: the-back-ends\r\n",
                b"hops",
            ),
            false,
        ),
        _ => (
            fixed(
                "200 OK",
                "Content-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nSet-Cookie: s=1; Path=/\r\n",
                b"plain body",
            ),
            false,
        ),
    }
}

/// Reads one request (head and decoded body); `None` when the connection ends first.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let end = loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            break end;
        }
        fill(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut line = lines.next()?.splitn(3, ' ');
    let (method, target, version) = (line.next()?, line.next()?, line.next()?);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(stream, buf).await?
    } else {
        let length: usize = value("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            fill(stream, buf).await?;
        }
        buf.drain(..length).collect()
    };
    Some(Request {
        method: method.into(),
        target: target.into(),
        version: version.into(),
        headers,
        body,
    })
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            fill(stream, buf).await?;
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).to_string();
        buf.drain(..line_end + 2);
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let end = loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        break i;
                    }
                    fill(stream, buf).await?;
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return Some(body);
                }
            }
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
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
