//! The test console: sends a request through the gateway, as a client would, and shows the
//! response beside the gateway's own record of the call (which client certificate it
//! presented to the back end, which back end, why it failed).
//!
//! It calls through the plain listener or the TLS listener. Over TLS it connects to the
//! listener's address itself and sends the chosen server name as SNI, so the name need not
//! resolve; it trusts no CA for that, only the exact certificate of the hostname
//! configuration the name selects (the console and the gateway share the snapshot that
//! selection is made from).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use super::apis::{api_rows, operation_rows};
use super::hostnames::hostname_rows;
use gatehouse_model::entity::token::Role;

use super::{Chrome, ErrorView, Signed, error_at, one, render};
use crate::{AppState, GatewayLink};

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
    /// Its API is served by the TLS listener only, so picking it picks that listener.
    https_only: bool,
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
    chrome: Chrome,
    groups: Vec<Group>,
    method: String,
    path: String,
    /// The plain listener's address, when it is on.
    plain: Option<String>,
    /// The TLS listener's address, when it is on.
    tls: Option<String>,
    /// The listener picked: `plain` or `tls`.
    listener: &'static str,
    /// The server name offered for TLS calls.
    server_name: String,
    /// The exact host names of the hostname configurations, to pick from.
    server_names: Vec<String>,
    /// The default binding's host name, which answers when no server name is sent.
    default_binding: Option<String>,
    error: Option<ErrorView>,
}

/// `GET /ui/console?api=`: the form, with the API's first operation picked.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !super::may_operate() {
        return super::forbidden_page(signed, "/ui/console", "The test console", Role::Operator);
    }
    let wanted = query.get("api").map(String::as_str).unwrap_or_default();
    let mut groups = Vec::new();
    let mut error = None;
    let mut picked: Option<(String, String, bool)> = None;
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
                            picked = Some((o.method.clone(), path.clone(), a.https_only));
                        }
                        Target {
                            value: format!("{}/{}", a.id, o.id),
                            label: format!("{} {}", o.method, o.template),
                            method: o.method,
                            path,
                            https_only: a.https_only,
                            selected,
                        }
                    })
                    .collect();
                groups.push(Group { api: a.id, targets });
            }
        }
        Err(e) => error = Some(e),
    }
    let (method, path, https_only) = picked.unwrap_or_else(|| ("GET".into(), "/".into(), false));
    let hostnames = hostname_rows(&state).await.unwrap_or_else(|e| {
        error.get_or_insert(e);
        Vec::new()
    });
    let server_names: Vec<String> = hostnames
        .iter()
        .filter(|h| !h.wildcard())
        .map(|h| h.hostname.clone())
        .collect();
    let link = state.gateway.as_ref();
    let plain = link.and_then(|g| g.addr).map(target_addr);
    let tls = link.and_then(|g| g.tls_addr).map(target_addr);
    let listener = match (plain, tls) {
        // An HTTPS-only API is not served on the plain listener: calling it there is a 404.
        (_, Some(_)) if https_only => "tls",
        (None, Some(_)) => "tls",
        _ => "plain",
    };
    render(&ConsolePage {
        chrome: Chrome::new(&signed, "/ui/console"),
        groups,
        method,
        path,
        plain: plain.map(|a| a.to_string()),
        tls: tls.map(|a| a.to_string()),
        listener,
        // Without an exact name, sending none lets the default binding answer.
        server_name: server_names.first().cloned().unwrap_or_default(),
        server_names,
        default_binding: hostnames
            .into_iter()
            .find(|h| h.default)
            .map(|h| h.hostname),
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
    /// How the TLS listener was reached, when it was.
    tls: Option<TlsFacts>,
    /// The gateway's record of the call.
    call: Option<Value>,
}

/// What a call through the TLS listener sent and was shown.
struct TlsFacts {
    /// The SNI sent; `None` when none was.
    server_name: Option<String>,
    /// The hostname configuration that answered, and its host name.
    configuration: String,
    /// The certificate it presents, pinned.
    certificate: String,
    /// Its thumbprint.
    thumbprint: String,
    /// The TLS version negotiated.
    version: String,
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
    if !super::may_operate() {
        let error = ErrorView::message("sending calls from the console needs the operator role");
        let mut response = error_at(&error, "#console-result");
        *response.status_mut() = http::StatusCode::FORBIDDEN;
        return response;
    }
    match call(&state, &form).await {
        Ok(result) => render(&result),
        Err(e) => error_at(&e, "#console-result"),
    }
}

async fn call(state: &AppState, form: &[(String, String)]) -> Result<ConsoleResult, ErrorView> {
    let link = state.gateway.as_ref().ok_or_else(|| {
        ErrorView::message("No gateway runs in this process, so the console cannot send calls.")
    })?;
    let route = route(state, link, form)?;
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
    // The operator may set Host (APIs do not route by it, back ends may care); else the name
    // a client would use.
    if !headers.iter().any(|(n, _)| n == http::header::HOST) {
        request = request.header(http::header::HOST, route.authority());
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
        let addr = route.addr;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| ErrorView::message(format!("Cannot reach the gateway at {addr}: {e}")))?;
        match &route.tls {
            None => send_over(tcp, request, started).await.map(|r| (r, None)),
            Some(tls) => {
                let (stream, version) = tls.handshake(tcp, addr).await?;
                send_over(stream, request, started)
                    .await
                    .map(|r| (r, Some(version)))
            }
        }
    };
    let ((parts, shown, total, elapsed), version) = tokio::time::timeout(TIMEOUT, exchange)
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
        url: format!("{}://{}{path}", route.scheme(), route.authority()),
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
        tls: route.tls.map(|t| TlsFacts {
            server_name: (!t.server_name.is_empty()).then_some(t.server_name),
            configuration: t.configuration,
            certificate: t.certificate,
            thumbprint: t.thumbprint,
            version: version.unwrap_or_default(),
        }),
        call,
    })
}

/// What a response came to: its head, the bytes shown, how many there were, how long the
/// answer took.
type Exchanged = (http::response::Parts, Vec<u8>, usize, Duration);

/// Sends `request` over `stream` (HTTP/1.1) and reads the answer.
async fn send_over<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    started: Instant,
) -> Result<Exchanged, ErrorView>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
        let frame =
            frame.map_err(|e| ErrorView::message(format!("The response body broke off: {e}")))?;
        if let Some(data) = frame.data_ref() {
            total += data.len();
            let room = SHOWN_BODY.saturating_sub(shown.len());
            shown.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok((parts, shown, total, elapsed))
}

/// Where a call goes: a listener's address, and for TLS what to send and to accept.
struct Route {
    addr: SocketAddr,
    tls: Option<PinnedTls>,
}

impl Route {
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// `host:port` as a client of this listener names it.
    fn authority(&self) -> String {
        match &self.tls {
            Some(t) if !t.server_name.is_empty() => {
                format!("{}:{}", t.server_name, self.addr.port())
            }
            _ => self.addr.to_string(),
        }
    }
}

/// The listener the form picked, checked against the ones that run; for TLS, the
/// configuration the server name selects.
fn route(
    state: &AppState,
    link: &GatewayLink,
    form: &[(String, String)],
) -> Result<Route, ErrorView> {
    let tls = match one(form, "listener") {
        "tls" => true,
        "plain" => false,
        // A form without the choice (an older page): the plain listener when it runs.
        "" => link.addr.is_none() && link.tls_addr.is_some(),
        other => {
            return Err(ErrorView::message(format!(
                "Unknown listener '{other}': pick plain or TLS."
            )));
        }
    };
    if !tls {
        let addr = link.addr.ok_or_else(|| {
            ErrorView::message(
                "The gateway's plain listener is off (--gateway-listen none); pick the TLS \
                 listener.",
            )
        })?;
        return Ok(Route {
            addr: target_addr(addr),
            tls: None,
        });
    }
    let addr = link.tls_addr.ok_or_else(|| {
        ErrorView::message(
            "The gateway's TLS listener is off; start Gatehouse with --gateway-tls-listen ADDR \
             to call through it.",
        )
    })?;
    let server_name = one(form, "server_name")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    Ok(Route {
        addr: target_addr(addr),
        tls: Some(PinnedTls::select(state, server_name)?),
    })
}

/// A TLS call: the SNI to send and the one certificate to accept.
struct PinnedTls {
    /// Lower case; empty sends no SNI.
    server_name: String,
    /// `id (host name)` of the hostname configuration the name selects.
    configuration: String,
    /// The id of its certificate.
    certificate: String,
    /// That certificate's thumbprint.
    thumbprint: String,
    /// That certificate's leaf, which the listener must present.
    leaf: CertificateDer<'static>,
}

impl PinnedTls {
    /// The configuration `server_name` selects, by the gateway's own rule on the snapshot the
    /// gateway serves.
    fn select(state: &AppState, server_name: String) -> Result<Self, ErrorView> {
        let snapshot = state.cp.snapshots().load();
        let name = (!server_name.is_empty()).then_some(server_name.as_str());
        let Some(selected) = snapshot.front.find(name) else {
            return Err(ErrorView::message(match name {
                Some(name) => format!(
                    "No hostname configuration answers for '{name}', and none is the default \
                     binding: the TLS listener would end the handshake (unrecognized_name). \
                     Type a configured host name, or add one on the Host names page."
                ),
                None => "Without a server name only the default binding answers, and no \
                         hostname configuration is the default binding. Type a configured \
                         host name."
                    .to_string(),
            }));
        };
        let Some(leaf) = selected.identity.certified_key.cert.first() else {
            return Err(ErrorView::message(format!(
                "Hostname configuration '{}' has no certificate to compare with.",
                selected.id
            )));
        };
        if name.is_some() {
            // Checked here so a bad name reads as the operator's typo, not as a TLS failure.
            ServerName::try_from(server_name.as_str()).map_err(|_| {
                ErrorView::message(format!("'{server_name}' is not a valid server name."))
            })?;
        }
        Ok(Self {
            configuration: format!("{} ({})", selected.id, selected.hostname),
            certificate: selected.identity.id.clone(),
            thumbprint: selected.identity.thumbprint.clone(),
            leaf: leaf.clone().into_owned(),
            server_name,
        })
    }

    /// The TLS handshake over `tcp`: the SNI sent, the pinned certificate required. Returns
    /// the stream and the TLS version agreed.
    async fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
        addr: SocketAddr,
    ) -> Result<
        (
            tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
            String,
        ),
        ErrorView,
    > {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let served = Arc::new(OnceLock::new());
        let verifier = PinnedLeaf {
            leaf: self.leaf.clone(),
            algorithms: provider.signature_verification_algorithms,
            served: Arc::clone(&served),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ErrorView::message(format!("The console's TLS set-up failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // The console speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = if self.server_name.is_empty() {
            // rustls sends no SNI for an address.
            ServerName::IpAddress(addr.ip().into())
        } else {
            ServerName::try_from(self.server_name.clone()).map_err(|_| {
                ErrorView::message(format!(
                    "'{}' is not a valid server name.",
                    self.server_name
                ))
            })?
        };
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| match served.get() {
                Some(thumbprint) => ErrorView::message(format!(
                    "The TLS listener presented a certificate with thumbprint {thumbprint}, not \
                     certificate '{}' (thumbprint {}) that hostname configuration {} names; \
                     the call was not sent. If the certificate was just replaced, send again.",
                    self.certificate, self.thumbprint, self.configuration
                )),
                None => ErrorView::message(format!(
                    "The TLS handshake with the gateway at {addr} failed: {e}"
                )),
            })?;
        let version = stream
            .get_ref()
            .1
            .protocol_version()
            .map(|v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
                rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        Ok((stream, version))
    }
}

/// Accepts exactly one leaf certificate: the console checks that the listener serves the
/// certificate its configuration names, which a trust store cannot say.
#[derive(Debug)]
struct PinnedLeaf {
    leaf: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
    /// The thumbprint of a leaf that was not the pinned one, for the operator's message.
    served: Arc<OnceLock<String>>,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            return Ok(ServerCertVerified::assertion());
        }
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            end_entity.as_ref(),
        );
        let _ = self.served.set(hex::encode_upper(digest.as_ref()));
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
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

    /// A TLS server on a local port presenting a fresh self-signed certificate for
    /// `api.example.test`; returns its address and the certificate.
    async fn tls_server() -> (SocketAddr, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["api.example.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().clone();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        (addr, der)
    }

    fn pinned(leaf: CertificateDer<'static>) -> PinnedTls {
        PinnedTls {
            server_name: "api.example.test".into(),
            configuration: "api (api.example.test)".into(),
            certificate: "api-cert".into(),
            thumbprint: "PINNED".into(),
            leaf,
        }
    }

    #[tokio::test]
    async fn only_the_pinned_leaf_is_accepted() {
        let (addr, served) = tls_server().await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_, version) = pinned(served.clone()).handshake(tcp, addr).await.unwrap();
        assert!(version.starts_with("TLS 1."), "{version}");

        // Another certificate, even for the same name: refused, naming both.
        let (_, other) = tls_server().await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let error = pinned(other).handshake(tcp, addr).await.err().unwrap();
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &served);
        let served_thumbprint = hex::encode_upper(digest.as_ref());
        assert!(
            error.message.contains(&served_thumbprint)
                && error
                    .message
                    .contains("certificate 'api-cert' (thumbprint PINNED)")
                && error.message.contains("the call was not sent"),
            "{}",
            error.message
        );
    }
}
