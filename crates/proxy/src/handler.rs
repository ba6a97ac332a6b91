//! One request through the gateway: route, rewrite, forward with the operation's pool, retry
//! what is safe to retry, answer. Everything it needs was decided when the snapshot was
//! applied; nothing here parses configuration, touches the store or takes a contended lock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use gatehouse_model::url::ServiceUrl;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::body::{ProxyBody, RequestBody};
use crate::error::{Failure, Kind, Replay, classify_send};
use crate::forwarded;
use crate::front::{Caller, FrontTable};
use crate::metrics::Metrics;
use crate::path;
use crate::table::{OpEntry, RouteTable};
use crate::tls::Presented;
use crate::trace::{CallLog, CallRecord, TRACE, TraceKey};
use crate::upstream::{BackendBody, PresentedOn};
use crate::{head, headers};

/// The request id header, on the response and on the request to the back end.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// APIM's health path.
pub(crate) const STATUS_PATH: &str = "/status-0123456789abcdef";

/// Attempts per request: the first and two retries on fresh connections.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// State every request reads.
pub(crate) struct Shared {
    /// The TLS listener's configurations, rebuilt with every snapshot.
    pub(crate) front: ArcSwap<FrontTable>,
    pub(crate) table: ArcSwap<RouteTable>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) backend_timeout: Duration,
    /// The client-side limits (request line, body timeout).
    pub(crate) limits: crate::Limits,
    /// Peers whose forwarding headers are believed.
    pub(crate) trusted_proxies: Vec<forwarded::Cidr>,
    pub(crate) calls: CallLog,
    pub(crate) trace_key: TraceKey,
    /// HTTP/1.1 callers are served by the gateway's own relay (else by hyper).
    pub(crate) own_http1: bool,
    ids: RequestIds,
}

impl Shared {
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        backend_timeout: Duration,
        limits: crate::Limits,
        trusted_proxies: Vec<forwarded::Cidr>,
        own_http1: bool,
    ) -> Self {
        Self {
            own_http1,
            front: ArcSwap::from_pointee(FrontTable::empty()),
            table: ArcSwap::from_pointee(RouteTable::empty()),
            metrics,
            backend_timeout,
            limits,
            trusted_proxies,
            calls: CallLog::default(),
            trace_key: TraceKey::generate(),
            ids: RequestIds::new(),
        }
    }

    /// A new request id (24 hex digits), without allocating.
    pub(crate) fn next_request_id(&self) -> [u8; 24] {
        self.ids.next_bytes()
    }
}

/// Request ids: a random per-process prefix and a counter, so ids are unique without
/// randomness per request.
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let mut seed = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        Self {
            prefix: u32::from_ne_bytes(seed),
            next: AtomicU64::new(1),
        }
    }

    /// The next id as 24 hex digits, made on the stack.
    fn next_bytes(&self) -> [u8; 24] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 24];
        let digits = b"0123456789abcdef";
        let value = (u128::from(self.prefix) << 64) | u128::from(n);
        for (i, slot) in buf.iter_mut().enumerate() {
            *slot = digits[((value >> (4 * (23 - i))) & 0xf) as usize];
        }
        buf
    }

    fn next(&self) -> HeaderValue {
        HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&self.next_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

/// What a request knows of the connection it came on.
pub(crate) struct Conn {
    /// The caller's address.
    pub(crate) remote: SocketAddr,
    /// The caller as the forwarding headers describe it.
    pub(crate) client: forwarded::Client,
    /// It came on the TLS listener.
    pub(crate) https: bool,
    /// The certificate the caller presented in the TLS handshake.
    pub(crate) caller: Option<Arc<Caller>>,
}

impl Conn {
    /// A connection of the plain listener.
    pub(crate) fn plain(remote: SocketAddr, shared: &Shared) -> Self {
        Self {
            remote,
            client: forwarded::Client::new(remote.ip(), &shared.trusted_proxies),
            https: false,
            caller: None,
        }
    }

    /// A connection of the TLS listener.
    pub(crate) fn tls(remote: SocketAddr, caller: Option<Arc<Caller>>, shared: &Shared) -> Self {
        Self {
            remote,
            client: forwarded::Client::new(remote.ip(), &shared.trusted_proxies),
            https: true,
            caller,
        }
    }
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    conn: Arc<Conn>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let request_id = shared.ids.next();
    let id_text = request_id.to_str().unwrap_or_default();
    // A trace header without the key is ignored (and, like any, not forwarded).
    let traced = shared.trace_key.accepts(request.headers().get(&TRACE));
    let version = request.version();
    let table = shared.table.load();
    let checked = check_head_size(request.uri(), request.headers(), &shared.limits)
        .and_then(|()| head::check(version, request.uri(), request.headers()));
    if checked.is_ok() && request.uri().path() == STATUS_PATH {
        let mut ok = Response::new(ProxyBody::full(Bytes::new()));
        ok.headers_mut().insert(REQUEST_ID, request_id);
        return Ok(ok);
    }
    let routed = checked
        .and_then(|()| {
            path::normalise(request.uri().path())
                .map_err(|why| Failure::new(Kind::InvalidRequestPath, why.to_string()))
        })
        .and_then(|path| {
            let matched = table
                .route(request.method(), &path, conn.https)
                .ok_or_else(|| Failure::new(Kind::RouteNotFound, ""))?;
            let rest = &path[path.len() - matched.rest_len..];
            let uri = backend_uri(&matched.op.plan().backend.url, rest, request.uri().query());
            Ok((matched.op, uri))
        });
    let (op, uri) = match routed {
        Ok(found) => found,
        Err(failure) => {
            shared.metrics.unmatched();
            if traced {
                record_call(
                    &shared,
                    id_text,
                    None,
                    failure.kind.status().as_u16(),
                    None,
                    started,
                    Some(failure.kind),
                );
            }
            return Ok(refusal(&failure, &request_id, version, &[]));
        }
    };
    let mut error = None;
    let mut failed_presenting = None;
    let response = match forward(&shared, op, uri, request, &conn, &request_id, traced).await {
        Ok(response) => response,
        Err(failure) => {
            error = Some(failure.kind);
            failed_presenting = failure.presented.clone();
            log_failure(&shared, op, &failure, id_text);
            refusal(&failure, &request_id, version, &op.plan().error_headers)
        }
    };
    op.stats
        .record(response.status().as_u16(), started.elapsed());
    if traced {
        let presented = response
            .extensions()
            .get::<PresentedOn>()
            .and_then(|p| p.0.clone())
            .or(failed_presenting);
        record_call(
            &shared,
            id_text,
            Some(op),
            response.status().as_u16(),
            presented,
            started,
            error,
        );
    }
    Ok(response)
}

/// Records a traced call (both HTTP/1.1 paths and HTTP/2 write through here).
pub(crate) fn record_call(
    shared: &Shared,
    request_id: &str,
    op: Option<&OpEntry>,
    status: u16,
    presented: Option<Presented>,
    started: Instant,
    error: Option<Kind>,
) {
    shared.calls.record(CallRecord {
        request_id: request_id.to_string(),
        api: op.map(|o| o.api.to_string()).unwrap_or_default(),
        operation: op.map(|o| o.id.to_string()).unwrap_or_default(),
        status,
        backend: op.and_then(|o| o.upstream.as_ref().ok().map(|u| u.label.to_string())),
        certificate: presented.map(|p| (p.id.to_string(), p.thumbprint.to_string())),
        elapsed: started.elapsed(),
        error: error.map(|k| k.code().to_string()),
    });
}

/// Logs a failed request of a routed operation, and counts a failed back-end handshake by
/// its reason.
pub(crate) fn log_failure(shared: &Shared, op: &OpEntry, failure: &Failure, request_id: &str) {
    let upstream = op.upstream.as_ref().map(|u| &*u.label).unwrap_or("-");
    if failure.kind.is_handshake()
        && let Ok(u) = &op.upstream
    {
        shared.metrics.handshake_failure(&u.label, failure.kind);
    }
    tracing::warn!(
        request_id,
        api = %op.api,
        operation = %op.id,
        backend = upstream,
        code = failure.kind.code(),
        detail = %failure.detail,
        "request failed"
    );
}

/// What must hold before a routed request goes to its back end: the caller's certificate
/// passes the operation's checks, the operation has a pool, and its client certificate has
/// not expired. Comparisons only.
///
/// # Errors
/// The failure to answer with.
pub(crate) fn preflight<'a>(
    shared: &Shared,
    op: &'a OpEntry,
    conn: &Conn,
) -> Result<&'a crate::upstream::Upstream, Failure> {
    if !op.plan().caller_checks.is_empty() {
        check_caller(shared, op.plan(), conn)?;
    }
    let upstream = op
        .upstream
        .as_ref()
        .map_err(|no| Failure::new(no.kind, no.why.clone()))?;
    if op.certificate_not_after.is_some_and(|t| t < now_unix()) {
        let ids: Vec<&str> = op
            .plan()
            .client_certificates
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        return Err(Failure::new(
            Kind::ClientCertificateUnavailable,
            format!("client certificate {ids:?} has expired; upload a renewed one"),
        ));
    }
    Ok(upstream)
}

/// Refuses a request target or header fields past their limits. An HTTP/1.1 request line far
/// too long is cut off earlier, as it arrives, and hyper's head buffer is a backstop; this is
/// the exact check for both protocols (HTTP/2's `:path` and header list included).
fn check_head_size(
    uri: &Uri,
    headers: &http::HeaderMap,
    limits: &crate::Limits,
) -> Result<(), Failure> {
    let length = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if length > limits.max_request_line {
        return Err(Failure::new(
            Kind::UriTooLong,
            format!(
                "the request target is {length} bytes; --max-request-line allows {}",
                limits.max_request_line
            ),
        ));
    }
    // As HTTP/2 counts a header list: name, value and 32 bytes of overhead per field.
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    if size > limits.max_header_bytes {
        return Err(Failure::new(
            Kind::HeadersTooLarge,
            format!(
                "the header fields are {size} bytes; --max-header-bytes allows {}",
                limits.max_header_bytes
            ),
        ));
    }
    Ok(())
}

/// Runs the plan's `validate-client-certificate` checks against what the handshake showed:
/// comparisons only, and one lock-free load of the TLS table when trust is asked for.
fn check_caller(
    shared: &Shared,
    plan: &gatehouse_model::snapshot::RequestPlan,
    conn: &Conn,
) -> Result<(), Failure> {
    let caller = conn.caller.as_deref();
    let trusted = match caller {
        Some(c) if plan.caller_checks.iter().any(|k| k.validate_trust) => {
            c.trusted(&shared.front.load())
        }
        _ => false,
    };
    let now = now_unix();
    for check in &plan.caller_checks {
        let Err(refusal) = check.check(caller.map(|c| &c.facts), trusted, now) else {
            continue;
        };
        let kind = Kind::from(refusal);
        let detail = match caller {
            None if conn.https => format!(
                "{}: the caller sent no certificate (the hostname configuration must have \
                 negotiateClientCertificate true for the gateway to ask for one)",
                check.source
            ),
            None => format!(
                "{}: the caller sent no certificate; it came on the plain listener, where \
                 none can be sent (require https in the API's protocols)",
                check.source
            ),
            Some(c) => format!(
                "{}: caller certificate thumbprint {}: {}",
                check.source,
                c.facts.thumbprint,
                kind.code()
            ),
        };
        if check.ignore_error {
            tracing::debug!(detail = %detail, "client certificate check failed; ignore-error lets the request through");
            continue;
        }
        return Err(Failure::new(kind, detail));
    }
    Ok(())
}

/// The answer to a failure, with the operation's `on-error` header steps; on HTTP/1.x it
/// closes the connection when the failure says the rest of the connection cannot be trusted
/// (HTTP/2 frames its streams itself). The request id is the gateway's, whatever the steps.
fn refusal(
    failure: &Failure,
    request_id: &HeaderValue,
    version: Version,
    steps: &[gatehouse_model::snapshot::HeaderOp],
) -> Response<ProxyBody> {
    let mut response = failure.response(request_id);
    headers::apply(response.headers_mut(), steps);
    response
        .headers_mut()
        .insert(REQUEST_ID, request_id.clone());
    if failure.kind.ends_connection() && version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether a request with this method may be sent again after it may have been processed.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The back end URL: its base path, the request path below the API, and the query.
fn backend_uri(url: &ServiceUrl, rest: &str, query: Option<&str>) -> Result<Uri, Failure> {
    let mut target = String::with_capacity(
        url.scheme.as_str().len() + url.authority.len() + url.base_path.len() + rest.len() + 16,
    );
    target.push_str(url.scheme.as_str());
    target.push_str("://");
    target.push_str(&url.authority);
    target.push_str(&url.base_path);
    if rest.is_empty() && url.base_path.is_empty() {
        target.push('/');
    } else {
        target.push_str(rest);
    }
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    Uri::try_from(target)
        .map_err(|e| Failure::new(Kind::BackendProtocolError, format!("bad back-end URI: {e}")))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn forward(
    shared: &Shared,
    op: &OpEntry,
    uri: Result<Uri, Failure>,
    request: Request<Incoming>,
    conn: &Conn,
    request_id: &HeaderValue,
    traced: bool,
) -> Result<Response<ProxyBody>, Failure> {
    let upstream = preflight(shared, op, conn)?;
    let plan = op.plan();
    let uri = uri?;
    let (mut parts, body) = request.into_parts();
    // The target's authority, when it has one, is the host: an absolute-form target overrides
    // Host (RFC 9112 §3.2.2), and so does HTTP/2's :authority (RFC 9113 §8.3.1).
    let authority = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let host_header = parts.headers.remove(header::HOST);
    let host = authority.or(host_header);
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(&TRACE);
    let proto = if conn.https { "https" } else { "http" };
    forwarded::apply(&mut parts.headers, &conn.client, host, proto);
    headers::apply(&mut parts.headers, &plan.request_headers);
    for header in &plan.caller_headers {
        // What the caller sent under this name is never passed on: only the gateway's value.
        parts.headers.remove(&header.name);
        if let Some(value) = conn.caller.as_ref().and_then(|c| c.header(header.format)) {
            parts.headers.insert(header.name.clone(), value);
        }
    }
    parts.headers.insert(REQUEST_ID, request_id.clone());
    parts.headers.insert(header::HOST, op.host.clone());

    let (body, mut reclaim) = RequestBody::new(body, shared.limits.body_timeout);
    let deadline = tokio::time::Instant::now() + plan.timeout.unwrap_or(shared.backend_timeout);
    let mut body = Some(body);
    let mut attempt = 1;
    loop {
        let mut outgoing = Request::new(body.take().unwrap_or(RequestBody::Empty));
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri.clone();
        *outgoing.version_mut() = Version::HTTP_11;
        *outgoing.headers_mut() = parts.headers.clone();
        // A retry goes out on a fresh connection: the pooled one just failed.
        let fresh = attempt > 1;
        let result =
            tokio::time::timeout_at(deadline, upstream.pool.send(outgoing, fresh, traced)).await;
        let error = match result {
            Ok(Ok(response)) => return Ok(respond(response, plan, request_id)),
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(Failure::new(
                    Kind::BackendTimeout,
                    format!(
                        "no response from {} within {:?}",
                        plan.backend.url,
                        plan.timeout.unwrap_or(shared.backend_timeout)
                    ),
                ));
            }
        };
        let failure = classify_send(&error);
        if reclaim.body_timed_out() {
            return Err(Failure::new(
                Kind::RequestBodyTimeout,
                format!(
                    "no byte of the request body arrived for {:?} (--body-timeout)",
                    shared.limits.body_timeout
                ),
            ));
        }
        if reclaim.body_failed() {
            // The send failed because the caller's body did (malformed chunked framing, or
            // the caller stopped sending): the caller's fault, whatever the back end saw.
            return Err(Failure::new(Kind::InvalidRequestBody, failure.detail));
        }
        let repeatable = match failure.replay {
            Replay::Unprocessed => true,
            Replay::MaybeProcessed => is_idempotent(&parts.method),
            Replay::Never => false,
        };
        if repeatable
            && attempt < MAX_ATTEMPTS
            && let Some(again) = reclaim.take()
        {
            reclaim.follow(&again);
            body = Some(again);
            attempt += 1;
            shared.metrics.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(attempt, detail = %failure.detail, "retrying on a fresh connection");
            continue;
        }
        return Err(failure);
    }
}

fn respond(
    response: Response<BackendBody>,
    plan: &gatehouse_model::snapshot::RequestPlan,
    request_id: &HeaderValue,
) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::apply(&mut parts.headers, &plan.response_headers);
    parts.headers.insert(REQUEST_ID, request_id.clone());
    parts.version = Version::HTTP_11;
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        // Upgrades are not proxied; the caller gets a clear answer instead of a hung socket.
        parts.status = StatusCode::BAD_GATEWAY;
    }
    Response::from_parts(parts, ProxyBody::Backend(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_uris_join_base_rest_and_query() {
        let url = ServiceUrl::parse("https://b.example:8443/base").unwrap();
        assert_eq!(
            backend_uri(&url, "/users/1", Some("a=1&b=2"))
                .unwrap()
                .to_string(),
            "https://b.example:8443/base/users/1?a=1&b=2"
        );
        assert_eq!(
            backend_uri(&url, "", None).unwrap().to_string(),
            "https://b.example:8443/base"
        );
        let root = ServiceUrl::parse("http://b.example").unwrap();
        assert_eq!(
            backend_uri(&root, "", None).unwrap().to_string(),
            "http://b.example/"
        );
    }

    #[test]
    fn request_ids_are_unique_hex() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.to_str().unwrap().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
