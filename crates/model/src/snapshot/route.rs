//! Where a request goes and how: a back end's URL with the TLS, pooling and credential settings
//! its entity contributes.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;

use super::ClientIdentity;
use crate::url::ServiceUrl;

/// How the gateway does TLS with a back end: what it trusts, and whether it resumes sessions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// Verify the chain (against `ca_roots`, or the system roots when that is empty).
    pub validate_chain: bool,
    /// Verify the certificate names the host.
    pub validate_name: bool,
    /// Trust anchors replacing the system roots, when non-empty.
    pub ca_roots: Vec<CertificateDer<'static>>,
    /// Accepted leaf thumbprints (SHA-1 or SHA-256, upper-case hex), when non-empty: the leaf
    /// must match one, in addition to the chain check when that is on.
    pub pins: Vec<String>,
    /// Resume TLS sessions on new connections.
    pub session_resumption: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            validate_chain: true,
            validate_name: true,
            ca_roots: Vec::new(),
            pins: Vec::new(),
            session_resumption: true,
        }
    }
}

/// How the gateway pools connections to a back end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolSettings {
    /// Idle connections kept per origin (0: a new connection per request).
    pub max_idle: u32,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_idle: 256,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// What a back end entity contributes to requests that reach it.
#[derive(Debug, Default)]
pub struct BackendSettings {
    /// The back end entity these come from (`None`: defaults, no entity matched).
    pub backend_id: Option<String>,
    /// TLS checks and resumption.
    pub tls: Arc<TlsSettings>,
    /// Connection pooling.
    pub pool: PoolSettings,
    /// Client certificates from `credentials.certificateIds`.
    pub client_certificates: Vec<Arc<ClientIdentity>>,
    /// Headers from `credentials.header` and `credentials.authorization` (marked sensitive).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Where a request goes and under which settings.
#[derive(Debug)]
pub struct BackendRoute {
    /// Base URL the rest of the request path is appended to.
    pub url: ServiceUrl,
    /// Settings of the back end entity that applies.
    pub settings: Arc<BackendSettings>,
}
