//! The client side of the gateway under abuse: slow and silent clients, connection caps,
//! paths that try to leave an API's base, and hop-by-hop headers.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::support::backend::{self, Mode};
use crate::support::raw::{closed_within, exchange, read_response};
use crate::support::server::{Options, Server, start};
use crate::support::setup::{base, echo_api};

/// A server with `args`, and API `echo` in front of a cleartext echo back end at
/// `service_path`.
async fn serve_echo(
    args: &[&str],
    service_path: &str,
) -> (Server, backend::Backend, tempfile::TempDir) {
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = args.iter().map(|a| (*a).to_string()).collect();
    let server = start(options);
    echo_api(
        &server.api(),
        &format!("{}{service_path}", base(&backend, "127.0.0.1", "http")),
    )
    .await;
    (server, backend, dir)
}

async fn metric(server: &Server, name: &str) -> u64 {
    let text = server.api().get("/metrics").await.expect(200).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// A regression: a partial head made an idle connection park and replay its bytes into a
/// fresh parser every few ticks, which restarted the header timeout, so a client could hold
/// a connection for ever with a few bytes, or with one header line every ten seconds.
#[tokio::test]
async fn slow_request_heads_are_cut_off_at_the_header_timeout() {
    let (server, backend, _dir) = serve_echo(&["--header-timeout", "2"], "").await;
    let bound = Duration::from_secs(8);

    // Part of a head, then silence.
    let mut silent = TcpStream::connect(server.gateway).await.unwrap();
    silent
        .write_all(b"GET /echo/x HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // One header line every half second: bytes keep coming, the deadline does not move.
    let mut dribble = TcpStream::connect(server.gateway).await.unwrap();
    dribble
        .write_all(b"GET /echo/x HTTP/1.1\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = dribble.into_split();
    let dribbler = tokio::spawn(async move {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer
                .write_all(format!("X-Line-{i}: {i}\r\n").as_bytes())
                .await
                .is_err()
            {
                return i;
            }
        }
        40
    });
    // A new connection that never says anything.
    let mut mute = TcpStream::connect(server.gateway).await.unwrap();

    let ended = closed_within(&mut silent, bound)
        .await
        .expect("partial head still open");
    assert!(ended.after >= Duration::from_millis(1500), "{ended:?}");
    assert!(
        String::from_utf8_lossy(&ended.sent).starts_with("HTTP/1.1 408"),
        "{ended:?}"
    );
    let mut sent = Vec::new();
    let closed = tokio::time::timeout(bound, async {
        use tokio::io::AsyncReadExt as _;
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => sent.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a head dribbled line by line is still open");
    assert!(
        String::from_utf8_lossy(&sent).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    let lines_sent = dribbler.await.unwrap();
    assert!(lines_sent < 12, "{lines_sent} header lines were accepted");
    closed_within(&mut mute, bound)
        .await
        .expect("a silent new connection is still open");
    assert!(metric(&server, "gatehouse_client_header_timeouts_total").await >= 3);
    assert!(
        backend.seen().is_empty(),
        "no partial request reached the back end"
    );

    // The header timeout is not an idle timeout: a keep-alive connection may rest longer
    // between requests, and a head that arrives in pieces in time is served.
    let mut s = TcpStream::connect(server.gateway).await.unwrap();
    s.write_all(b"GET /echo/one HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.write_all(b"GET /echo/two HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.write_all(b"Host: a\r\n\r\n").await.unwrap();
    let response = read_response(&mut s).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn idle_keep_alive_connections_close_at_the_keep_alive_timeout() {
    let (server, _backend, _dir) = serve_echo(&["--keep-alive-timeout", "2"], "").await;
    let mut s = TcpStream::connect(server.gateway).await.unwrap();
    s.write_all(b"GET /echo/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let ended = closed_within(&mut s, Duration::from_secs(10))
        .await
        .expect("an idle connection outlived the keep-alive timeout");
    assert!(ended.after >= Duration::from_millis(1500), "{ended:?}");
    assert!(metric(&server, "gatehouse_client_idle_closes_total").await >= 1);
}

/// A regression: a client sending a prefix of the HTTP/2 preface made the gateway poll its
/// socket every millisecond for up to 75 s (20 such sockets cost 6% of a core), and an HTTP/2
/// connection that went quiet after its SETTINGS stayed open for ever.
#[tokio::test]
async fn http2_prefaces_and_idle_http2_connections_cost_nothing_and_end() {
    let (server, _backend, _dir) =
        serve_echo(&["--header-timeout", "6", "--keep-alive-timeout", "2"], "").await;
    let mut prefixes = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(server.gateway).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        prefixes.push(s);
    }
    // Let them settle, then measure what 50 waiting sockets cost over three seconds. At one
    // poll per socket per millisecond this was about 45 ticks (0.45 s of CPU).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spent = server.cpu_ticks() - before;
    assert!(
        spent <= 10,
        "50 waiting prefaces cost {spent} ticks of CPU in 3 s"
    );
    for s in &mut prefixes {
        closed_within(s, Duration::from_secs(10))
            .await
            .expect("a preface prefix outlived the header timeout");
    }

    // A whole preface and an empty SETTINGS frame, then silence.
    let mut h2 = TcpStream::connect(server.gateway).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let ended = closed_within(&mut h2, Duration::from_secs(10))
        .await
        .expect("an idle HTTP/2 connection outlived the keep-alive timeout");
    assert!(ended.after >= Duration::from_millis(1500), "{ended:?}");
    // Frames: 9-byte headers; a GOAWAY (type 7) said goodbye.
    let mut frames = &ended.sent[..];
    let mut goaway = false;
    while frames.len() >= 9 {
        let len =
            usize::from(frames[0]) << 16 | usize::from(frames[1]) << 8 | usize::from(frames[2]);
        goaway |= frames[3] == 7;
        frames = &frames[(9 + len).min(frames.len())..];
    }
    assert!(goaway, "no GOAWAY in {:?}", ended.sent);
}

#[tokio::test]
async fn max_connections_makes_new_clients_wait_for_a_free_slot() {
    let (server, _backend, _dir) = serve_echo(&["--max-connections", "2"], "").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.gateway).await.unwrap();
        s.write_all(b"GET /echo/x HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    // The third connects (the kernel's backlog takes it) but is not served...
    let mut third = TcpStream::connect(server.gateway).await.unwrap();
    third
        .write_all(b"GET /echo/third HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_secs(1), read_response(&mut third)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    // ...until a slot frees.
    drop(held.pop());
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut third))
        .await
        .expect("the waiting client was never served");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(metric(&server, "gatehouse_client_connection_limit_waits_total").await >= 1);
}

/// A regression: dot segments and doubled slashes reached the back end as sent, escaping the
/// service URL's base path on a shared host with the API's credentials attached.
#[tokio::test]
async fn paths_are_normalised_before_routing_and_never_leave_the_base_path() {
    let (server, backend, _dir) = serve_echo(&[], "/tenantA").await;
    let api = server.api();
    api.put(
        "/apis/other",
        &json!({"properties": {"path": "other", "serviceUrl": base(&backend, "127.0.0.1", "http")}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/other/operations/all",
        &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
    )
    .await
    .expect(201);
    for (sent, arrives) in [
        ("/echo/a/../tenantB/secret", "/tenantA/tenantB/secret"),
        ("/echo/a/%2e%2e/x", "/tenantA/x"),
        ("/echo/a/%2E%2e/%2e/x", "/tenantA/x"),
        ("/echo/a//x", "/tenantA/a/x"),
        ("/echo/items/..", "/tenantA/"),
        ("/echo/a/./b?q=../y", "/tenantA/a/b?q=../y"),
        ("/echo/%7Euser", "/tenantA/~user"),
        // Leaving the API's path is routing, not escaping: it lands on the other API, whose
        // service URL has no base path.
        ("/echo/../other/z", "/z"),
    ] {
        let response = exchange(
            server.gateway,
            &format!("GET {sent} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{sent}: {response}");
        assert_eq!(backend.last().uri, arrives, "{sent}");
    }
    let reached = backend.seen().len();
    for refused in [
        "/echo/../../etc/passwd",
        "/echo/%2e%2e/%2e%2e/x",
        "/echo/a%2Fb",
        "/echo/a%5c..%5cb",
        "/echo/a%00",
        "/echo/a%zz",
    ] {
        let response = exchange(
            server.gateway,
            &format!("GET {refused} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{refused}: {response}"
        );
        assert!(response.contains("\"InvalidRequestPath\""), "{response}");
    }
    assert_eq!(
        backend.seen().len(),
        reached,
        "a refused path reached the back end"
    );
}

/// A regression: only the first `Connection` header was honoured, so a hop-by-hop header
/// named in a second one was forwarded.
#[tokio::test]
async fn every_connection_header_names_hop_by_hop_headers() {
    let (server, backend, _dir) = serve_echo(&[], "").await;
    let response = exchange(
        server.gateway,
        "GET /echo/x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\
         Connection: x-second, X-Third\r\nX-Second: s\r\nX-Third: t\r\nX-Kept: k\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = backend.last();
    assert_eq!(seen.headers.get("x-kept").map(String::as_str), Some("k"));
    assert!(!seen.headers.contains_key("x-second"), "{:?}", seen.headers);
    assert!(!seen.headers.contains_key("x-third"), "{:?}", seen.headers);
    assert!(
        !seen.headers.contains_key("connection"),
        "{:?}",
        seen.headers
    );
}

/// The Host rules of RFC 9112 §3.2, which hyper leaves to the gateway: an HTTP/1.1 request
/// without Host, with two, or with one that is no `host[:port]` (or a target with userinfo) is
/// refused before anything is forwarded, and its connection closed; an absolute-form target's
/// authority is the host the back end is told about, whatever Host says (§3.2.2).
#[tokio::test]
async fn hosts_are_checked_and_an_absolute_target_names_the_host() {
    let (server, backend, _dir) = serve_echo(&[], "").await;
    for request in [
        "GET /echo/x HTTP/1.1\r\n\r\n",
        "GET /echo/x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "GET /echo/x HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET /echo/x HTTP/1.0\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
        "GET http://user@a.example/echo/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(server.gateway).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let ended = closed_within(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{request:?}: the connection stayed open"));
        let response = String::from_utf8_lossy(&ended.sent);
        assert!(response.contains(" 400 "), "{request:?}: {response}");
        assert!(response.contains("\"InvalidHost\""), "{response}");
    }
    assert!(
        backend.seen().is_empty(),
        "a refused request reached the back end"
    );

    let response = exchange(
        server.gateway,
        "GET http://target.example/echo/x HTTP/1.1\r\nHost: other.example\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(backend.last().headers["x-forwarded-host"], "target.example");
    // HTTP/1.0 may go without Host.
    let response = exchange(server.gateway, "GET /echo/x HTTP/1.0\r\n\r\n").await;
    assert!(response.contains(" 200 "), "{response}");
}

/// A regression: a chunked body that turned out malformed after its head was forwarded was
/// answered 502 BackendConnectionClosed, blaming the back end for the caller's bytes. It is
/// the caller's 400, and the connection closes (the rest of its stream cannot be trusted).
#[tokio::test]
async fn a_malformed_chunked_body_is_the_callers_400() {
    let (server, _backend, _dir) = serve_echo(&[], "").await;
    for body in [
        "5\r\nhello\r\nGET /echo/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        "3\r\nhello\r\n0\r\n\r\n",
        "zz\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(server.gateway).await.unwrap();
        s.write_all(
            format!("POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                .as_bytes(),
        )
        .await
        .unwrap();
        let ended = closed_within(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{body:?}: the connection stayed open"));
        let response = String::from_utf8_lossy(&ended.sent);
        assert!(response.starts_with("HTTP/1.1 400"), "{body:?}: {response}");
        assert!(response.contains("\"InvalidRequestBody\""), "{response}");
        assert_eq!(response.matches("HTTP/1.1").count(), 1, "{response}");
    }
}

/// The head limits, set low: the request line, the header fields' size and count, over
/// HTTP/1.1 and HTTP/2; and the streams an HTTP/2 client may open.
#[tokio::test]
async fn request_heads_past_their_limits_are_refused() {
    let (server, backend, _dir) = serve_echo(
        &[
            "--max-request-line",
            "1024",
            "--max-header-bytes",
            "4096",
            "--max-headers",
            "20",
            "--h2-max-streams",
            "7",
        ],
        "",
    )
    .await;
    let get = |target: String, headers: String| {
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n{headers}Connection: close\r\n\r\n")
    };
    let cases = [
        (
            get(format!("/echo/{}", "a".repeat(900)), String::new()),
            "200",
        ),
        (
            get(format!("/echo/{}", "a".repeat(2000)), String::new()),
            "414",
        ),
        (
            get(format!("/echo/{}", "a".repeat(200_000)), String::new()),
            "414",
        ),
        (
            get("/echo/x".into(), format!("X-Big: {}\r\n", "b".repeat(6000))),
            "431",
        ),
        (get("/echo/x".into(), "X-H: 1\r\n".repeat(30)), "431"),
        (get("/echo/x".into(), "X-H: 1\r\n".repeat(10)), "200"),
    ];
    let reached = backend.seen().len();
    for (request, status) in &cases {
        let response = exchange(server.gateway, request).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{status} for {}...: {response}",
            &request[..60]
        );
    }
    assert_eq!(
        backend.seen().len(),
        reached + 2,
        "only the good requests went on"
    );

    // HTTP/2 (prior knowledge): the target and the header list are bounded alike.
    let gateway = server.gateway;
    let h2 = move |path: String, extra: &[&str]| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--http2-prior-knowledge",
        ]);
        for h in extra {
            cmd.args(["-H", h]);
        }
        cmd.arg(format!("http://{gateway}{path}"));
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let big = format!("X-Big: {}", "b".repeat(6000));
    let (ok, long, large) = tokio::task::spawn_blocking(move || {
        (
            h2("/echo/x".into(), &[]),
            h2(format!("/echo/{}", "a".repeat(2000)), &[]),
            h2("/echo/x".into(), &[&big]),
        )
    })
    .await
    .unwrap();
    assert_eq!(ok, "200");
    assert_eq!(long, "414");
    assert_eq!(large, "431");

    // The stream limit is what the gateway's SETTINGS announce.
    let mut s = TcpStream::connect(server.gateway).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    use tokio::io::AsyncReadExt as _;
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[3], 4, "the first frame is SETTINGS");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    let streams = payload
        .chunks(6)
        .find(|p| u16::from_be_bytes([p[0], p[1]]) == 3)
        .map(|p| u32::from_be_bytes([p[2], p[3], p[4], p[5]]));
    assert_eq!(streams, Some(7), "SETTINGS_MAX_CONCURRENT_STREAMS");
}

/// A regression guard for the body timeout: a caller that stops sending its body is answered
/// 408 and the back end gets no complete request.
#[tokio::test]
async fn a_request_body_that_stops_arriving_gets_408() {
    let (server, backend, _dir) = serve_echo(&["--body-timeout", "2"], "").await;
    let before = backend.seen().len();
    let mut s = TcpStream::connect(server.gateway).await.unwrap();
    s.write_all(b"POST /echo/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(15), read_response(&mut s))
        .await
        .expect("no answer to a stalled body");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("RequestBodyTimeout"), "{response}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // The body is streamed, so the back end may have seen the head arrive (at most that one
    // request); its connection was cut inside the body.
    assert!(backend.seen().len() <= before + 1);
}

/// Forwarding headers from a caller are believed only from a trusted proxy.
#[tokio::test]
async fn forwarding_headers_are_believed_only_from_trusted_proxies() {
    let (server, backend, _dir) =
        serve_echo(&["--trusted-proxies", "127.0.0.2/32, 10.0.0.0/8"], "").await;
    let forged = "GET /echo/x HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\
                  X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-Proto: https\r\n\
                  X-Forwarded-Host: public.example\r\nX-Real-IP: 198.51.100.9\r\n\
                  Forwarded: for=198.51.100.9;proto=https\r\n\r\n";
    // From an untrusted peer (127.0.0.1): replaced, except X-Forwarded-For, appended to.
    let response = crate::support::server::raw_http(server.gateway, None, forged).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = backend.last();
    assert_eq!(seen.headers["x-forwarded-for"], "198.51.100.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "api.example");
    assert_eq!(seen.headers["x-real-ip"], "127.0.0.1");
    assert_eq!(
        seen.headers["forwarded"],
        "for=127.0.0.1;proto=http;host=\"api.example\""
    );
    // From a trusted proxy (127.0.0.2): believed, and the gateway's hop added.
    let local = Some("127.0.0.2".parse().unwrap());
    let response = crate::support::server::raw_http(server.gateway, local, forged).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = backend.last();
    assert_eq!(seen.headers["x-forwarded-for"], "198.51.100.9, 127.0.0.2");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-host"], "public.example");
    assert_eq!(seen.headers["x-real-ip"], "198.51.100.9");
    // The back end's record keeps the last Forwarded field: the gateway's own hop.
    assert_eq!(
        seen.headers["forwarded"],
        "for=127.0.0.2;proto=http;host=\"api.example\""
    );
}
