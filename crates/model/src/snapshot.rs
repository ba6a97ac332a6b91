//! The compiled runtime snapshot: everything the data plane needs, references resolved, keys
//! loaded, headers pre-built. Compiled after every change, before it is committed; a change
//! whose snapshot does not compile is refused. Published through [`SnapshotCell`], read by the
//! gateway once per request with a lock-free load.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use gatehouse_pki::MasterKey;
pub use gatehouse_policy::ExistsAction;
use gatehouse_policy::{
    BackendTarget, CertificateRef, EffectivePolicy, ReferenceKind, Section, Statement,
};
use http::{HeaderName, HeaderValue, Method};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::config::Config;
use crate::entity::backend::BackendProperties;
use crate::entity::policy::PolicyScope;
use crate::template::UrlTemplate;
use crate::url::ServiceUrl;
use crate::{ModelError, Problems};

mod front;
mod route;

pub use front::{
    CallerCheck, CallerFacts, CallerHeader, CallerIdentity, CallerRefusal, CallerTrust, Front,
    HostnameRoute,
};
pub use route::{BackendRoute, BackendSettings, PoolSettings, TlsSettings};

/// A client certificate ready for handshakes.
pub struct ClientIdentity {
    /// Certificate id.
    pub id: String,
    /// Its version: a replaced certificate is a new identity, and never shares a pooled
    /// connection with the old one.
    pub version: u64,
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// Subject, for logs and metrics.
    pub subject: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Chain and signing key, as rustls presents them.
    pub certified_key: Arc<CertifiedKey>,
    /// The leaf's issuer name (DER), matched against the CAs a back end says it accepts.
    pub issuer_der: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// One header step of a policy.
#[derive(Clone, Debug)]
pub struct HeaderOp {
    /// Header name.
    pub name: HeaderName,
    /// What to do when the header exists.
    pub action: ExistsAction,
    /// Values (empty for delete).
    pub values: Vec<HeaderValue>,
}

/// Everything the gateway does for requests of one operation, decided at compile time.
#[derive(Debug)]
pub struct RequestPlan {
    /// Where to forward.
    pub backend: Arc<BackendRoute>,
    /// Certificates offered in the back-end handshake: the policy's `authentication-certificate`
    /// when there is one, else the back end's credentials.
    pub client_certificates: Vec<Arc<ClientIdentity>>,
    /// Request header steps, in order: back-end credentials, then inbound and backend sections.
    pub request_headers: Vec<HeaderOp>,
    /// Response header steps from the outbound section.
    pub response_headers: Vec<HeaderOp>,
    /// Header steps for error responses (on-error section).
    pub error_headers: Vec<HeaderOp>,
    /// `forward-request timeout`, when set.
    pub timeout: Option<Duration>,
    /// `validate-client-certificate` checks of the inbound sections, in order; each must pass.
    pub caller_checks: Vec<Arc<CallerCheck>>,
    /// `forward-client-certificate` headers, set after the other request header steps.
    pub caller_headers: Vec<CallerHeader>,
}

/// An operation the router can match.
#[derive(Debug)]
pub struct OperationRoute {
    /// Operation id.
    pub id: String,
    /// Method to match (`None` for `*`).
    pub method: Option<Method>,
    /// Path template below the API path.
    pub template: UrlTemplate,
    /// What to do with matching requests.
    pub plan: Arc<RequestPlan>,
}

/// An API the router can match.
#[derive(Debug)]
pub struct ApiRoute {
    /// API id.
    pub id: String,
    /// URL suffix, no slashes at either end; lower-cased for matching.
    pub path: String,
    /// Operations in the order the router tries them (most specific first).
    pub operations: Vec<Arc<OperationRoute>>,
    /// Served on the plain listener (`protocols` holds `http`).
    pub http: bool,
    /// Served on the TLS listener (`protocols` holds `https`).
    pub https: bool,
}

/// Expiry facts for metrics.
#[derive(Clone, Debug)]
pub struct CertificateExpiry {
    /// Certificate id.
    pub id: String,
    /// Thumbprint.
    pub thumbprint: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// The immutable runtime configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Configuration revision it was compiled from.
    pub revision: u64,
    /// APIs, longest path first, so the first prefix match is the longest.
    pub apis: Vec<ApiRoute>,
    /// Client certificates, by id.
    pub certificates: BTreeMap<String, Arc<ClientIdentity>>,
    /// Every back end entity's route (its URL and settings), by id: what a probe of a back end
    /// connects with.
    pub backends: BTreeMap<String, Arc<BackendRoute>>,
    /// Expiry of every CA certificate, for the expiry gauges.
    pub ca_expiry: Vec<CertificateExpiry>,
    /// What the TLS listener serves, and what callers' certificates are checked against.
    pub front: Front,
}

impl Snapshot {
    /// Expiry of every client certificate, for the expiry gauges.
    pub fn certificate_expiry(&self) -> Vec<CertificateExpiry> {
        self.certificates
            .values()
            .map(|c| CertificateExpiry {
                id: c.id.clone(),
                thumbprint: c.thumbprint.clone(),
                not_after: c.not_after,
            })
            .collect()
    }
}

/// Compiles snapshots, keeping loaded keys between compiles: opening and parsing a key is
/// done once per certificate version, not once per change.
pub struct Compiler {
    master: Arc<MasterKey>,
    /// Keyed by id, version and the sealed key itself: a commit that failed may have cached an
    /// identity under a version that is then reused, and it must not be served.
    identities: Mutex<HashMap<IdentityKey, Arc<ClientIdentity>>>,
}

type IdentityKey = (String, u64, Vec<u8>);

impl Compiler {
    /// A compiler that opens keys with `master`.
    pub fn new(master: Arc<MasterKey>) -> Self {
        Self {
            master,
            identities: Mutex::new(HashMap::new()),
        }
    }

    /// The master key (the control plane seals with the same one).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Compiles `config` into a snapshot.
    ///
    /// # Errors
    /// 400 with a detail for every reference that does not resolve, every key that does not
    /// load and every route conflict; each detail names the entity and the element.
    pub fn compile(&self, config: &Config) -> Result<Snapshot, ModelError> {
        let mut problems = Problems::default();
        let certificates = self.identities(config, &mut problems);
        let mut cx = Context {
            config,
            certificates: &certificates,
            backend_settings: HashMap::new(),
            problems,
        };
        cx.check_policy_references();
        // Every back end's references are resolved, not only those some API reaches today:
        // a back end naming a missing certificate is wrong before any API uses it.
        let mut backends = BTreeMap::new();
        for (id, b) in &config.backends {
            let settings = cx.settings_for_backend(id);
            if let Ok(url) = ServiceUrl::parse(&b.value.url) {
                backends.insert(id.clone(), Arc::new(BackendRoute { url, settings }));
            }
        }
        let mut apis = Vec::with_capacity(config.apis.len());
        for (api_id, api) in &config.apis {
            if let Some(other) = config.api_with_path(&api.value.path, api_id)
                && other < api_id.as_str()
            {
                {
                    cx.problems.push(
                        "ApiPathInUse",
                        format!("/apis/{api_id}: properties.path"),
                        format!("API '{other}' already uses path '{}'", api.value.path),
                    );
                }
            }
            let default_backend = match api.value.service_url.as_deref().map(ServiceUrl::parse) {
                Some(Ok(url)) => Some(Arc::new(BackendRoute {
                    settings: cx.settings_for_url(&url),
                    url,
                })),
                Some(Err(e)) => {
                    cx.problems.push(
                        "InvalidProperty",
                        format!("/apis/{api_id}: properties.serviceUrl"),
                        e.to_string(),
                    );
                    continue;
                }
                None => None,
            };
            let mut operations = Vec::new();
            for (op_id, op) in config.operations_of(api_id) {
                let Ok(template) = UrlTemplate::parse(&op.value.url_template) else {
                    continue;
                };
                let effective = gatehouse_policy::compose(
                    cx.policy(&PolicyScope::Global),
                    cx.policy(&PolicyScope::Api(api_id.clone())),
                    cx.policy(&PolicyScope::Operation(api_id.clone(), op_id.to_string())),
                );
                let target = format!("/apis/{api_id}/operations/{op_id}");
                let Some(plan) = cx.plan(&effective, default_backend.as_ref(), &target) else {
                    cx.problems.push(
                        "NoBackend",
                        target,
                        format!(
                            "API '{api_id}' has no serviceUrl and this operation's policy has no \
                             set-backend-service; set one of the two"
                        ),
                    );
                    continue;
                };
                let method = match op.value.method.as_str() {
                    "*" => None,
                    m => match Method::from_bytes(m.as_bytes()) {
                        Ok(m) => Some(m),
                        Err(_) => {
                            // Never `None` here: that would match every method.
                            cx.problems.push(
                                "InvalidProperty",
                                format!("{target}: properties.method"),
                                "is not an HTTP method",
                            );
                            continue;
                        }
                    },
                };
                operations.push(Arc::new(OperationRoute {
                    id: op_id.to_string(),
                    method,
                    template,
                    plan: Arc::new(plan),
                }));
            }
            operations.sort_by(|a, b| {
                b.template
                    .specificity()
                    .cmp(&a.template.specificity())
                    .then(a.method.is_none().cmp(&b.method.is_none()))
            });
            apis.push(ApiRoute {
                id: api_id.clone(),
                path: api.value.path.to_ascii_lowercase(),
                operations,
                http: api.value.protocols.iter().any(|p| p == "http"),
                https: api.value.protocols.iter().any(|p| p == "https"),
            });
        }
        apis.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.id.cmp(&b.id)));
        let front = front::compile(config, &certificates, &mut cx.problems);
        cx.problems
            .into_result("the configuration would not be valid")?;
        self.forget_unused(config);
        let ca_expiry = config
            .ca_certificates
            .iter()
            .map(|(id, c)| CertificateExpiry {
                id: id.clone(),
                thumbprint: c.value.metadata.thumbprint.clone(),
                not_after: c.value.metadata.expiration_date,
            })
            .collect();
        Ok(Snapshot {
            revision: config.revision,
            apis,
            certificates,
            backends,
            ca_expiry,
            front,
        })
    }

    fn identities(
        &self,
        config: &Config,
        problems: &mut Problems,
    ) -> BTreeMap<String, Arc<ClientIdentity>> {
        let mut out = BTreeMap::new();
        let mut cache = self.cache();
        for (id, cert) in &config.certificates {
            let c = &cert.value;
            let key = (id.clone(), c.version, c.sealed_key.clone());
            if let Some(found) = cache.get(&key) {
                out.insert(id.clone(), Arc::clone(found));
                continue;
            }
            let built = c
                .open_key(id, &self.master)
                .and_then(|pkcs8| gatehouse_pki::signing_key(&pkcs8))
                .and_then(|signer| {
                    let leaf = c.chain.first().map(Vec::as_slice).unwrap_or_default();
                    let info = gatehouse_pki::certificate_info(leaf)?;
                    let chain = c
                        .chain
                        .iter()
                        .map(|d| CertificateDer::from(d.clone()))
                        .collect();
                    Ok(Arc::new(ClientIdentity {
                        id: id.clone(),
                        version: c.version,
                        thumbprint: c.metadata.thumbprint.clone(),
                        subject: c.metadata.subject.clone(),
                        not_after: c.metadata.expiration_date,
                        certified_key: Arc::new(CertifiedKey::new(chain, signer)),
                        issuer_der: info.issuer_der,
                    }))
                });
            match built {
                Ok(identity) => {
                    cache.insert(key, Arc::clone(&identity));
                    out.insert(id.clone(), identity);
                }
                Err(e) => problems.push(
                    e.code(),
                    format!("/certificates/{id}"),
                    format!("the stored key cannot be used: {e}"),
                ),
            }
        }
        out
    }

    fn forget_unused(&self, config: &Config) {
        self.cache().retain(|(id, version, sealed), _| {
            config
                .certificates
                .get(id)
                .is_some_and(|c| c.value.version == *version && c.value.sealed_key == *sealed)
        });
    }

    /// The key cache. A panic while it was held leaves it possibly half-updated: it is only a
    /// cache, so it is emptied and used again rather than failing every later change.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<IdentityKey, Arc<ClientIdentity>>> {
        self.identities.lock().unwrap_or_else(|poisoned| {
            tracing::error!("the key cache was poisoned by a panic; emptied it");
            self.identities.clear_poison();
            let mut cache = poisoned.into_inner();
            cache.clear();
            cache
        })
    }
}

/// State of one compile.
struct Context<'a> {
    config: &'a Config,
    certificates: &'a BTreeMap<String, Arc<ClientIdentity>>,
    /// Settings per back end entity id ("" for none), built once and shared by every route.
    backend_settings: HashMap<String, Arc<BackendSettings>>,
    problems: Problems,
}

impl<'a> Context<'a> {
    fn policy(&self, scope: &PolicyScope) -> Option<&'a gatehouse_policy::PolicyDocument> {
        self.config.policies.get(scope).map(|p| &p.value.document)
    }

    fn check_policy_references(&mut self) {
        for (scope, policy) in &self.config.policies {
            // base-url goes through the same parser as every back-end URL, so what the
            // gateway would use is exactly what was validated.
            for section in Section::ALL {
                for statement in policy.value.document.statements(section) {
                    if let Statement::SetBackendService {
                        target: BackendTarget::BaseUrl(url),
                        location,
                    } = &statement
                        && let Err(e) = ServiceUrl::parse(url)
                    {
                        self.problems.push(
                            "PolicyInvalidAttribute",
                            format!("{}: {location}", scope.resource_id()),
                            format!("base-url {e}"),
                        );
                    }
                }
            }
            for reference in policy.value.document.references() {
                let target = format!("{}: {}", scope.resource_id(), reference.location);
                match &reference.kind {
                    ReferenceKind::CertificateId(id) if !self.certificates.contains_key(id) => {
                        self.problems.push(
                            "CertificateNotFound",
                            target,
                            format!(
                                "certificate '{id}' does not exist; upload it first, or fix certificate-id"
                            ),
                        )
                    }
                    ReferenceKind::CertificateThumbprint(t)
                        if self
                            .config
                            .resolve_certificate(&CertificateRef::Thumbprint(t.clone()))
                            .is_none() =>
                    {
                        self.problems.push(
                            "CertificateNotFound",
                            target,
                            format!("no uploaded certificate has thumbprint {t}"),
                        )
                    }
                    ReferenceKind::BackendId(id) if !self.config.backends.contains_key(id) => {
                        self.problems.push(
                            "BackendNotFound",
                            target,
                            format!("backend '{id}' does not exist; create it first, or fix backend-id"),
                        )
                    }
                    ReferenceKind::CaCertificateId(id)
                        if !self.config.ca_certificates.contains_key(id) =>
                    {
                        self.problems.push(
                            "CaCertificateNotFound",
                            target,
                            format!(
                                "CA certificate '{id}' does not exist; upload it first, or fix \
                                 issuer-certificate-id"
                            ),
                        )
                    }
                    _ => {}
                }
            }
        }
    }

    /// Settings of the back end entity whose URL prefixes `url`, or defaults.
    fn settings_for_url(&mut self, url: &ServiceUrl) -> Arc<BackendSettings> {
        match self.config.backend_for_url(url) {
            Some((id, _)) => {
                let id = id.to_string();
                self.settings_for_backend(&id)
            }
            None => self
                .backend_settings
                .entry(String::new())
                .or_default()
                .clone(),
        }
    }

    fn settings_for_backend(&mut self, id: &str) -> Arc<BackendSettings> {
        if let Some(found) = self.backend_settings.get(id) {
            return Arc::clone(found);
        }
        let settings = match self.config.backends.get(id) {
            Some(b) => Arc::new(self.build_settings(id, &b.value)),
            None => Arc::new(BackendSettings::default()),
        };
        self.backend_settings
            .insert(id.to_string(), Arc::clone(&settings));
        settings
    }

    fn build_settings(&mut self, id: &str, b: &BackendProperties) -> BackendSettings {
        let mut ca_roots = Vec::new();
        for (i, ca) in b.tls.ca_certificate_ids.iter().enumerate() {
            match self.config.ca_certificates.get(ca) {
                Some(c) => ca_roots.push(CertificateDer::from(c.value.der.clone())),
                None => self.problems.push(
                    "CaCertificateNotFound",
                    format!("/backends/{id}: properties.tls.caCertificateIds[{i}]"),
                    format!("CA certificate '{ca}' does not exist; upload it first"),
                ),
            }
        }
        let mut client_certificates = Vec::new();
        for (i, cid) in b.credentials.certificate_ids.iter().enumerate() {
            match self.certificates.get(cid) {
                Some(c) => client_certificates.push(Arc::clone(c)),
                None => self.problems.push(
                    "CertificateNotFound",
                    format!("/backends/{id}: properties.credentials.certificateIds[{i}]"),
                    format!("certificate '{cid}' does not exist; upload it first"),
                ),
            }
        }
        let mut headers = Vec::new();
        for (name, values) in &b.credentials.header {
            for v in values {
                match (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    (Ok(n), Ok(mut v)) => {
                        v.set_sensitive(true);
                        headers.push((n, v));
                    }
                    _ => self.problems.push(
                        "InvalidProperty",
                        format!("/backends/{id}: properties.credentials.header.{name}"),
                        "is not a valid header",
                    ),
                }
            }
        }
        if let Some(auth) = &b.credentials.authorization
            && let Ok(mut v) = HeaderValue::from_str(&format!("{} {}", auth.scheme, auth.parameter))
        {
            {
                v.set_sensitive(true);
                headers.push((http::header::AUTHORIZATION, v));
            }
        }
        BackendSettings {
            backend_id: Some(id.to_string()),
            tls: Arc::new(TlsSettings {
                validate_chain: b.tls.validate_certificate_chain,
                validate_name: b.tls.validate_certificate_name,
                ca_roots,
                pins: b.tls.server_certificate_thumbprints.clone(),
                session_resumption: b.tls.session_resumption,
            }),
            pool: PoolSettings {
                max_idle: b.pool.max_idle_connections,
                idle_timeout: Duration::from_secs(u64::from(b.pool.idle_timeout_seconds)),
            },
            client_certificates,
            headers,
        }
    }

    fn plan(
        &mut self,
        effective: &EffectivePolicy,
        default: Option<&Arc<BackendRoute>>,
        target: &str,
    ) -> Option<RequestPlan> {
        let mut backend = default.cloned();
        let mut policy_certificate = None;
        let mut policy_headers = Vec::new();
        let mut timeout = None;
        let mut caller_checks = Vec::new();
        let mut caller_headers = Vec::new();
        let request_steps = effective.inbound.iter().chain(effective.backend.iter());
        for placed in request_steps {
            match &placed.statement {
                Statement::AuthenticationCertificate { certificate, .. } => {
                    policy_certificate = self
                        .config
                        .resolve_certificate(certificate)
                        .and_then(|id| self.certificates.get(id))
                        .cloned();
                }
                Statement::AuthenticationBasic {
                    username, password, ..
                } => {
                    let token = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    // base64 output is always a valid header value.
                    if let Ok(mut v) = HeaderValue::from_str(&format!("Basic {token}")) {
                        v.set_sensitive(true);
                        policy_headers.push(HeaderOp {
                            name: http::header::AUTHORIZATION,
                            action: ExistsAction::Override,
                            values: vec![v],
                        });
                    }
                }
                Statement::SetHeader { .. } => {
                    if let Some(op) = self.header_op(&placed.statement, target) {
                        policy_headers.push(op);
                    }
                }
                Statement::SetBackendService { target, .. } => {
                    backend = match target {
                        BackendTarget::BackendId(id) => {
                            let settings = self.settings_for_backend(id);
                            match self
                                .config
                                .backends
                                .get(id)
                                .and_then(|b| b.value.service_url().ok())
                            {
                                Some(url) => Some(Arc::new(BackendRoute { url, settings })),
                                None => backend,
                            }
                        }
                        // Checked with the same parser in check_policy_references.
                        BackendTarget::BaseUrl(u) => match ServiceUrl::parse(u) {
                            Ok(url) => Some(Arc::new(BackendRoute {
                                settings: self.settings_for_url(&url),
                                url,
                            })),
                            Err(_) => backend,
                        },
                    };
                }
                Statement::ForwardRequest {
                    timeout_seconds, ..
                } => {
                    timeout = timeout_seconds.map(|s| Duration::from_secs(u64::from(s)));
                }
                Statement::ValidateClientCertificate {
                    validate_trust,
                    validate_not_before,
                    validate_not_after,
                    ignore_error,
                    identities,
                    ..
                } => {
                    let spec = front::CallerCheckSpec {
                        validate_trust: *validate_trust,
                        validate_not_before: *validate_not_before,
                        validate_not_after: *validate_not_after,
                        ignore_error: *ignore_error,
                        identities,
                    };
                    let source = placed.origin();
                    if let Some(check) =
                        front::caller_check(self.config, &spec, source, &mut self.problems)
                    {
                        caller_checks.push(Arc::new(check));
                    }
                }
                Statement::ForwardClientCertificate { header, format, .. } => {
                    // The policy core checked the name is an HTTP token.
                    if let Ok(name) = HeaderName::from_bytes(header.as_bytes()) {
                        caller_headers.push(CallerHeader {
                            name,
                            format: *format,
                        });
                    }
                }
                Statement::Base { .. } => {}
            }
        }
        let backend = backend?;
        let client_certificates = match policy_certificate {
            Some(c) => vec![c],
            None => backend.settings.client_certificates.clone(),
        };
        let mut request_headers: Vec<HeaderOp> = backend
            .settings
            .headers
            .iter()
            .map(|(n, v)| HeaderOp {
                name: n.clone(),
                action: ExistsAction::Override,
                values: vec![v.clone()],
            })
            .collect();
        request_headers.extend(policy_headers);
        Some(RequestPlan {
            backend,
            client_certificates,
            request_headers,
            response_headers: effective
                .outbound
                .iter()
                .filter_map(|p| self.header_op(&p.statement, target))
                .collect(),
            error_headers: effective
                .on_error
                .iter()
                .filter_map(|p| self.header_op(&p.statement, target))
                .collect(),
            timeout,
            caller_checks,
            caller_headers,
        })
    }
}

impl Context<'_> {
    /// The header step of a `set-header` statement (`None` for other statements). A name or
    /// value the policy core let through but `http` refuses is a problem, never a dropped step.
    fn header_op(&mut self, statement: &Statement, target: &str) -> Option<HeaderOp> {
        let Statement::SetHeader {
            name,
            action,
            values,
            location,
        } = statement
        else {
            return None;
        };
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            self.problems.push(
                "PolicyInvalidAttribute",
                format!("{target}: {location}"),
                "the header name is not valid",
            );
            return None;
        };
        let mut parsed = Vec::with_capacity(values.len());
        for v in values {
            match HeaderValue::from_str(v) {
                Ok(v) => parsed.push(v),
                Err(_) => self.problems.push(
                    "PolicyInvalidValue",
                    format!("{target}: {location}"),
                    "a header value is not valid",
                ),
            }
        }
        Some(HeaderOp {
            name,
            action: *action,
            values: parsed,
        })
    }
}

#[cfg(test)]
mod tests;
