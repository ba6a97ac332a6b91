//! The test console: sends a request through the gateway, as a client would, and shows the
//! response beside the gateway's own record of the call (which client certificate it
//! presented to the back end, which back end, why it failed).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::apis::{api_rows, operation_rows};
use super::{ErrorView, Signed, error_at, nav, one, render};
use crate::AppState;

/// Body bytes the console shows; the rest is counted, not shown.
const SHOWN_BODY: usize = 64 * 1024;
/// The header that asks the gateway to record the call.
const TRACE: HeaderName = HeaderName::from_static("x-gatehouse-trace");
/// How long the console waits for the gateway.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An operation the console offers: (value, label, method, path).
struct Target {
    value: String,
    label: String,
    method: String,
    path: String,
    selected: bool,
}

/// The operations of one API.
struct Group {
    api: String,
    targets: Vec<Target>,
}

#[derive(Template)]
#[template(path = "console.html")]
struct ConsolePage {
    csrf: String,
    nav: Vec<(&'static str, &'static str, bool)>,
    groups: Vec<Group>,
    method: String,
    path: String,
    gateway: Option<String>,
    error: Option<ErrorView>,
}

/// `GET /ui/console?api=`: the form, with the API's first operation picked.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let wanted = query.get("api").map(String::as_str).unwrap_or_default();
    let mut groups = Vec::new();
    let mut error = None;
    let mut picked: Option<(String, String)> = None;
    match api_rows(&state).await {
        Ok(apis) => {
            for a in apis {
                let operations = operation_rows(&state, &a.id).await.unwrap_or_default();
                let targets = operations
                    .into_iter()
                    .map(|o| {
                        let path = gateway_path(&a.path, &o.template);
                        let selected = picked.is_none() && (wanted.is_empty() || wanted == a.id);
                        if selected {
                            picked = Some((o.method.clone(), path.clone()));
                        }
                        Target {
                            value: format!("{}/{}", a.id, o.id),
                            label: format!("{} {}", o.method, o.template),
                            method: o.method,
                            path,
                            selected,
                        }
                    })
                    .collect();
                groups.push(Group { api: a.id, targets });
            }
        }
        Err(e) => error = Some(e),
    }
    let (method, path) = picked.unwrap_or_else(|| ("GET".into(), "/".into()));
    render(&ConsolePage {
        csrf: signed.csrf,
        nav: nav("/ui/console"),
        groups,
        method,
        path,
        gateway: state
            .gateway
            .as_ref()
            .and_then(|g| g.addr)
            .map(|addr| target_addr(addr).to_string()),
        error,
    })
}

/// The gateway path of an operation: the API's URL suffix, then its template.
fn gateway_path(suffix: &str, template: &str) -> String {
    let suffix = suffix.trim_matches('/');
    let template = template.trim_start_matches('/');
    match (suffix.is_empty(), template.is_empty()) {
        (true, _) => format!("/{template}"),
        (false, true) => format!("/{suffix}"),
        (false, false) => format!("/{suffix}/{template}"),
    }
}

/// Where to reach a listener bound to an unspecified address: this host.
fn target_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// What the console shows of a call.
#[derive(Template)]
#[template(path = "console_result.html")]
struct ConsoleResult {
    method: String,
    url: String,
    status: u16,
    reason: String,
    elapsed_ms: String,
    headers: Vec<(String, String)>,
    body: String,
    body_note: Option<String>,
    request_id: String,
    /// The gateway's record of the call.
    call: Option<Value>,
}

impl ConsoleResult {
    fn record(&self, key: &str) -> String {
        self.call
            .as_ref()
            .and_then(|c| c[key].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// Parses "Name: value" lines into request headers.
fn request_headers(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, ErrorView> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line.split_once(':').and_then(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                HeaderValue::from_str(value.trim()).ok()?,
            ))
        });
        match parsed {
            Some(h) => out.push(h),
            None => {
                return Err(ErrorView::message(format!(
                    "Header line {} is not \"Name: value\" with a valid name and value.",
                    n + 1
                )));
            }
        }
    }
    Ok(out)
}

/// `POST /ui/console`: sends the request through the gateway.
pub(crate) async fn send(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    match call(&state, &form).await {
        Ok(result) => render(&result),
        Err(e) => error_at(&e, "#console-result"),
    }
}

async fn call(state: &AppState, form: &[(String, String)]) -> Result<ConsoleResult, ErrorView> {
    let link = state.gateway.as_ref().ok_or_else(|| {
        ErrorView::message("No gateway runs in this process, so the console cannot send calls.")
    })?;
    let addr = target_addr(link.addr.ok_or_else(|| {
        ErrorView::message(
            "The gateway's plain listener is off (--gateway-listen none); the console sends \
             calls over it, so call the TLS listener with a client such as curl instead.",
        )
    })?);
    let method = Method::from_bytes(one(form, "method").as_bytes())
        .map_err(|_| ErrorView::message("Pick a valid method."))?;
    let path = one(form, "path");
    if !path.starts_with('/') {
        return Err(ErrorView::message("The path must start with '/'."));
    }
    let uri: http::Uri = path
        .parse()
        .map_err(|e| ErrorView::message(format!("The path is not a valid URL path: {e}")))?;
    let body = form
        .iter()
        .find(|(k, _)| k == "body")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut request = Request::builder().method(method.clone()).uri(uri);
    let headers = request_headers(one(form, "headers"))?;
    // The operator may set Host (APIs do not route by it, back ends may care); else ours.
    if !headers.iter().any(|(n, _)| n == http::header::HOST) {
        request = request.header(http::header::HOST, addr.to_string());
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ErrorView::message(format!("The request is not valid: {e}")))?;
    // Replaces any trace header the operator typed: the gateway honours only its key.
    match &link.trace_key {
        Some(key) => request.headers_mut().insert(TRACE, key.clone()),
        None => request.headers_mut().remove(TRACE),
    };

    let started = Instant::now();
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| ErrorView::message(format!("Cannot reach the gateway at {addr}: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ErrorView::message(format!("The gateway connection failed: {e}")))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ErrorView::message(format!("The gateway did not answer: {e}")))?;
        let elapsed = started.elapsed();
        let (parts, body) = response.into_parts();
        let mut shown = Vec::new();
        let mut total = 0usize;
        let mut body = Limited::new(body, 64 * 1024 * 1024);
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ErrorView::message(format!("The response body broke off: {e}")))?;
            if let Some(data) = frame.data_ref() {
                total += data.len();
                let room = SHOWN_BODY.saturating_sub(shown.len());
                shown.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok::<_, ErrorView>((parts, shown, total, elapsed))
    };
    let (parts, shown, total, elapsed) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| ErrorView::message("The gateway did not answer within 60 seconds."))??;
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let call = (link.call)(&request_id);
    Ok(ConsoleResult {
        method: method.to_string(),
        url: format!("http://{addr}{path}"),
        status: parts.status.as_u16(),
        reason: parts
            .status
            .canonical_reason()
            .unwrap_or_default()
            .to_string(),
        elapsed_ms: format!("{:.1}", elapsed.as_secs_f64() * 1000.0),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&shown).into_owned(),
        body_note: (total > shown.len())
            .then(|| format!("Showing the first {} of {total} bytes.", shown.len())),
        request_id,
        call,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_paths_join_suffix_and_template() {
        assert_eq!(gateway_path("orders", "/{id}"), "/orders/{id}");
        assert_eq!(gateway_path("", "/status"), "/status");
        assert_eq!(gateway_path("/a/b/", "/"), "/a/b");
        assert_eq!(gateway_path("a", "x"), "/a/x");
    }

    #[test]
    fn unspecified_addresses_mean_this_host() {
        let any: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        assert_eq!(target_addr(any), "127.0.0.1:8000".parse().unwrap());
        let any6: SocketAddr = "[::]:8000".parse().unwrap();
        assert_eq!(target_addr(any6), "[::1]:8000".parse().unwrap());
    }

    #[test]
    fn header_lines_parse_and_refuse_bad_ones() {
        let h = request_headers("Accept: text/plain\n\nX-A:  b ").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].1, "b");
        assert!(request_headers("no colon").is_err());
        assert!(request_headers("bad name: x").is_err());
    }
}
