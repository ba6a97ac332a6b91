//! Back-end faults under load, all at once through one gateway: nothing listening, a hang, a
//! reset before and after the response head, a slow body, TLS broken mid-stream, HTTP/2
//! RST_STREAM and GOAWAY. For each: what the caller gets, that only what is safe to repeat is
//! repeated (the back end counts what reached it), that a healthy API beside them is not
//! touched, and that every API answers again once its back end recovers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::support::pki::self_signed_server;
use crate::support::server::{Api, Options, start};

const HEALTHY: u8 = 0;
const HANG: u8 = 1;
const RESET_BEFORE_HEAD: u8 = 2;
const RESET_AFTER_HEAD: u8 = 3;
const SLOW_BODY: u8 = 4;
const GOAWAY: u8 = 5;
const TLS_BROKEN: u8 = 6;

/// A back end whose behaviour can change while it runs.
struct Fault {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Requests that reached it.
    seen: Arc<AtomicUsize>,
    /// POSTs among them.
    posts: Arc<AtomicUsize>,
}

impl Fault {
    fn heal(&self) {
        self.mode.store(HEALTHY, Ordering::SeqCst);
    }
}

fn tls_acceptor(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let ((chain, key), _) = self_signed_server(&["fault.test"]);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn body_of(chunks: Vec<Result<Bytes, std::io::Error>>, gap: Duration) -> Body {
    let stream = futures_stream(chunks, gap);
    StreamBody::new(stream).boxed()
}

/// Chunks `gap` apart; an `Err` ends the body abruptly (h1: the connection is cut; h2: the
/// stream is reset).
fn futures_stream(
    chunks: Vec<Result<Bytes, std::io::Error>>,
    gap: Duration,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for chunk in chunks {
            tokio::time::sleep(gap).await;
            if tx.send(chunk.map(Frame::data)).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream(rx)
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A hyper back end (HTTP/1.1 in clear, or HTTP/2 over TLS) in `mode`.
async fn hyper_fault(mode: u8, h2: bool) -> Fault {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (mode, seen) = (Arc::new(AtomicU8::new(mode)), Arc::new(AtomicUsize::new(0)));
    let posts = Arc::new(AtomicUsize::new(0));
    let acceptor = h2.then(|| tls_acceptor(&[b"h2"]));
    let (m, s, p) = (Arc::clone(&mode), Arc::clone(&seen), Arc::clone(&posts));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (mode, seen, acceptor) = (Arc::clone(&m), Arc::clone(&s), acceptor.clone());
            let posts = Arc::clone(&p);
            tokio::spawn(async move {
                let goaway = Arc::new(tokio::sync::Notify::new());
                let notify = Arc::clone(&goaway);
                let service = service_fn(move |req: Request<Incoming>| {
                    let (mode, seen, notify) = (
                        mode.load(Ordering::SeqCst),
                        Arc::clone(&seen),
                        Arc::clone(&notify),
                    );
                    if req.method() == hyper::Method::POST {
                        posts.fetch_add(1, Ordering::SeqCst);
                    }
                    async move {
                        seen.fetch_add(1, Ordering::SeqCst);
                        let _ = req.into_body().collect().await;
                        let ok = || Ok(Bytes::from_static(b"0123456789"));
                        let (chunks, gap) = match mode {
                            HANG => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                (vec![], Duration::ZERO)
                            }
                            RESET_BEFORE_HEAD => {
                                return Err(std::io::Error::other("reset before the head"));
                            }
                            RESET_AFTER_HEAD => (
                                vec![ok(), Err(std::io::Error::other("cut mid-body"))],
                                Duration::from_millis(5),
                            ),
                            SLOW_BODY => {
                                ((0..5).map(|_| ok()).collect(), Duration::from_millis(100))
                            }
                            GOAWAY => {
                                notify.notify_one();
                                (vec![ok()], Duration::ZERO)
                            }
                            _ => (vec![ok()], Duration::ZERO),
                        };
                        let len =
                            10 * chunks.len().max(1) + usize::from(mode == RESET_AFTER_HEAD) * 990;
                        Ok::<_, std::io::Error>(
                            Response::builder()
                                .header("content-length", len.to_string())
                                .body(body_of(chunks, gap))
                                .unwrap(),
                        )
                    }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let conn = builder.serve_connection(TokioIo::new(tls), service);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            () = goaway.notified() => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    Fault {
        addr,
        mode,
        seen,
        posts,
    }
}

/// A TLS back end (HTTP/1.1) that, when broken, sends the head and part of the body and then
/// bytes that are no TLS record, straight onto the socket: the gateway's TLS layer fails
/// mid-stream.
async fn tls_breaking_fault() -> Fault {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (mode, seen) = (
        Arc::new(AtomicU8::new(TLS_BROKEN)),
        Arc::new(AtomicUsize::new(0)),
    );
    let posts = Arc::new(AtomicUsize::new(0));
    let acceptor = tls_acceptor(&[b"http/1.1"]);
    let (m, s, p) = (Arc::clone(&mode), Arc::clone(&seen), Arc::clone(&posts));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (mode, seen, acceptor) = (Arc::clone(&m), Arc::clone(&s), acceptor.clone());
            let posts = Arc::clone(&p);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request at a time; a POST's body stays unread (the answer breaks first).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    if buf.starts_with(b"POST ") {
                        posts.fetch_add(1, Ordering::SeqCst);
                    }
                    buf.drain(..end);
                    seen.fetch_add(1, Ordering::SeqCst);
                    if mode.load(Ordering::SeqCst) == HEALTHY {
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789")
                            .await;
                        continue;
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
                        .await;
                    let _ = tls.flush().await;
                    // An application-data record header with a body that cannot decrypt.
                    let _ = tls
                        .get_mut()
                        .0
                        .write_all(b"\x17\x03\x03\x00\x20broken-broken-broken-broken-brok")
                        .await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return;
                }
            });
        }
    });
    Fault {
        addr,
        mode,
        seen,
        posts,
    }
}

/// What callers got from `n` requests (`concurrency` at a time): statuses and error codes,
/// with bodies cut short counted as `cut`.
async fn load(
    gateway: &Api,
    method: &str,
    path: &str,
    n: usize,
    concurrency: usize,
) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (gateway, next, path, method) = (
            gateway.clone(),
            Arc::clone(&next),
            path.to_string(),
            method.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::SeqCst) < n {
                let body = if method == "POST" {
                    b"payload".to_vec()
                } else {
                    Vec::new()
                };
                let outcome = match gateway.try_send(&method, &path, body, &[]).await {
                    None => "cut".to_string(),
                    Some(r) if r.status.is_success() => {
                        format!("{} ({} bytes)", r.status.as_u16(), r.body.len())
                    }
                    Some(r) => format!(
                        "{} {}",
                        r.status.as_u16(),
                        r.json()["code"].as_str().unwrap_or("(no code)")
                    ),
                };
                out.push(outcome);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn tally(outcomes: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut t = std::collections::BTreeMap::new();
    for o in outcomes {
        *t.entry(o.clone()).or_insert(0) += 1;
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_fault_at_once_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec!["--backend-timeout".into(), "2".into()];
    let server = start(options);
    let admin = server.api();

    // Nothing listens on this port until the back end "comes back".
    let refused_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let faults = [
        ("healthy", hyper_fault(HEALTHY, false).await, false),
        ("hang", hyper_fault(HANG, false).await, false),
        (
            "reset-before-head",
            hyper_fault(RESET_BEFORE_HEAD, false).await,
            false,
        ),
        (
            "reset-after-head",
            hyper_fault(RESET_AFTER_HEAD, false).await,
            false,
        ),
        ("slow-body", hyper_fault(SLOW_BODY, false).await, false),
        (
            "h2-rst-stream",
            hyper_fault(RESET_BEFORE_HEAD, true).await,
            true,
        ),
        ("h2-goaway", hyper_fault(GOAWAY, true).await, true),
        ("tls-mid-stream", tls_breaking_fault().await, true),
    ];
    let configure = |id: String, url: String, tls: bool| {
        let admin = admin.clone();
        async move {
            let mut backend = json!({"url": url});
            if tls {
                backend["tls"] =
                    json!({"validateCertificateChain": false, "validateCertificateName": false});
            }
            admin
                .put(&format!("/backends/{id}"), &json!({"properties": backend}))
                .await
                .expect(201);
            admin
                .put(
                    &format!("/apis/{id}"),
                    &json!({"properties": {"path": id, "serviceUrl": url}}),
                )
                .await
                .expect(201);
            admin
                .put(
                    &format!("/apis/{id}/operations/all"),
                    &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
                )
                .await
                .expect(201);
            let policy = format!(
                "<policies><inbound><base /><set-backend-service backend-id=\"{id}\" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>"
            );
            admin
                .put(
                    &format!("/apis/{id}/policies/policy"),
                    &json!({"properties": {"format": "rawxml", "value": policy}}),
                )
                .await
                .expect(201);
        }
    };
    for (id, fault, tls) in &faults {
        let scheme = if *tls { "https" } else { "http" };
        configure(
            id.to_string(),
            format!("{scheme}://127.0.0.1:{}", fault.addr.port()),
            *tls,
        )
        .await;
    }
    configure("refused".into(), format!("http://{refused_port}"), false).await;

    // All at once: the healthy API under steady load while every fault is hit.
    let gateway = server.gateway();
    let started = Instant::now();
    let runs = faults
        .iter()
        .map(|(id, _, _)| *id)
        .chain(["refused"])
        .flat_map(|id| {
            let (n, c) = match id {
                "healthy" => (3000, 8),
                "hang" => (16, 8),
                "slow-body" => (40, 8),
                _ => (200, 4),
            };
            let get = {
                let gateway = gateway.clone();
                tokio::spawn(async move {
                    (
                        id,
                        "GET",
                        load(&gateway, "GET", &format!("/{id}/x"), n, c).await,
                    )
                })
            };
            let post = {
                let gateway = gateway.clone();
                let n = match id {
                    "healthy" => 0,
                    "hang" => 4,
                    _ => 20,
                };
                tokio::spawn(async move {
                    (
                        id,
                        "POST",
                        load(&gateway, "POST", &format!("/{id}/x"), n, 2).await,
                    )
                })
            };
            [get, post]
        })
        .collect::<Vec<_>>();
    let mut outcomes = std::collections::BTreeMap::new();
    for run in runs {
        let (id, method, got) = run.await.unwrap();
        if !got.is_empty() {
            outcomes.insert(format!("{id} {method}"), (got.len(), tally(&got)));
        }
    }
    let took = started.elapsed();
    let fault = |id: &str| &faults.iter().find(|(f, _, _)| *f == id).unwrap().1;
    let seen = |id: &str| fault(id).seen.load(Ordering::SeqCst);
    for (key, (n, t)) in &outcomes {
        println!("{key:28} {n:5} requests: {t:?}");
    }
    for (id, fault, _) in &faults {
        println!(
            "{id:28} requests that reached the back end: {}",
            fault.seen.load(Ordering::SeqCst)
        );
    }
    println!("all faults at once: {:.1} s", took.as_secs_f64());

    let only = |key: &str, expected: &str| {
        let (n, t) = &outcomes[key];
        let id = key.split(' ').next().unwrap();
        let log: String = server
            .logs()
            .lines()
            .filter(|l| l.contains(id) && (l.contains("WARN") || l.contains("ERROR")))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(t.get(expected), Some(n), "{key}: {t:?}\n{log}");
    };
    only("healthy GET", "200 (10 bytes)");
    only("hang GET", "504 BackendTimeout");
    only("hang POST", "504 BackendTimeout");
    only("refused GET", "502 BackendConnectionRefused");
    only("refused POST", "502 BackendConnectionRefused");
    only("reset-before-head GET", "502 BackendConnectionClosed");
    only("reset-before-head POST", "502 BackendConnectionClosed");
    only("reset-after-head GET", "cut");
    only("reset-after-head POST", "cut");
    only("slow-body GET", "200 (50 bytes)");
    only("slow-body POST", "200 (50 bytes)");
    only("h2-goaway GET", "200 (10 bytes)");
    only("h2-goaway POST", "200 (10 bytes)");
    only("h2-rst-stream GET", "502 BackendStreamReset");
    only("h2-rst-stream POST", "502 BackendStreamReset");
    // Broken before the head reached the caller: 502 and why; after: the body is cut short,
    // never passed off as whole.
    for key in ["tls-mid-stream GET", "tls-mid-stream POST"] {
        let (_, t) = &outcomes[key];
        assert!(
            t.keys()
                .all(|k| k == "502 BackendTlsStreamBroken" || k == "cut"),
            "{key}: {t:?}"
        );
    }

    // What reached the back ends. A POST never twice: only a request the back end provably
    // did not process goes out again (a stream refused by GOAWAY), and a POST's small body is
    // remembered for that. A GET the back end cut before answering is tried three times in all
    // (it is safe to repeat); one that had begun to answer, never again.
    let posts = |id: &str| fault(id).posts.load(Ordering::SeqCst);
    for (id, _, _) in &faults {
        let expected = match *id {
            "healthy" => 0,
            "hang" => 4,
            _ => 20,
        };
        assert_eq!(posts(id), expected, "POSTs that reached {id}");
    }
    assert_eq!(seen("reset-before-head"), 200 * 3 + 20);
    assert_eq!(seen("reset-after-head"), 200 + 20);
    assert_eq!(seen("tls-mid-stream"), 200 + 20);
    assert_eq!(seen("h2-rst-stream"), 200 + 20);
    assert_eq!(seen("hang"), 16 + 4);
    assert_eq!(seen("slow-body"), 40 + 20);
    assert_eq!(seen("healthy"), 3000);
    // GOAWAY: a GET whose stream a closing connection cut may have been processed, and is
    // safe to repeat; each one reached the back end at most three times.
    assert!(
        (220..=220 + 2 * 200).contains(&seen("h2-goaway")),
        "{}",
        seen("h2-goaway")
    );

    // An idempotent PUT with a body, cut before the answer, is repeated like a GET (RFC 9110
    // §9.2.2; nginx does the same): three times in all, each time with its whole body.
    let before = seen("reset-before-head");
    let puts = load(&gateway, "PUT", "/reset-before-head/x", 20, 2).await;
    assert_eq!(
        tally(&puts).get("502 BackendConnectionClosed"),
        Some(&20),
        "{:?}",
        tally(&puts)
    );
    assert_eq!(seen("reset-before-head") - before, 20 * 3);

    // Recovery: every back end heals (the refused one starts listening); every API answers.
    for (_, fault, _) in &faults {
        fault.heal();
    }
    let back = TcpListener::bind(refused_port).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = back.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n0123456789")
                    .await;
            });
        }
    });
    for (id, _, _) in
        faults
            .iter()
            .map(|(id, f, t)| (*id, f, t))
            .chain([("refused", &faults[0].1, &false)])
    {
        let got = load(&gateway, "GET", &format!("/{id}/x"), 20, 4).await;
        assert_eq!(
            tally(&got).get("200 (10 bytes)"),
            Some(&20),
            "{id} after recovery: {:?}",
            tally(&got)
        );
    }
    let health = admin.get("/health").await.expect(200).json();
    assert_eq!(health["status"], json!("ok"));
}
