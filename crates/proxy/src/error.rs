//! Why a request failed at the gateway, as a stable code, a status, a message the caller and
//! the operator can act on, and whether it may be retried. Every failure becomes a response in
//! one place, [`Failure::response`].

use std::error::Error as StdError;
use std::fmt;
use std::io;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use rustls::{AlertDescription, CertificateError};

use crate::body::ProxyBody;
use crate::tls::{Presented, VerifyRefusal};
use crate::upstream::SendError;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// No API or operation matches.
    RouteNotFound,
    /// The request path is ambiguous (see the path rule in `path.rs`).
    InvalidRequestPath,
    /// An HTTP/1.x request's Host is missing, repeated or invalid, or its target holds
    /// userinfo (see `head.rs`).
    InvalidHost,
    /// `chunked` appears more than once in an HTTP/1.x request's Transfer-Encoding.
    InvalidTransferEncoding,
    /// An HTTP/1.x request's Transfer-Encoding names a coding other than `chunked`.
    UnsupportedTransferCoding,
    /// The caller's body failed while it was being forwarded: malformed chunked framing, or
    /// the caller stopped sending before its end.
    InvalidRequestBody,
    /// The request head is not valid HTTP/1.1 (or its framing is ambiguous).
    MalformedRequest,
    /// An `Expect` the gateway cannot meet (anything but `100-continue`).
    ExpectationFailed,
    /// The request's HTTP major version is not 1.
    HttpVersionNotSupported,
    /// The request target is longer than the gateway accepts.
    UriTooLong,
    /// The request's header fields are larger than the gateway accepts.
    HeadersTooLarge,
    /// The caller stopped sending its request body.
    RequestBodyTimeout,
    /// The configured client certificate cannot be used (fail closed).
    ClientCertificateUnavailable,
    /// The caller sent no certificate and a policy requires one.
    CallerCertificateNotFound,
    /// The caller's certificate does not chain to an uploaded CA certificate.
    CallerCertificateNotTrusted,
    /// The caller's certificate has expired.
    CallerCertificateExpired,
    /// The caller's certificate is not valid yet.
    CallerCertificateNotYetValid,
    /// The caller's certificate matches none of the policy's identities.
    CallerCertificateIdentityNotMatched,
    /// The back end's chain does not end at a trusted root.
    BackendCertificateUntrusted,
    /// The back end's certificate does not name the host.
    BackendCertificateNameMismatch,
    /// The back end's certificate is expired or not yet valid.
    BackendCertificateExpired,
    /// The back end's certificate matches none of the pins.
    BackendCertificatePinMismatch,
    /// The back end's certificate is unusable for another reason.
    BackendCertificateInvalid,
    /// The back end refused the client certificate (a TLS alert after it asked for one).
    ClientCertificateRejected,
    /// The back end and the gateway share no TLS version or cipher suite.
    BackendTlsNegotiationFailed,
    /// The TLS handshake failed otherwise.
    BackendHandshakeFailed,
    /// Nothing listens at the back end's address.
    BackendConnectionRefused,
    /// The back end's host name does not resolve or is unreachable.
    BackendUnreachable,
    /// The back end reset or closed the connection.
    BackendConnectionClosed,
    /// The back end did not answer in time.
    BackendTimeout,
    /// The back end spoke something that is not HTTP.
    BackendProtocolError,
    /// The back end reset the HTTP/2 stream (RST_STREAM) without answering.
    BackendStreamReset,
    /// The TLS stream broke after the handshake: a record that does not decrypt or parse.
    BackendTlsStreamBroken,
}

impl Kind {
    /// Stable code for callers and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Kind::RouteNotFound => "RouteNotFound",
            Kind::InvalidRequestPath => "InvalidRequestPath",
            Kind::InvalidHost => "InvalidHost",
            Kind::InvalidTransferEncoding => "InvalidTransferEncoding",
            Kind::UnsupportedTransferCoding => "UnsupportedTransferCoding",
            Kind::InvalidRequestBody => "InvalidRequestBody",
            Kind::MalformedRequest => "MalformedRequest",
            Kind::ExpectationFailed => "ExpectationFailed",
            Kind::HttpVersionNotSupported => "HttpVersionNotSupported",
            Kind::UriTooLong => "UriTooLong",
            Kind::HeadersTooLarge => "HeadersTooLarge",
            Kind::RequestBodyTimeout => "RequestBodyTimeout",
            Kind::ClientCertificateUnavailable => "ClientCertificateUnavailable",
            // APIM's `context.LastError.Reason` for `validate-client-certificate`.
            Kind::CallerCertificateNotFound => "ClientCertificateNotFound",
            Kind::CallerCertificateNotTrusted => "ClientCertificateNotTrusted",
            Kind::CallerCertificateExpired => "ClientCertificateExpired",
            Kind::CallerCertificateNotYetValid => "ClientCertificateNotYetValid",
            Kind::CallerCertificateIdentityNotMatched => "ClientCertificateIdentityNotMatched",
            Kind::BackendCertificateUntrusted => "BackendCertificateUntrusted",
            Kind::BackendCertificateNameMismatch => "BackendCertificateNameMismatch",
            Kind::BackendCertificateExpired => "BackendCertificateExpired",
            Kind::BackendCertificatePinMismatch => "BackendCertificatePinMismatch",
            Kind::BackendCertificateInvalid => "BackendCertificateInvalid",
            Kind::ClientCertificateRejected => "ClientCertificateRejected",
            Kind::BackendTlsNegotiationFailed => "BackendTlsNegotiationFailed",
            Kind::BackendHandshakeFailed => "BackendHandshakeFailed",
            Kind::BackendConnectionRefused => "BackendConnectionRefused",
            Kind::BackendUnreachable => "BackendUnreachable",
            Kind::BackendConnectionClosed => "BackendConnectionClosed",
            Kind::BackendTimeout => "BackendTimeout",
            Kind::BackendProtocolError => "BackendProtocolError",
            Kind::BackendStreamReset => "BackendStreamReset",
            Kind::BackendTlsStreamBroken => "BackendTlsStreamBroken",
        }
    }

    /// HTTP status the caller gets.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::RouteNotFound => StatusCode::NOT_FOUND,
            Kind::InvalidRequestPath
            | Kind::InvalidHost
            | Kind::InvalidTransferEncoding
            | Kind::InvalidRequestBody => StatusCode::BAD_REQUEST,
            Kind::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Kind::MalformedRequest => StatusCode::BAD_REQUEST,
            Kind::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Kind::HttpVersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Kind::UriTooLong => StatusCode::URI_TOO_LONG,
            Kind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Kind::RequestBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::ClientCertificateUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            // APIM answers 401 when `validate-client-certificate` fails.
            Kind::CallerCertificateNotFound
            | Kind::CallerCertificateNotTrusted
            | Kind::CallerCertificateExpired
            | Kind::CallerCertificateNotYetValid
            | Kind::CallerCertificateIdentityNotMatched => StatusCode::UNAUTHORIZED,
            Kind::BackendTimeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the request's head cannot be trusted, and so neither can what follows it on
    /// the connection: the answer closes the connection (RFC 9112 §9.6 allows a server to at
    /// any time; nginx does after such a 400).
    pub(crate) fn ends_connection(self) -> bool {
        matches!(
            self,
            Kind::InvalidHost
                | Kind::InvalidTransferEncoding
                | Kind::UnsupportedTransferCoding
                | Kind::InvalidRequestBody
                | Kind::RequestBodyTimeout
                | Kind::UriTooLong
                | Kind::HeadersTooLarge
                | Kind::MalformedRequest
                | Kind::ExpectationFailed
                | Kind::HttpVersionNotSupported
        )
    }

    /// Whether this is a TLS handshake failure (counted by reason in the metrics).
    pub fn is_handshake(self) -> bool {
        matches!(
            self,
            Kind::BackendCertificateUntrusted
                | Kind::BackendCertificateNameMismatch
                | Kind::BackendCertificateExpired
                | Kind::BackendCertificatePinMismatch
                | Kind::BackendCertificateInvalid
                | Kind::ClientCertificateRejected
                | Kind::BackendTlsNegotiationFailed
                | Kind::BackendHandshakeFailed
        )
    }

    /// What the caller reads: what happened, and the setting that fixes it.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Kind::RouteNotFound => "Resource not found",
            Kind::InvalidRequestPath => {
                "the request path climbs above the root with '..', or holds an encoded '/', \
                 '\\' or NUL, a raw '\\', or a malformed percent-escape"
            }
            Kind::InvalidHost => {
                "a request needs exactly one Host header (HTTP/1.0: at most one), holding \
                 host[:port]; a request target may not hold userinfo"
            }
            Kind::InvalidTransferEncoding => {
                "the request's Transfer-Encoding names chunked more than once"
            }
            Kind::UnsupportedTransferCoding => {
                "the only transfer coding the gateway accepts is chunked; send the content \
                 without another, or with a Content-Encoding"
            }
            Kind::MalformedRequest => "the request is not valid HTTP/1.1",
            Kind::ExpectationFailed => "the gateway meets no expectation but 100-continue",
            Kind::HttpVersionNotSupported => {
                "the gateway speaks HTTP/1.x and HTTP/2 (by ALPN or prior knowledge)"
            }
            Kind::UriTooLong => "the request target is longer than the gateway accepts",
            Kind::HeadersTooLarge => {
                "the request's header fields are larger than the gateway accepts"
            }
            Kind::RequestBodyTimeout => {
                "the request body stopped arriving; the back end did not get a complete request"
            }
            Kind::InvalidRequestBody => {
                "the request body is malformed (its chunked framing is invalid) or ended before \
                 it was complete; the back end did not get a complete request"
            }
            Kind::ClientCertificateUnavailable => {
                "the client certificate configured for this API cannot be used (expired or not \
                 loadable); no connection was made without it"
            }
            // APIM's messages ("Client certificate missing", "Invalid client certificate"),
            // and what exactly was wrong.
            Kind::CallerCertificateNotFound => {
                "Client certificate missing: this API requires a client certificate in the TLS \
                 handshake"
            }
            Kind::CallerCertificateNotTrusted => {
                "Invalid client certificate: its chain does not end at a CA certificate the \
                 gateway trusts"
            }
            Kind::CallerCertificateExpired => "Invalid client certificate: it has expired",
            Kind::CallerCertificateNotYetValid => "Invalid client certificate: it is not valid yet",
            Kind::CallerCertificateIdentityNotMatched => {
                "Invalid client certificate: it matches none of the identities this API allows"
            }
            Kind::BackendCertificateUntrusted => {
                "the back end's certificate is not trusted: it is self-signed or issued by an \
                 unknown CA; trust its CA with tls.caCertificateIds or pin it with \
                 tls.serverCertificateThumbprints on the backend, or set \
                 tls.validateCertificateChain to false"
            }
            Kind::BackendCertificateNameMismatch => {
                "the back end's certificate does not name the host in the service URL; use a \
                 host the certificate names, or set tls.validateCertificateName to false on the \
                 backend"
            }
            Kind::BackendCertificateExpired => {
                "the back end's certificate has expired or is not yet valid; renew it on the \
                 back end, or set tls.validateCertificateChain to false on the backend"
            }
            Kind::BackendCertificatePinMismatch => {
                "the back end's certificate matches none of the backend's \
                 tls.serverCertificateThumbprints"
            }
            Kind::BackendCertificateInvalid => "the back end's certificate is not valid",
            Kind::ClientCertificateRejected => {
                "the back end rejected the gateway's client certificate (or expected one and got \
                 none); check the API's gateway credentials and that the back end trusts the \
                 certificate's issuer"
            }
            Kind::BackendTlsNegotiationFailed => {
                "the back end and the gateway agree on no TLS version or cipher suite (the \
                 gateway offers TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305); \
                 enable one of them on the back end"
            }
            Kind::BackendHandshakeFailed => {
                "the TLS handshake with the back end failed; the log line with this request id \
                 says how"
            }
            Kind::BackendConnectionRefused => "the back end refused the connection",
            Kind::BackendUnreachable => "the back end cannot be reached",
            Kind::BackendConnectionClosed => "the back end closed the connection",
            Kind::BackendTimeout => "the back end did not answer in time",
            Kind::BackendProtocolError => "the back end's answer is not valid HTTP",
            Kind::BackendStreamReset => {
                "the back end reset the HTTP/2 stream without answering; it may have processed \
                 the request, so the gateway did not repeat it"
            }
            Kind::BackendTlsStreamBroken => {
                "the TLS connection to the back end broke after the handshake (a record that \
                 does not decrypt): a faulty back end or something between; not repeated"
            }
        }
    }
}

impl From<gatehouse_model::snapshot::CallerRefusal> for Kind {
    fn from(refusal: gatehouse_model::snapshot::CallerRefusal) -> Self {
        use gatehouse_model::snapshot::CallerRefusal as R;
        match refusal {
            R::NotFound => Kind::CallerCertificateNotFound,
            R::NotTrusted => Kind::CallerCertificateNotTrusted,
            R::Expired => Kind::CallerCertificateExpired,
            R::NotYetValid => Kind::CallerCertificateNotYetValid,
            R::IdentityNotMatched => Kind::CallerCertificateIdentityNotMatched,
        }
    }
}

/// Whether a failed attempt may be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The back end cannot have processed it (never sent, refused stream, GOAWAY).
    Unprocessed,
    /// It may have been processed: repeat only what is safe to repeat.
    MaybeProcessed,
    /// Do not retry.
    Never,
}

/// A classified failure with its detail for the log.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What went wrong.
    pub(crate) kind: Kind,
    /// The whole story, for the log (never sent to the caller).
    pub(crate) detail: String,
    pub(crate) replay: Replay,
    /// The client certificate presented on the connection that failed, for the call record.
    pub(crate) presented: Option<Presented>,
}

impl Failure {
    /// A failure with no underlying error.
    pub(crate) fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            replay: Replay::Never,
            presented: None,
        }
    }

    /// The JSON body of the error answer.
    pub(crate) fn body(&self, request_id: &str) -> String {
        if self.kind == Kind::RouteNotFound {
            // APIM's exact body for an unknown route.
            format!(
                r#"{{"statusCode":404,"message":"Resource not found","requestId":"{request_id}"}}"#
            )
        } else {
            format!(
                r#"{{"statusCode":{},"code":"{}","message":"{}","requestId":"{request_id}"}}"#,
                self.kind.status().as_u16(),
                self.kind.code(),
                self.kind.message(),
            )
        }
    }

    /// The JSON error answer.
    pub(crate) fn response(&self, request_id: &HeaderValue) -> http::Response<ProxyBody> {
        let body = self.body(request_id.to_str().unwrap_or_default());
        let mut response = http::Response::new(ProxyBody::full(Bytes::from(body)));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(crate::handler::REQUEST_ID, request_id.clone());
        response
    }
}

/// What the connector reports when it cannot open a connection.
#[derive(Debug)]
pub(crate) struct ConnectError {
    pub(crate) kind: Kind,
    pub(crate) detail: String,
    /// The client certificate the failed handshake presented, if it got that far.
    pub(crate) presented: Option<Presented>,
    /// The back end refused every application protocol offered by ALPN (an HTTP/2-only back
    /// end asked for HTTP/1.1).
    pub(crate) alpn_refused: bool,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

impl StdError for ConnectError {}

/// The kind of a TLS error, from rustls' own error and whether the back end asked for a
/// client certificate in that handshake. An alert that may mean "your certificate is not
/// acceptable" means that only when a certificate was asked for; before that point the same
/// alerts (`handshake_failure` above all) are how servers say they share no version or
/// cipher suite with the client.
pub(crate) fn tls_kind(e: &rustls::Error, certificate_requested: bool) -> Kind {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            // A root with the issuer's name but another key (a distribution's snakeoil
            // certificate named like the host, say) shows as a signature mismatch: to the
            // operator it is the same thing, the chain does not end at a trusted root.
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
            | CertificateError::InvalidPurpose
            | CertificateError::InvalidPurposeContext { .. } => Kind::BackendCertificateUntrusted,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Kind::BackendCertificateNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Kind::BackendCertificateExpired,
            CertificateError::Other(other) if other.0.downcast_ref::<VerifyRefusal>().is_some() => {
                Kind::BackendCertificatePinMismatch
            }
            // webpki reports a CA certificate presented as a server certificate this way; it
            // is what a self-signed `openssl req -x509` certificate looks like.
            CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
                Kind::BackendCertificateUntrusted
            }
            _ => Kind::BackendCertificateInvalid,
        },
        rustls::Error::AlertReceived(alert)
            if certificate_requested && is_client_certificate_alert(*alert) =>
        {
            Kind::ClientCertificateRejected
        }
        rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity,
        )
        | rustls::Error::PeerIncompatible(_) => Kind::BackendTlsNegotiationFailed,
        _ => Kind::BackendHandshakeFailed,
    }
}

/// A TLS error on an established connection (handshake failures come from the connector):
/// an alert about the client certificate (TLS 1.3 sends it after the handshake), or a stream
/// that no longer decrypts.
fn stream_tls_kind(error: &rustls::Error, certificate_requested: bool) -> Kind {
    match error {
        rustls::Error::DecryptError
        | rustls::Error::InvalidMessage(_)
        | rustls::Error::PeerMisbehaved(_)
        | rustls::Error::AlertReceived(
            AlertDescription::BadRecordMac | AlertDescription::DecodeError,
        ) => Kind::BackendTlsStreamBroken,
        other => tls_kind(other, certificate_requested),
    }
}

/// Alerts a server sends when it does not accept the client's certificate (or the lack of one).
fn is_client_certificate_alert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::DecryptError
            | AlertDescription::HandshakeFailure
    )
}

fn sources<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// Classifies why a request could not be sent, using what the connection's handshake showed.
///
/// A TLS 1.3 back end judges the client certificate after the handshake; its alert can lose
/// the race with the client's first writes, and the client then sees only a closed
/// connection. A connection that closed before the back end sent a single byte, after a
/// handshake in which it asked for a client certificate, was refused for that certificate.
pub(crate) fn classify_send(error: &SendError) -> Failure {
    let requested = error
        .facts
        .as_ref()
        .is_some_and(|f| f.certificate_requested);
    let mut failure = classify(&*error.error, requested);
    if let Some(presented) = error.facts.as_ref().and_then(|f| f.presented.clone()) {
        failure.presented = Some(presented);
    }
    if let Some(facts) = &error.facts
        && failure.kind == Kind::BackendConnectionClosed
        && facts.certificate_requested
        && facts.bytes_read.load(std::sync::atomic::Ordering::Relaxed) == 0
    {
        failure.kind = Kind::ClientCertificateRejected;
        failure.replay = Replay::Never;
        failure.detail = format!(
            "{}; the back end closed the connection before sending anything, after a \
             handshake in which it asked for a client certificate ({})",
            failure.detail,
            if facts.certificate_presented {
                "one was presented"
            } else {
                "none was configured"
            }
        );
    }
    failure
}

/// Classifies what the HTTP client returned. Walks the source chain: our connector's errors,
/// rustls errors inside I/O errors (a TLS 1.3 server rejects a client certificate after the
/// handshake, so that alert arrives while reading the response), h2 stream errors, hyper's.
pub(crate) fn classify(error: &(dyn StdError + 'static), certificate_requested: bool) -> Failure {
    let detail = error_chain(error);
    let mut replay = Replay::Never;
    let mut kind = None;
    for e in sources(error) {
        if let Some(c) = e.downcast_ref::<ConnectError>() {
            return Failure {
                kind: c.kind,
                detail: c.detail.clone(),
                replay: Replay::Never,
                presented: c.presented.clone(),
            };
        }
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            kind = Some(stream_tls_kind(t, certificate_requested));
            break;
        }
        if let Some(h2e) = e.downcast_ref::<h2::Error>() {
            // Only the back end's own GOAWAY or REFUSED_STREAM proves a stream unprocessed
            // (h2 gives a received GOAWAY's error only to streams above its last stream id).
            // A GOAWAY our client sent after a protocol error fails every open stream,
            // including ones the back end is working on.
            if h2e.is_remote()
                && (h2e.is_go_away() || h2e.reason() == Some(h2::Reason::REFUSED_STREAM))
            {
                replay = Replay::Unprocessed;
                kind = Some(Kind::BackendConnectionClosed);
                break;
            }
            if h2e.is_go_away() {
                replay = Replay::MaybeProcessed;
                kind = Some(Kind::BackendProtocolError);
                break;
            }
            if h2e.is_reset() && h2e.is_remote() {
                replay = Replay::Never;
                kind = Some(Kind::BackendStreamReset);
                break;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_canceled() {
                replay = Replay::Unprocessed;
                kind = Some(Kind::BackendConnectionClosed);
            } else if h.is_incomplete_message() || h.is_closed() {
                replay = Replay::MaybeProcessed;
                kind = Some(Kind::BackendConnectionClosed);
            } else if h.is_parse() {
                kind = Some(Kind::BackendProtocolError);
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            // io::Error::source() skips the error it wraps, so look inside: a TLS 1.3 server
            // refuses a client certificate after the handshake, and that alert arrives here.
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                kind = Some(stream_tls_kind(t, certificate_requested));
                replay = Replay::Never;
                break;
            }
            match io.kind() {
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionAborted => {
                    if replay == Replay::Never {
                        replay = Replay::MaybeProcessed;
                    }
                    kind.get_or_insert(Kind::BackendConnectionClosed);
                }
                _ => {}
            }
        }
    }
    Failure {
        kind: kind.unwrap_or(Kind::BackendConnectionClosed),
        detail,
        replay,
        presented: None,
    }
}

/// `a: b: c` for the log.
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    for (i, e) in sources(e).enumerate() {
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(&e.to_string());
    }
    out
}
