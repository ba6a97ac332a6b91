use super::*;
use crate::relay::head::{Parsed, parse_request, parse_response};
use gatehouse_model::snapshot::{ExistsAction, HeaderOp};
use http::{HeaderName, HeaderValue};

fn op(name: &'static str, action: ExistsAction, values: &[&'static str]) -> HeaderOp {
    HeaderOp {
        name: HeaderName::from_static(name),
        action,
        values: values.iter().map(|v| HeaderValue::from_static(v)).collect(),
    }
}

fn request(text: &str) -> (RequestHead, Vec<u8>) {
    let mut buf = text.as_bytes().to_vec();
    let mut head = RequestHead::default();
    assert!(matches!(
        parse_request(&mut buf, &mut head, 100),
        Ok(Parsed::Complete)
    ));
    (head, buf)
}

/// The header lines of a head, lower-cased names, in order.
fn lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .skip(1)
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            format!("{}: {v}", n.to_ascii_lowercase())
        })
        .collect()
}

#[test]
fn back_end_heads_carry_the_callers_fields_the_steps_and_the_gateways_own() {
    let (head, buf) = request(
        "POST /api/items?x=1 HTTP/1.1\r\nHost: gw.example\r\nConnection: keep-alive, X-Private\r\n\
         X-Private: 1\r\nKeep-Alive: 5\r\nX-Keep: a\r\nX-Gone: b\r\nX-Request-Id: forged\r\n\
         X-Forwarded-For: 198.51.100.7\r\nX-Gatehouse-Trace: k\r\nContent-Length: 3\r\n\r\nabc",
    );
    let program = Program::compile_except(
        &[
            op("x-gone", ExistsAction::Delete, &[]),
            op("x-added", ExistsAction::Append, &["1", "2"]),
            op("x-forwarded-proto", ExistsAction::Override, &["https"]),
        ],
        |_| false,
    )
    .unwrap();
    let client = forwarded::Client::new("192.0.2.1".parse().unwrap(), &[]);
    let mut out = Vec::new();
    request_head(
        &mut out,
        &buf,
        &head,
        &RequestParts {
            path: &[b"/base", b"/items"],
            query: Some(b"x=1"),
            program: &program,
            client: &client,
            proto: "http",
            caller: None,
            caller_headers: &[],
            request_id: b"0123",
            host: b"backend:8443",
        },
    );
    assert!(
        out.starts_with(b"POST /base/items?x=1 HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let lines = lines(&out);
    for expected in [
        "x-keep: a",
        "x-added: 1",
        "x-added: 2",
        "x-forwarded-proto: https",
        "x-forwarded-for: 198.51.100.7, 192.0.2.1",
        "x-real-ip: 192.0.2.1",
        "forwarded: for=192.0.2.1;proto=http;host=\"gw.example\"",
        "x-forwarded-host: gw.example",
        "x-request-id: 0123",
        "host: backend:8443",
        "content-length: 3",
    ] {
        assert_eq!(
            lines.iter().filter(|l| *l == expected).count(),
            1,
            "{expected} in {lines:#?}"
        );
    }
    for gone in [
        "connection",
        "x-private",
        "keep-alive",
        "x-gone",
        "x-gatehouse-trace",
    ] {
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{gone}:"))),
            "{gone} in {lines:#?}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("x-request-id"))
            .count(),
        1
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("x-forwarded-proto"))
            .count(),
        1
    );
}

#[test]
fn steps_on_a_repeated_forwarding_header_append_once() {
    // A trusted proxy's two Forwarded elements and the gateway's own are three lines; a step
    // appending to Forwarded adds its value once, not once per line.
    let (head, buf) =
        request("GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=a\r\nForwarded: for=b\r\n\r\n");
    let program =
        Program::compile_except(&[op("forwarded", ExistsAction::Append, &["for=x"])], |_| {
            false
        })
        .unwrap();
    let trusted = ["192.0.2.0/24".parse().unwrap()];
    let client = forwarded::Client::new("192.0.2.1".parse().unwrap(), &trusted);
    let mut out = Vec::new();
    request_head(
        &mut out,
        &buf,
        &head,
        &RequestParts {
            path: &[b"/"],
            query: None,
            program: &program,
            client: &client,
            proto: "http",
            caller: None,
            caller_headers: &[],
            request_id: b"1",
            host: b"b",
        },
    );
    let forwarded: Vec<String> = lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("forwarded:"))
        .collect();
    assert_eq!(
        forwarded,
        [
            "forwarded: for=a",
            "forwarded: for=b",
            "forwarded: for=192.0.2.1;proto=http;host=\"h\"",
            "forwarded: for=x"
        ]
    );
}

#[test]
fn response_heads_drop_hop_by_hop_fields_and_say_how_the_body_ends() {
    let text = "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nX-Request-Id: theirs\r\n\
                Transfer-Encoding: chunked\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\nX-Up: 1\r\n\r\n";
    let mut head = ResponseHead::default();
    assert!(matches!(
        parse_response(text.as_bytes(), &mut head, false, 100),
        Ok(Parsed::Complete)
    ));
    let program =
        Program::compile_except(&[op("x-up", ExistsAction::Override, &["2"])], |_| false).unwrap();
    let mut out = Vec::new();
    response_head(&mut out, text.as_bytes(), &head, &program, b"ours", false);
    let got = lines(&out);
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(
        got,
        [
            "date: Tue, 01 Dec 2026 00:00:00 GMT",
            "x-up: 2",
            "x-request-id: ours",
            "transfer-encoding: chunked"
        ]
    );
    // A HEAD response keeps its length; a response without Date gets one.
    let text = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
    assert!(matches!(
        parse_response(text.as_bytes(), &mut head, true, 100),
        Ok(Parsed::Complete)
    ));
    out.clear();
    response_head(
        &mut out,
        text.as_bytes(),
        &head,
        &Program::default(),
        b"i",
        true,
    );
    let got = lines(&out);
    assert!(got.contains(&"content-length: 42".to_string()), "{got:?}");
    assert!(got.contains(&"connection: close".to_string()), "{got:?}");
    assert!(
        got.iter()
            .any(|l| l.starts_with("date: ") && l.ends_with(" GMT")),
        "{got:?}"
    );
}

#[test]
fn failures_are_the_json_answer_with_the_error_steps() {
    let failure = Failure::new(
        crate::error::Kind::BackendTimeout,
        "detail stays in the log",
    );
    let program = Program::compile_except(
        &[
            op(
                "content-type",
                ExistsAction::Override,
                &["application/problem+json"],
            ),
            op("x-error", ExistsAction::Skip, &["yes"]),
        ],
        |_| false,
    )
    .unwrap();
    let mut out = Vec::new();
    super::failure(&mut out, &failure, b"abc", &program, true);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"),
        "{text}"
    );
    let lines = lines(&out);
    assert!(lines.contains(&"content-type: application/problem+json".to_string()));
    assert!(!lines.contains(&"content-type: application/json".to_string()));
    assert!(lines.contains(&"x-error: yes".to_string()));
    assert!(lines.contains(&"connection: close".to_string()));
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    assert!(lines.contains(&format!("content-length: {}", body.len())));
    assert_eq!(
        body,
        r#"{"statusCode":504,"code":"BackendTimeout","message":"the back end did not answer in time","requestId":"abc"}"#
    );
}

#[test]
fn numbers_are_written_without_formatting() {
    assert_eq!(itoa(0, &mut [0; 20]), b"0");
    assert_eq!(itoa(1234567890, &mut [0; 20]), b"1234567890");
    assert_eq!(
        itoa(u64::MAX, &mut [0; 20]),
        u64::MAX.to_string().as_bytes()
    );
}
