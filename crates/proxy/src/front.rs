//! The TLS front door: the gateway's TLS listener terminates TLS for the configured host
//! names, and asks callers for certificates where a hostname configuration says so.
//!
//! Each snapshot becomes a [`FrontTable`]: one rustls `ServerConfig` per hostname
//! configuration (its certificate, ALPN, whether callers are asked for a certificate), all
//! sharing one session ticketer and cache, so a resumed session survives a configuration
//! change. The server name a client sends (SNI) picks the configuration: an exact name before a
//! wildcard, else the default binding, else the handshake ends with `unrecognized_name`.
//!
//! A caller's certificate is accepted at the TLS level whatever its issuer (proof of
//! possession of its key is still verified), because one host name may serve APIs with and
//! without `validate-client-certificate`. Its facts are worked out once, after the handshake
//! ([`Caller`]); a policy check then only compares them.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use gatehouse_model::Snapshot;
use gatehouse_model::snapshot::{CallerFacts, CallerTrust, HostnameRoute};
use gatehouse_policy::{CertificateFormat, parse_distinguished_name};
use http::HeaderValue;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    Acceptor, ProducesTickets, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::SingleCertAndKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::StartHandshake;
use tokio_rustls::server::TlsStream;

/// What every TLS configuration shares, made once per gateway.
pub(crate) struct FrontState {
    provider: Arc<CryptoProvider>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl FrontState {
    /// Shared ticketer and session cache over `provider`.
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        let ticketer = match rustls::crypto::aws_lc_rs::Ticketer::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "no TLS session tickets: the ticketer cannot start");
                None
            }
        };
        Self {
            provider,
            ticketer,
            sessions: ServerSessionMemoryCache::new(16_384),
        }
    }
}

/// One hostname configuration, ready for handshakes.
struct Entry {
    route: Arc<HostnameRoute>,
    config: Arc<ServerConfig>,
}

/// The TLS listener's view of one snapshot.
pub(crate) struct FrontTable {
    snapshot: Arc<Snapshot>,
    entries: Vec<Entry>,
    /// Chain checks against the uploaded CA certificates (`None`: there are none).
    trust: Option<Arc<dyn ClientCertVerifier>>,
    epoch: u64,
}

impl FrontTable {
    /// No hostname configuration (before the first snapshot).
    pub(crate) fn empty() -> Self {
        Self {
            snapshot: Arc::new(Snapshot::default()),
            entries: Vec::new(),
            trust: None,
            epoch: 0,
        }
    }

    /// Builds every configuration of the snapshot. A configuration rustls refuses is left out
    /// and logged (its name then gets the default binding or an alert).
    pub(crate) fn build(snapshot: &Arc<Snapshot>, state: &FrontState) -> Self {
        let front = &snapshot.front;
        let hints = root_hints(&front.caller_trust);
        let entries = front
            .hostnames
            .iter()
            .filter_map(|route| match server_config(route, &hints, state) {
                Ok(config) => Some(Entry {
                    route: Arc::clone(route),
                    config,
                }),
                Err(e) => {
                    tracing::error!(hostname = %route.hostname, error = %e, "cannot serve TLS for this host name");
                    None
                }
            })
            .collect();
        let trust = trust_verifier(&front.caller_trust, &state.provider);
        Self {
            epoch: front.caller_trust.epoch,
            snapshot: Arc::clone(snapshot),
            entries,
            trust,
        }
    }

    fn find(&self, server_name: Option<&str>) -> Option<&Entry> {
        let route = self.snapshot.front.find(server_name)?;
        self.entries.iter().find(|e| Arc::ptr_eq(&e.route, route))
    }

    /// Whether `chain` ends at an uploaded CA certificate. Dates are the validity checks' own
    /// business, so the chain is judged at a moment inside the leaf's validity.
    fn chain_trusted(&self, chain: &[CertificateDer<'static>], facts: &CallerFacts) -> bool {
        let (Some(verifier), Some((leaf, intermediates))) = (&self.trust, chain.split_first())
        else {
            return false;
        };
        let now = now_unix().clamp(facts.not_before, facts.not_after);
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now).unwrap_or(0),
        ));
        verifier.verify_client_cert(leaf, intermediates, at).is_ok()
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The subjects of the uploaded CA certificates: the CertificateRequest lists them, so a
/// client holding several certificates can pick one these issued.
fn root_hints(trust: &CallerTrust) -> Arc<[DistinguishedName]> {
    trust
        .anchors
        .iter()
        .filter_map(|der| gatehouse_pki::certificate_info(der.as_ref()).ok())
        .map(|info| DistinguishedName::from(info.subject_der))
        .collect()
}

fn trust_verifier(
    trust: &CallerTrust,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(trust.anchors.iter().cloned());
    if roots.is_empty() {
        return None;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .allow_unauthenticated()
        .build()
        .map_err(|e| tracing::warn!(error = %e, "caller certificates cannot be checked for trust"))
        .ok()
}

fn server_config(
    route: &HostnameRoute,
    hints: &Arc<[DistinguishedName]>,
    state: &FrontState,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(&state.provider))
        .with_safe_default_protocol_versions()?;
    let builder = if route.negotiate_client_certificate {
        builder.with_client_cert_verifier(Arc::new(AnyCaller {
            hints: Arc::clone(hints),
            provider: Arc::clone(&state.provider),
        }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
        &route.identity.certified_key,
    ))));
    config.alpn_protocols = if route.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    if let Some(ticketer) = &state.ticketer {
        config.ticketer = Arc::clone(ticketer);
    }
    config.session_storage = Arc::clone(&state.sessions);
    // The provider's order (AES-128-GCM first, see `backend_provider`) decides, not the
    // client's: the same suite whatever the client prefers.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Asks for a client certificate without requiring one, and accepts any chain: trust is the
/// policy's decision. Handshake signatures are verified, so a caller proves it holds the key.
#[derive(Debug)]
struct AnyCaller {
    hints: Arc<[DistinguishedName]>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyCaller {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }
}

/// A caller's certificate as the handshake showed it.
pub(crate) struct Caller {
    /// What policies compare.
    pub(crate) facts: CallerFacts,
    chain: Vec<CertificateDer<'static>>,
    /// The trust result and the CA epoch it was made under.
    trust_epoch: AtomicU64,
    trusted: AtomicBool,
    /// Header values for `forward-client-certificate`, made on first use.
    headers: [OnceLock<Option<HeaderValue>>; 3],
}

impl Caller {
    fn new(chain: Vec<CertificateDer<'static>>, table: &FrontTable) -> Option<Self> {
        let leaf = chain.first()?;
        let info = gatehouse_pki::certificate_info(leaf.as_ref()).ok()?;
        let mut issuer_thumbprints = Vec::new();
        let mut issuer_keys = Vec::new();
        for candidate in chain
            .iter()
            .skip(1)
            .chain(table.snapshot.front.caller_trust.anchors.iter())
        {
            if gatehouse_pki::issued_by(leaf.as_ref(), candidate.as_ref())
                && let Ok(issuer) = gatehouse_pki::certificate_info(candidate.as_ref())
            {
                if !issuer_thumbprints.contains(&issuer.thumbprint) {
                    issuer_thumbprints.push(issuer.thumbprint);
                }
                if let Ok(key) = gatehouse_pki::public_key_digest(candidate.as_ref())
                    && !issuer_keys.contains(&key)
                {
                    issuer_keys.push(key);
                }
            }
        }
        let facts = CallerFacts {
            thumbprint: info.thumbprint.clone(),
            serial_number: match info.serial_number.trim_start_matches('0') {
                "" => "0".to_string(),
                digits => digits.to_string(),
            },
            subject: parse_distinguished_name(&info.subject).unwrap_or_default(),
            issuer: parse_distinguished_name(&info.issuer).unwrap_or_default(),
            dns_names: info
                .subject_alternative_names
                .iter()
                .filter_map(|n| n.strip_prefix("DNS:"))
                .map(str::to_ascii_lowercase)
                .collect(),
            issuer_thumbprints,
            issuer_keys,
            not_before: info.not_before.unix_timestamp(),
            not_after: info.not_after.unix_timestamp(),
        };
        let trusted = table.chain_trusted(&chain, &facts);
        Some(Self {
            facts,
            chain,
            trust_epoch: AtomicU64::new(table.epoch),
            trusted: AtomicBool::new(trusted),
            headers: Default::default(),
        })
    }

    /// Whether the chain ends at an uploaded CA certificate, as of `table`'s CA set: judged
    /// again when the set changed since the handshake (once per connection and change).
    pub(crate) fn trusted(&self, table: &FrontTable) -> bool {
        if self.trust_epoch.load(Ordering::Acquire) == table.epoch {
            return self.trusted.load(Ordering::Acquire);
        }
        let trusted = table.chain_trusted(&self.chain, &self.facts);
        self.trusted.store(trusted, Ordering::Release);
        self.trust_epoch.store(table.epoch, Ordering::Release);
        trusted
    }

    /// The certificate written as `format`, for a header.
    pub(crate) fn header(&self, format: CertificateFormat) -> Option<HeaderValue> {
        let slot = match format {
            CertificateFormat::Base64 => &self.headers[0],
            CertificateFormat::Pem => &self.headers[1],
            CertificateFormat::Thumbprint => &self.headers[2],
        };
        slot.get_or_init(|| {
            let leaf = self.chain.first()?;
            let text = match format {
                CertificateFormat::Thumbprint => self.facts.thumbprint.clone(),
                CertificateFormat::Base64 => {
                    base64::engine::general_purpose::STANDARD.encode(leaf.as_ref())
                }
                CertificateFormat::Pem => url_encode(&pem(leaf.as_ref())),
            };
            HeaderValue::from_str(&text).ok()
        })
        .clone()
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Percent-encodes everything but unreserved characters (as nginx's
/// `$ssl_client_escaped_cert`).
fn url_encode(text: &str) -> String {
    gatehouse_model::text::percent_encode(text, &[])
}

/// A finished TLS handshake.
pub(crate) struct Accepted {
    pub(crate) stream: TlsStream<TcpStream>,
    /// The caller's certificate, when it sent one.
    pub(crate) caller: Option<Arc<Caller>>,
    /// ALPN chose HTTP/2.
    pub(crate) h2: bool,
}

/// Why a TLS connection ended before it carried a request, for the metrics.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The client went away or spoke something that is not TLS.
    Closed,
    /// No configuration serves the name it asked for.
    UnknownName,
    /// The handshake failed.
    Handshake,
}

/// The `unrecognized_name` alert (RFC 6066 §3), sent before any configuration is chosen.
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Reads the ClientHello, picks the configuration by server name, completes the handshake.
///
/// # Errors
/// [`Refused`] when no handshake completed.
pub(crate) async fn accept(tcp: TcpStream, table: &FrontTable) -> Result<Accepted, Refused> {
    let mut tcp = tcp;
    let mut acceptor = Acceptor::default();
    let hello = loop {
        if tcp.readable().await.is_err() {
            return Err(Refused::Closed);
        }
        match acceptor.read_tls(&mut TryRead(&tcp)) {
            Ok(0) => return Err(Refused::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(Refused::Closed),
        }
        match acceptor.accept() {
            Ok(Some(hello)) => break hello,
            Ok(None) => {}
            Err((_, mut alert)) => {
                let mut bytes = Vec::new();
                let _ = alert.write(&mut bytes);
                let _ = tcp.write_all(&bytes).await;
                return Err(Refused::Handshake);
            }
        }
    };
    let server_name = hello.client_hello().server_name().map(str::to_owned);
    let Some(entry) = table.find(server_name.as_deref()) else {
        tracing::debug!(server_name = ?server_name, "TLS: no hostname configuration for this name");
        let _ = tcp.write_all(&UNRECOGNIZED_NAME).await;
        return Err(Refused::UnknownName);
    };
    let stream = StartHandshake::from_parts(hello, tcp)
        .into_stream(Arc::clone(&entry.config))
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, hostname = %entry.route.hostname, "TLS handshake failed");
            Refused::Handshake
        })?;
    let connection = stream.get_ref().1;
    let h2 = connection.alpn_protocol() == Some(b"h2");
    let caller = connection
        .peer_certificates()
        .filter(|chain| !chain.is_empty())
        .and_then(|chain| {
            Caller::new(
                chain.iter().map(|c| c.clone().into_owned()).collect(),
                table,
            )
        })
        .map(Arc::new);
    Ok(Accepted { stream, caller, h2 })
}

/// Reads what the socket has now, without waiting.
struct TryRead<'a>(&'a TcpStream);

impl io::Read for TryRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_headers_fit_one_line() {
        let encoded = url_encode(&pem(&[0xAB; 100]));
        assert!(
            encoded.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
            "{encoded}"
        );
        assert!(!encoded.contains(['\n', ' ', '+', '/', '=']), "{encoded}");
        assert!(HeaderValue::from_str(&encoded).is_ok());
    }
}
