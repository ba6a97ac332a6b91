//! TLS to back ends: one rustls client config per (TLS settings, client identities), a verifier
//! that implements a back end's switches, a client-certificate resolver, and the observer that
//! tells a connection what happened in its handshake.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lc_rs::digest;
use gatehouse_model::snapshot::{ClientIdentity, TlsSettings};
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, OtherError, RootCertStore,
    SignatureScheme,
};

tokio::task_local! {
    /// The handshake in progress on this task, so the verifier and the resolver can report
    /// what they saw to the connector that started it.
    pub(crate) static HANDSHAKE: Arc<Observer>;
}

/// What one handshake revealed.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    /// The back end sent a CertificateRequest.
    pub(crate) certificate_requested: AtomicBool,
    /// The back end's leaf certificate, kept for the log when verification fails.
    pub(crate) server_certificate: Mutex<Option<CertificateDer<'static>>>,
    /// The client certificate presented: id and thumbprint.
    pub(crate) presented: Mutex<Option<Presented>>,
    /// Keep everything for a diagnosis (the pre-flight probe): the whole chain and the CAs
    /// the back end accepts. Off on the data path, where only the leaf is kept.
    pub(crate) detailed: bool,
    /// The back end's chain, leaf first (when `detailed`).
    pub(crate) chain: Mutex<Vec<CertificateDer<'static>>>,
    /// The issuers the back end said it accepts in its CertificateRequest (when `detailed`).
    pub(crate) accepted_issuers: Mutex<Vec<Vec<u8>>>,
}

/// A client certificate as presented in a handshake.
#[derive(Clone, Debug)]
pub struct Presented {
    /// Certificate id.
    pub id: Arc<str>,
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: Arc<str>,
}

/// Why a back-end certificate was refused, beyond rustls' own certificate errors.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyRefusal {
    /// Pins are set and the leaf matches none of them.
    #[error(
        "the back end's certificate (thumbprint {thumbprint}) matches none of tls.serverCertificateThumbprints"
    )]
    PinMismatch {
        /// Thumbprint of what the back end presented.
        thumbprint: String,
    },
}

/// Trust anchors of the machine, loaded once at start.
#[derive(Clone, Debug)]
pub struct SystemRoots {
    verifier: Option<Arc<WebPkiServerVerifier>>,
}

impl SystemRoots {
    /// Loads the operating system's trust store (`/etc/ssl/certs` on Debian).
    pub fn load(provider: &Arc<CryptoProvider>) -> Self {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system trust anchor could not be loaded");
        }
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "system trust anchors rustls cannot use");
        }
        tracing::info!(anchors = added, "loaded the system trust store");
        Self {
            verifier: verifier_for(store, provider),
        }
    }

    /// No system roots at all: only explicitly trusted CAs and pins work.
    pub fn none() -> Self {
        Self { verifier: None }
    }
}

fn verifier_for(
    store: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    if store.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(provider))
        .build()
        .ok()
}

/// The crypto provider for back-end connections: aws-lc-rs with AES-128-GCM/SHA-256 suites
/// preferred. SHA-256 runs on the CPU's SHA extensions where SHA-384 does not, which makes
/// the TLS 1.3 key schedule of a full handshake cheaper; AES-128-GCM is TLS 1.3's mandatory
/// suite. The AES-256 and ChaCha20 suites stay available.
pub fn backend_provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
        _ => 4,
    });
    provider
}

/// Chains that verified, so a back end presenting the same certificates again is not walked
/// and re-verified on every new connection. Keyed by the exact certificates and the server
/// name; an entry is good until the first of the leaf and the intermediates it was sent with
/// expires (webpki does not check a trust anchor's own dates, so neither does the cache). The
/// verifier owning the cache belongs to one set of trust settings, so the roots are fixed for
/// it. Handshake signatures are always verified.
#[derive(Debug, Default)]
struct VerifiedChains {
    entries: Mutex<std::collections::HashMap<Vec<u8>, u64>>,
    /// Off: every chain is verified in full on every handshake.
    off: bool,
}

/// Entries kept per verifier; a back end pool sees a handful of server certificates.
const VERIFIED_CHAINS_MAX: usize = 64;

impl VerifiedChains {
    fn key(
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
    ) -> Vec<u8> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(end_entity.as_ref());
        for i in intermediates {
            ctx.update(&(i.len() as u64).to_be_bytes());
            ctx.update(i.as_ref());
        }
        ctx.update(server_name.to_str().as_bytes());
        ctx.finish().as_ref().to_vec()
    }

    fn contains(&self, key: &[u8], now: UnixTime) -> bool {
        !self.off
            && self
                .entries
                .lock()
                .get(key)
                .copied()
                .is_some_and(|not_after| now.as_secs() < not_after)
    }

    /// Remembers a chain that verified, until the first of its certificates expires.
    fn insert(
        &self,
        key: Vec<u8>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) {
        if self.off {
            return;
        }
        let mut not_after = u64::MAX;
        for der in std::iter::once(end_entity).chain(intermediates) {
            // A certificate that cannot be read here is not cached: the next handshake
            // verifies the chain in full again.
            let Ok(info) = gatehouse_pki::certificate_info(der.as_ref()) else {
                return;
            };
            let Ok(end) = u64::try_from(info.not_after.unix_timestamp()) else {
                return;
            };
            not_after = not_after.min(end);
        }
        let mut m = self.entries.lock();
        if m.len() >= VERIFIED_CHAINS_MAX {
            m.clear();
        }
        m.insert(key, not_after);
    }
}

/// A pinned thumbprint of the back end's leaf certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pin {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Pin {
    /// Parses 40 (SHA-1) or 64 (SHA-256) hexadecimal characters.
    fn parse(text: &str) -> Option<Self> {
        fn bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            Some(out)
        }
        match text.len() {
            40 => bytes(text).map(Pin::Sha1),
            64 => bytes(text).map(Pin::Sha256),
            _ => None,
        }
    }
}

/// The pins of a back end, with the digests they need.
#[derive(Debug, Default)]
struct Pins {
    pins: Vec<Pin>,
    sha1: bool,
    sha256: bool,
}

impl Pins {
    fn new(texts: &[String]) -> Self {
        let pins: Vec<Pin> = texts.iter().filter_map(|p| Pin::parse(p)).collect();
        Self {
            sha1: pins.iter().any(|p| matches!(p, Pin::Sha1(_))),
            sha256: pins.iter().any(|p| matches!(p, Pin::Sha256(_))),
            pins,
        }
    }

    /// `Ok` when there are no pins or the leaf matches one; the refusal names the leaf by
    /// its SHA-1 thumbprint, as certificates are listed.
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), Error> {
        if self.pins.is_empty() {
            return Ok(());
        }
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, end_entity);
        if self.sha1
            && self
                .pins
                .iter()
                .any(|p| *p == Pin::Sha1(to_array(sha1.as_ref())))
        {
            return Ok(());
        }
        if self.sha256 {
            let sha256 = digest::digest(&digest::SHA256, end_entity);
            if self.pins.contains(&Pin::Sha256(to_array(sha256.as_ref()))) {
                return Ok(());
            }
        }
        Err(Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(VerifyRefusal::PinMismatch {
                thumbprint: hex_upper(sha1.as_ref()),
            })),
        )))
    }
}

/// The first `N` bytes of a digest (zero-padded if shorter, which no digest used here is).
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(bytes.len());
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Implements a back end's TLS switches on top of webpki.
#[derive(Debug)]
struct BackendVerifier {
    verified: VerifiedChains,
    /// Chain check (system roots or the back end's CAs); `None` skips it.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Whether chain validation was asked for: with no usable roots it fails closed.
    validate_chain: bool,
    validate_name: bool,
    /// Trusted CA certificates as DER: a leaf equal to one is trusted as it is (a self-signed
    /// back end whose certificate was uploaded as a CA).
    direct: Vec<CertificateDer<'static>>,
    /// Leaf thumbprints (SHA-1 or SHA-256). When set, the leaf must match one of them *and*
    /// pass the other checks that are on: a pin narrows what is trusted, it never replaces
    /// chain validation. With `validate_chain` off, a pin is what makes a self-signed back
    /// end safe to talk to.
    pins: Pins,
    algorithms: WebPkiSupportedAlgorithms,
}

impl BackendVerifier {
    fn check_name(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
    ) -> Result<(), Error> {
        if !self.validate_name {
            return Ok(());
        }
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)
    }
}

fn is_name_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for BackendVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let _ = HANDSHAKE.try_with(|o| {
            let mut slot = o.server_certificate.lock();
            *slot = Some(end_entity.clone().into_owned());
            if o.detailed {
                *o.chain.lock() = std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| c.clone().into_owned())
                    .collect();
            }
        });
        self.pins.check(end_entity)?;
        if self
            .direct
            .iter()
            .any(|d| d.as_ref() == end_entity.as_ref())
        {
            // Trusted as it is, like a root: its own dates still count while the chain is
            // validated (webpki would check them for a leaf under a root).
            if self.validate_chain {
                check_dates(end_entity, now)?;
            }
            self.check_name(end_entity, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        if !self.validate_chain {
            self.check_name(end_entity, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        let Some(chain) = &self.chain else {
            return Err(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        let key = VerifiedChains::key(end_entity, intermediates, server_name);
        if self.verified.contains(&key, now) {
            return Ok(ServerCertVerified::assertion());
        }
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => {
                self.verified.insert(key, end_entity, intermediates);
                Ok(v)
            }
            // webpki checks the chain before the name: a name error means the chain is good.
            Err(e) if is_name_error(&e) && !self.validate_name => {
                self.verified.insert(key, end_entity, intermediates);
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Offers the configured client certificates; with several, the one whose issuer the back end
/// lists among the CAs it accepts.
#[derive(Debug)]
struct ClientCertificates {
    identities: Vec<Offered>,
}

#[derive(Debug)]
struct Offered {
    key: Arc<CertifiedKey>,
    issuer: Vec<u8>,
    presented: Presented,
}

impl ResolvesClientCert for ClientCertificates {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let _ = HANDSHAKE.try_with(|o| {
            o.certificate_requested.store(true, Ordering::Relaxed);
            if o.detailed {
                *o.accepted_issuers.lock() =
                    root_hint_subjects.iter().map(|h| h.to_vec()).collect();
            }
        });
        let wanted = |issuer: &[u8]| {
            root_hint_subjects
                .iter()
                .any(|hint| *hint == issuer || Some(*hint) == strip_sequence(issuer))
        };
        let chosen = self
            .identities
            .iter()
            .find(|o| wanted(&o.issuer))
            .or_else(|| self.identities.first())?;
        let _ = HANDSHAKE.try_with(|o| {
            let mut slot = o.presented.lock();
            *slot = Some(chosen.presented.clone());
        });
        Some(Arc::clone(&chosen.key))
    }

    fn has_certs(&self) -> bool {
        !self.identities.is_empty()
    }
}

/// The contents of a DER SEQUENCE (servers may send names with or without the outer tag).
fn strip_sequence(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    if len < 0x80 {
        return rest.get(..usize::from(len));
    }
    let n = usize::from(len & 0x7f);
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let size = rest[..n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    rest.get(n..n + size)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Refuses a certificate outside its validity period, as webpki words it.
fn check_dates(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
    let info = gatehouse_pki::certificate_info(der.as_ref())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < info.not_before.unix_timestamp() {
        return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > info.not_after.unix_timestamp() {
        return Err(Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// The verifier of a back end's TLS settings.
fn backend_verifier(
    settings: &TlsSettings,
    chain_cache: bool,
    roots: &SystemRoots,
    provider: &Arc<CryptoProvider>,
) -> BackendVerifier {
    let chain = if settings.ca_roots.is_empty() {
        roots.verifier.clone()
    } else {
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(settings.ca_roots.iter().cloned());
        if added == 0 {
            tracing::warn!("none of the back end's CA certificates can be a trust anchor");
        }
        verifier_for(store, provider)
    };
    BackendVerifier {
        verified: VerifiedChains {
            off: !chain_cache,
            ..VerifiedChains::default()
        },
        chain,
        validate_chain: settings.validate_chain,
        validate_name: settings.validate_name,
        direct: settings.ca_roots.clone(),
        pins: Pins::new(&settings.pins),
        algorithms: provider.signature_verification_algorithms,
    }
}

/// Each check of a back end's certificate on its own: `pass`, `off`, or why it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checks {
    pub(crate) chain: String,
    pub(crate) name: String,
    pub(crate) pins: String,
}

/// Runs the checks of `settings` on a chain the back end presented, each on its own (the
/// handshake stops at the first failure; a diagnosis wants all three).
pub(crate) fn diagnose(
    settings: &TlsSettings,
    roots: &SystemRoots,
    provider: &Arc<CryptoProvider>,
    chain: &[CertificateDer<'static>],
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Checks {
    let verifier = backend_verifier(settings, false, roots, provider);
    let Some((leaf, intermediates)) = chain.split_first() else {
        let none = "no certificate was presented".to_owned();
        return Checks {
            chain: none.clone(),
            name: none.clone(),
            pins: none,
        };
    };
    let verdict = |r: Result<(), Error>| match r {
        Ok(()) => "pass".to_owned(),
        Err(e) => format!("fail: {e}"),
    };
    let chain_check = if !settings.validate_chain {
        "off".to_owned()
    } else if verifier.direct.iter().any(|d| d.as_ref() == leaf.as_ref()) {
        verdict(check_dates(leaf, now))
    } else {
        match &verifier.chain {
            None => {
                "fail: no trust anchors (neither system roots nor tls.caCertificateIds)".to_owned()
            }
            Some(webpki) => verdict(
                match webpki.verify_server_cert(leaf, intermediates, server_name, &[], now) {
                    // webpki checks the chain before the name.
                    Err(e) if is_name_error(&e) => Ok(()),
                    other => other.map(drop),
                },
            ),
        }
    };
    let name_check = if settings.validate_name {
        verdict(
            ParsedCertificate::try_from(leaf)
                .and_then(|p| rustls::client::verify_server_name(&p, server_name)),
        )
    } else {
        "off".to_owned()
    };
    let pins_check = if settings.pins.is_empty() {
        "off".to_owned()
    } else {
        verdict(verifier.pins.check(leaf))
    };
    Checks {
        chain: chain_check,
        name: name_check,
        pins: pins_check,
    }
}

/// Builds the client config for a back end's TLS settings and client identities.
///
/// # Errors
/// When rustls refuses the protocol versions of the provider (it does not for aws-lc-rs).
pub(crate) fn client_config(
    settings: &TlsSettings,
    identities: &[Arc<ClientIdentity>],
    chain_cache: bool,
    roots: &SystemRoots,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<ClientConfig>, Error> {
    let verifier = backend_verifier(settings, chain_cache, roots, provider);
    let resolver = ClientCertificates {
        identities: identities
            .iter()
            .map(|i| Offered {
                key: Arc::clone(&i.certified_key),
                issuer: i.issuer_der.clone(),
                presented: Presented {
                    id: i.id.as_str().into(),
                    thumbprint: i.thumbprint.as_str().into(),
                },
            })
            .collect(),
    };
    let mut config = ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if !settings.session_resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(
        cn: &str,
        not_after: time::OffsetDateTime,
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
        ca: bool,
    ) -> (
        CertificateDer<'static>,
        rcgen::Issuer<'static, rcgen::KeyPair>,
    ) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.test")]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = not_after;
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        (cert.der().clone(), rcgen::Issuer::new(params, key))
    }

    /// A regression: a cached chain stayed good until its leaf expired, even when an
    /// intermediate it was verified with expired first.
    #[test]
    fn a_cached_chain_expires_with_its_first_certificate() {
        let now = time::OffsetDateTime::now_utc();
        let (_, root) = certificate("root", now + time::Duration::days(3650), None, true);
        let (intermediate, issuing) = certificate(
            "intermediate",
            now + time::Duration::hours(1),
            Some(&root),
            true,
        );
        let (leaf, _) = certificate(
            "leaf",
            now + time::Duration::days(300),
            Some(&issuing),
            false,
        );
        let name = ServerName::try_from("leaf.test").unwrap();
        let cache = VerifiedChains::default();
        let key = VerifiedChains::key(&leaf, std::slice::from_ref(&intermediate), &name);
        cache.insert(key.clone(), &leaf, std::slice::from_ref(&intermediate));
        let at = |offset: time::Duration| {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::try_from((now + offset).unix_timestamp()).unwrap(),
            ))
        };
        assert!(cache.contains(&key, at(time::Duration::ZERO)));
        assert!(!cache.contains(&key, at(time::Duration::hours(2))));
        // Another name, or the leaf without its intermediate, is another chain.
        let other = ServerName::try_from("other.test").unwrap();
        assert!(!cache.contains(
            &VerifiedChains::key(&leaf, std::slice::from_ref(&intermediate), &other),
            at(time::Duration::ZERO)
        ));
        assert!(!cache.contains(
            &VerifiedChains::key(&leaf, &[], &name),
            at(time::Duration::ZERO)
        ));
        // Turned off (--backend-chain-cache false), it remembers nothing.
        let off = VerifiedChains {
            off: true,
            ..VerifiedChains::default()
        };
        off.insert(key.clone(), &leaf, std::slice::from_ref(&intermediate));
        assert!(!off.contains(&key, at(time::Duration::ZERO)));
    }

    #[test]
    fn pins_match_by_sha1_or_sha256_of_the_leaf() {
        let (leaf, _) = certificate(
            "leaf",
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
            None,
            false,
        );
        let sha1 = hex_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &leaf).as_ref());
        let sha256 = hex_upper(digest::digest(&digest::SHA256, &leaf).as_ref());
        assert!(Pins::new(&[]).check(&leaf).is_ok());
        assert!(Pins::new(&[sha1]).check(&leaf).is_ok());
        assert!(Pins::new(&["00".repeat(20), sha256]).check(&leaf).is_ok());
        let refused = Pins::new(&["00".repeat(32)]).check(&leaf).unwrap_err();
        assert!(
            matches!(&refused, Error::InvalidCertificate(CertificateError::Other(o))
                if o.0.downcast_ref::<VerifyRefusal>().is_some()),
            "{refused:?}"
        );
    }

    #[test]
    fn pins_parse_and_sequences_strip() {
        assert_eq!(Pin::parse(&"AB".repeat(20)), Some(Pin::Sha1([0xAB; 20])));
        assert_eq!(Pin::parse(&"cd".repeat(32)), Some(Pin::Sha256([0xCD; 32])));
        assert_eq!(Pin::parse("AB"), None);
        assert_eq!(Pin::parse(&"ZZ".repeat(20)), None);
        assert_eq!(strip_sequence(&[0x30, 2, 1, 2]), Some(&[1u8, 2][..]));
        assert_eq!(strip_sequence(&[0x31, 2, 1, 2]), None);
        let mut long = vec![0x30, 0x81, 200];
        long.extend(std::iter::repeat_n(7u8, 200));
        assert_eq!(strip_sequence(&long).map(<[u8]>::len), Some(200));
        assert_eq!(strip_sequence(&[0x30, 0x81]), None);
    }
}
