//! Gatehouse's data plane: the gateway that routes API calls and forwards them to back ends,
//! presenting the configured client certificate in mutual TLS.
//!
//! - [`Gateway`]: attaches to the control plane's [`SnapshotCell`]; each published snapshot is
//!   turned, before `publish` returns, into a routing table whose operations are bound to
//!   connection pools ([`upstream`]) and metrics. Requests then read that table lock-free.
//! - Back-end TLS ([`tls`]): chain and name validation switches, trusted CAs, pins, session
//!   resumption, and the client certificate resolver. Failures are classified ([`Kind`]) into
//!   codes that say why and which setting fixes it.
//! - [`Metrics`]: atomics on the request path, Prometheus text on demand.
//!
//! Depends on the model (snapshots) and the certificate core only; never on the store or the
//! management API.

mod body;
mod connect;
mod error;
mod handler;
mod head;
mod headers;
mod metrics;
mod path;
mod server;
mod table;
mod tls;
mod trace;
mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::{Snapshot, SnapshotCell};
use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;

pub use body::ProxyBody;
pub use error::Kind;
pub use metrics::Metrics;
pub use server::Limits;
pub use tls::{Presented, SystemRoots, backend_provider};
pub use trace::CallRecord;

use handler::Shared;
use table::RouteTable;
use upstream::Pools;

/// How the gateway behaves, beyond what the configuration says.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a back end may take to answer (APIM's default: 300 s).
    pub backend_timeout: Duration,
    /// How long TCP connect plus TLS handshake may take.
    pub connect_timeout: Duration,
    /// Trust anchors for back ends without their own CAs.
    pub roots: SystemRoots,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Header and keep-alive timeouts, and the connection cap, of the client listener.
    pub limits: Limits,
}

/// The gateway: routing tables, pools, metrics.
pub struct Gateway {
    shared: Arc<Shared>,
    pools: Arc<Pools>,
    shutdown_grace: Duration,
    limits: Limits,
}

impl Gateway {
    /// A gateway with no routes until a snapshot is applied.
    pub fn new(options: Options, provider: Arc<CryptoProvider>) -> Self {
        Self {
            shared: Arc::new(Shared::new(
                Arc::new(Metrics::default()),
                options.backend_timeout,
            )),
            pools: Arc::new(Pools::new(options.roots, provider, options.connect_timeout)),
            shutdown_grace: options.shutdown_grace,
            limits: options.limits,
        }
    }

    /// Follows `cell`: applies its current snapshot now and every later one as it is
    /// published (before the management call that published it answers).
    pub fn attach(&self, cell: &SnapshotCell) {
        let shared = Arc::clone(&self.shared);
        let pools = Arc::clone(&self.pools);
        cell.on_publish(Box::new(move |snapshot| apply(&shared, &pools, snapshot)));
    }

    /// What the gateway recorded of a traced call (`x-gatehouse-trace`), by request id.
    pub fn call(&self, request_id: &str) -> Option<CallRecord> {
        self.shared.calls.find(request_id)
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// Serves `listener` until `shutdown` completes, then drains within the grace period.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        server::serve(
            listener,
            Arc::clone(&self.shared),
            self.limits,
            shutdown,
            self.shutdown_grace,
        )
        .await;
    }
}

fn apply(shared: &Shared, pools: &Pools, snapshot: &Arc<Snapshot>) {
    let started = std::time::Instant::now();
    let table = RouteTable::build(snapshot, pools, &shared.metrics);
    shared.table.store(Arc::new(table));
    tracing::debug!(
        revision = snapshot.revision,
        elapsed_us = started.elapsed().as_micros() as u64,
        "gateway routes updated"
    );
}
