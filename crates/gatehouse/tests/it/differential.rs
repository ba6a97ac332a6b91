//! The gateway's own HTTP/1.1 relay against hyper's engine, request for request: two gateways,
//! one on each engine (`--http1-engine`), in front of one recording back end; every request of
//! the table goes through both, and what the back end read and what the client got must be
//! the same, header for header (in any order) and byte for byte of the bodies. Values that
//! differ by nature (request ids, the gateway's own Date) are compared by presence. Where
//! the relay answers differently on purpose, the case says so and checks the relay's answer.

use std::net::SocketAddr;

use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::support::raw::{Message, read_message};
use crate::support::scripted::{self, Request};
use crate::support::server::{Api, Options, Server, start};

/// One case: the bytes a client sends on a new connection, and how many responses it reads
/// (the methods, to know which have no body).
struct Case {
    name: &'static str,
    send: String,
    /// One entry per response: whether it answers a HEAD.
    heads: Vec<bool>,
    /// Where the engines differ on purpose.
    differs: Option<Differs>,
}

/// A deliberate difference, with what the relay's answer must be instead.
struct Differs {
    why: &'static str,
    /// hyper's engine does not answer at all (the case is not sent to it).
    hyper_hangs: bool,
    check: fn(&Message),
}

fn case(name: &'static str, send: impl Into<String>) -> Case {
    Case {
        name,
        send: send.into(),
        heads: vec![false],
        differs: None,
    }
}

const POLICY: &str = r#"<policies>
  <inbound><base />
    <set-header name="X-Added" exists-action="append"><value>one</value><value>two</value></set-header>
    <set-header name="X-Replaced" exists-action="override"><value>by-policy</value></set-header>
    <set-header name="X-Removed" exists-action="delete" />
    <set-header name="X-Default" exists-action="skip"><value>default</value></set-header>
    <set-header name="X-Forwarded-Proto" exists-action="append"><value>extra</value></set-header>
  </inbound>
  <backend><base /></backend>
  <outbound><base />
    <set-header name="X-Served-By" exists-action="override"><value>gatehouse</value></set-header>
    <set-header name="X-Multi" exists-action="append"><value>c</value></set-header>
    <set-header name="Set-Cookie" exists-action="delete" />
  </outbound>
  <on-error><base />
    <set-header name="X-Error-Step" exists-action="override"><value>on-error</value></set-header>
  </on-error>
</policies>"#;

async fn configure(api: &Api, backend: SocketAddr) {
    for (id, url) in [
        ("d", format!("http://127.0.0.1:{}/base", backend.port())),
        ("down", "http://127.0.0.1:9/gone".to_string()),
    ] {
        api.put(
            &format!("/apis/{id}"),
            &json!({"properties": {"path": id, "serviceUrl": url}}),
        )
        .await
        .expect(201);
        api.put(
            &format!("/apis/{id}/operations/all"),
            &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
        )
        .await
        .expect(201);
        let reply = api
            .put(
                &format!("/apis/{id}/policies/policy"),
                &json!({"properties": {"value": POLICY}}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{}", reply.text());
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: differential\r\n{extra}\r\n")
}

fn cases() -> Vec<Case> {
    let mut table = vec![
        case(
            "plain_get_with_headers",
            get(
                "/d/plain?x=1&y=%20z",
                "Accept: */*\r\nX-Custom: a\r\nX-Custom: b\r\nCookie: c=1\r\nX-Replaced: caller\r\nX-Removed: caller\r\nX-Default: caller\r\n",
            ),
        ),
        case("policy_defaults_apply", get("/d/plain", "")),
        case(
            "post_with_length",
            "POST /d/echo HTTP/1.1\r\nHost: gw.example\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
        ),
        case(
            "post_chunked_with_extension_and_trailer",
            "POST /d/echo HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        ),
        case(
            "post_empty_with_length_zero",
            "POST /d/echo HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 0\r\n\r\n",
        ),
        case(
            "put_large_body",
            format!(
                "PUT /d/echo HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 200000\r\n\r\n{}",
                "x".repeat(200_000)
            ),
        ),
        case("response_chunked_with_trailers", get("/d/chunked", "")),
        case("response_204", get("/d/nocontent", "")),
        case(
            "response_304",
            get("/d/notmodified", "If-None-Match: \"v1\"\r\n"),
        ),
        case("response_after_103", get("/d/early", "")),
        case("response_after_100", get("/d/continue", "")),
        case("response_large", get("/d/big", "")),
        case("response_without_date", get("/d/nodate", "")),
        case("response_500_from_the_back_end", get("/d/error", "")),
        case("response_hop_by_hop_fields", get("/d/hops", "")),
        case(
            "hop_by_hop_request_fields",
            get(
                "/d/plain",
                "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\n",
            ),
        ),
        case(
            "forwarding_fields_from_an_untrusted_caller",
            get(
                "/d/plain",
                "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX-Real-IP: 1.2.3.4\r\nForwarded: for=evil\r\n",
            ),
        ),
        case(
            "absolute_form_target",
            "GET http://Other.Example:8080/d/plain?q HTTP/1.1\r\nHost: gw.example\r\n\r\n",
        ),
        case("dot_segments", get("/d/a/./b/../plain", "")),
        case("encoded_path", get("/d/caf%C3%A9/%7Euser/plain", "")),
        case(
            "trace_header_without_the_key",
            get(
                "/d/plain",
                "X-Gatehouse-Trace: guess\r\nX-Request-Id: caller\r\n",
            ),
        ),
        case("route_not_found", get("/nowhere", "")),
        case("back_end_down", get("/down/x", "")),
        case("status_path", get("/status-0123456789abcdef", "")),
        case("connection_close", get("/d/plain", "Connection: close\r\n")),
        case(
            "http10_request",
            "GET /d/plain HTTP/1.0\r\nHost: gw.example\r\n\r\n",
        ),
        case(
            "expect_100_continue_with_body",
            "POST /d/echo HTTP/1.1\r\nHost: gw.example\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
        ),
        case("path_traversal_refused", get("/d/../../etc", "")),
    ];
    let mut head = case(
        "head_request",
        "HEAD /d/plain HTTP/1.1\r\nHost: gw.example\r\n\r\n",
    );
    head.heads = vec![true];
    table.push(head);
    let mut pipelined = case(
        "pipelined_requests",
        format!(
            "{}{}HEAD /d/big HTTP/1.1\r\nHost: gw.example\r\n\r\n{}",
            get("/d/plain", ""),
            "POST /d/echo HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 3\r\n\r\nabc",
            get("/d/chunked", "")
        ),
    );
    pipelined.heads = vec![false, false, true, false];
    table.push(pipelined);
    // A close-delimited back-end body: hyper re-frames it as chunked and keeps the caller's
    // connection; the relay passes it close-delimited and closes. Same status, fields and
    // body bytes.
    for (name, path) in [
        ("response_close_delimited", "/d/close"),
        ("response_http10", "/d/http10"),
    ] {
        let mut c = case(name, get(path, ""));
        c.differs = Some(Differs {
            why: "a close-delimited body stays close-delimited (hyper: chunked)",
            hyper_hangs: false,
            check: |m| {
                assert!(m.close_delimited, "{m:?}");
                assert!(
                    m.headers.contains(&("connection".into(), "close".into())),
                    "{m:?}"
                );
            },
        });
        table.push(c);
    }
    // A 101 the request did not ask for (the gateway never forwards Upgrade): hyper's client
    // waits for the upgrade and the caller hangs until the back-end timeout; the relay
    // answers 502 at once, as the hyper path meant to.
    let mut upgrade = case("upgrade_answer_is_refused", get("/d/upgrade", ""));
    upgrade.differs = Some(Differs {
        why: "an unasked-for 101 gets 502 (hyper: no answer until the back-end timeout)",
        hyper_hangs: true,
        check: |m| {
            assert_eq!(m.status, 502, "{m:?}");
            assert!(
                m.headers.contains(&("content-length".into(), "0".into())),
                "{m:?}"
            );
        },
    });
    table.push(upgrade);
    table
}

/// Sends a case on a new connection; the responses and what the back end read meanwhile.
async fn run(
    gateway: SocketAddr,
    backend: &scripted::Scripted,
    case: &Case,
) -> (Vec<Message>, Vec<Request>) {
    let before = backend.seen().len();
    let mut s = TcpStream::connect(gateway).await.unwrap();
    s.write_all(case.send.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    for head in &case.heads {
        let message = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            read_message(&mut s, &mut buf, *head),
        )
        .await;
        let Ok(message) = message else {
            panic!(
                "{} via {gateway}: no answer within 10 s; got {:?} after {answers:?}",
                case.name,
                String::from_utf8_lossy(&buf)
            );
        };
        match message {
            Some(m) => answers.push(m),
            None => break,
        }
    }
    (answers, backend.seen()[before..].to_vec())
}

/// What must be equal: fields sorted, values that differ by nature replaced by a marker.
fn client_view(m: &Message, ignore_framing: bool) -> (u16, Vec<(String, String)>, String) {
    // The gateway's JSON answers quote the request id.
    let mut body = String::from_utf8_lossy(&m.body).to_string();
    if let Some((_, id)) = m.headers.iter().find(|(n, _)| n == "x-request-id") {
        body = body.replace(id.as_str(), "<request id>");
    }
    let mut headers: Vec<(String, String)> = m
        .headers
        .iter()
        .filter(|(n, _)| {
            !(ignore_framing
                && matches!(
                    n.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ))
        })
        .map(|(n, v)| match n.as_str() {
            "x-request-id" | "date" => (n.clone(), "<varies>".into()),
            _ => (n.clone(), v.clone()),
        })
        .collect();
    headers.sort();
    (m.status, headers, body)
}

fn backend_view(r: &Request) -> Request {
    let mut r = r.clone();
    for (n, v) in &mut r.headers {
        if n == "x-request-id" {
            *v = "<varies>".into();
        }
    }
    r.headers.sort();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_http1_engines_answer_alike() {
    let backend = scripted::start().await;
    let (dir_h, dir_g) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut options = Options::new(dir_h.path());
    options.args = vec!["--http1-engine".into(), "hyper".into()];
    let hyper: Server = start(options);
    let own: Server = start(Options::new(dir_g.path()));
    configure(&hyper.api(), backend.addr).await;
    configure(&own.api(), backend.addr).await;

    let mut differences = Vec::new();
    let table = cases();
    for case in &table {
        if let Some(differs) = case.differs.as_ref().filter(|d| d.hyper_hangs) {
            let (answers, seen) = run(own.gateway, &backend, case).await;
            assert_eq!(answers.len(), 1, "{}", case.name);
            (differs.check)(&answers[0]);
            assert_eq!(seen.len(), 1, "{}", case.name);
            eprintln!("{}: differs on purpose: {}", case.name, differs.why);
            continue;
        }
        let (h_answers, h_seen) = run(hyper.gateway, &backend, case).await;
        let (g_answers, g_seen) = run(own.gateway, &backend, case).await;
        assert_eq!(
            h_answers.len(),
            case.heads.len(),
            "{}: hyper answered {h_answers:?}",
            case.name
        );
        if let Some(differs) = &case.differs {
            for m in &g_answers {
                (differs.check)(m);
            }
            eprintln!("{}: differs on purpose: {}", case.name, differs.why);
        }
        let ignore_framing = case.differs.is_some();
        let h: Vec<_> = h_answers
            .iter()
            .map(|m| client_view(m, ignore_framing))
            .collect();
        let g: Vec<_> = g_answers
            .iter()
            .map(|m| client_view(m, ignore_framing))
            .collect();
        if h != g {
            differences.push(format!(
                "{}: the client saw\n  hyper:     {h:?}\n  gatehouse: {g:?}",
                case.name
            ));
        }
        let h: Vec<_> = h_seen.iter().map(backend_view).collect();
        let g: Vec<_> = g_seen.iter().map(backend_view).collect();
        if h != g {
            differences.push(format!(
                "{}: the back end read\n  hyper:     {h:?}\n  gatehouse: {g:?}",
                case.name
            ));
        }
        // Every request id is the gateway's own, once.
        for r in h_seen.iter().chain(&g_seen) {
            let ids: Vec<_> = r
                .headers
                .iter()
                .filter(|(n, _)| n == "x-request-id")
                .collect();
            assert_eq!(ids.len(), 1, "{}: {r:?}", case.name);
            assert_ne!(ids[0].1, "caller", "{}", case.name);
        }
    }
    // The relay keeps back-end connections as hyper does: a stream of calls on one client
    // connection uses one pooled connection.
    let before = backend.connections();
    let mut s = TcpStream::connect(own.gateway).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..50 {
        s.write_all(get("/d/plain", "").as_bytes()).await.unwrap();
        let m = read_message(&mut s, &mut buf, false).await.unwrap();
        assert_eq!(m.status, 200);
    }
    assert!(
        backend.connections() - before <= 1,
        "{} new back-end connections for 50 calls",
        backend.connections() - before
    );
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        table.len(),
        differences.join("\n")
    );
}
