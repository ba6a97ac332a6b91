//! Connection pools to back ends. One pool per (back end, TLS settings, client identities and
//! their versions, pool settings): a change of certificate or trust gets a new pool and never
//! reuses a connection made under the old one; pools no configuration needs are dropped, and
//! their connections close once their last request is done.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_model::snapshot::{BackendRoute, ClientIdentity, PoolSettings, TlsSettings};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::crypto::CryptoProvider;

use crate::body::RequestBody;
use crate::connect::Connector;
use crate::metrics::{Metrics, UpstreamStats};
use crate::tls::{SystemRoots, client_config};

/// What makes two routes share connections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct UpstreamKey {
    backend: Arc<str>,
    tls: TlsSettings,
    identities: Vec<(String, u64)>,
    pool: PoolSettings,
}

/// A pool of connections and the client that uses it.
pub(crate) struct Upstream {
    pub(crate) client: Client<Connector, RequestBody>,
    pub(crate) stats: Arc<UpstreamStats>,
    /// Metric and log label: the back end entity id, or the origin.
    pub(crate) label: Arc<str>,
}

/// Every live pool, by key. Used when a snapshot is applied, never per request.
pub(crate) struct Pools {
    map: Mutex<HashMap<UpstreamKey, Arc<Upstream>>>,
    roots: SystemRoots,
    provider: Arc<CryptoProvider>,
    connect_timeout: Duration,
}

impl Pools {
    pub(crate) fn new(
        roots: SystemRoots,
        provider: Arc<CryptoProvider>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            roots,
            provider,
            connect_timeout,
        }
    }

    /// The pool for a route's back end and certificates; `live` collects the keys in use.
    ///
    /// # Errors
    /// A sentence for the log when no TLS configuration can be built (the route then fails
    /// closed with 503).
    pub(crate) fn get(
        &self,
        route: &BackendRoute,
        identities: &[Arc<ClientIdentity>],
        metrics: &Metrics,
        live: &mut HashSet<UpstreamKey>,
    ) -> Result<Arc<Upstream>, String> {
        let settings = &route.settings;
        let label: Arc<str> = match &settings.backend_id {
            Some(id) => id.as_str().into(),
            None => route.url.authority.as_str().into(),
        };
        let key = UpstreamKey {
            backend: Arc::clone(&label),
            tls: (*settings.tls).clone(),
            identities: identities
                .iter()
                .map(|i| (i.id.clone(), i.version))
                .collect(),
            pool: settings.pool,
        };
        live.insert(key.clone());
        let mut map = self
            .map
            .lock()
            .map_err(|_| "pool registry poisoned".to_string())?;
        if let Some(found) = map.get(&key) {
            return Ok(Arc::clone(found));
        }
        let tls = client_config(&settings.tls, identities, &self.roots, &self.provider)
            .map_err(|e| format!("cannot build the TLS configuration: {e}"))?;
        let stats = metrics.upstream(&label);
        let connector = Connector {
            tls,
            stats: Arc::clone(&stats),
            connect_timeout: self.connect_timeout,
            presents_certificate: !identities.is_empty(),
            backend: Arc::clone(&label),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(usize::try_from(settings.pool.max_idle).unwrap_or(usize::MAX))
            .pool_idle_timeout(settings.pool.idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let upstream = Arc::new(Upstream {
            client,
            stats,
            label,
        });
        map.insert(key, Arc::clone(&upstream));
        Ok(upstream)
    }

    /// Drops every pool not in `live`.
    pub(crate) fn retain(&self, live: &HashSet<UpstreamKey>) {
        if let Ok(mut map) = self.map.lock() {
            let before = map.len();
            map.retain(|k, _| live.contains(k));
            let retired = before - map.len();
            if retired > 0 {
                tracing::debug!(retired, "connection pools retired");
            }
        }
    }
}
