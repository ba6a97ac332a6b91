//! Gatehouse's data plane: the gateway that routes API calls and forwards them to back ends,
//! presenting the configured client certificate in mutual TLS.
//!
//! - [`Gateway`]: attaches to the control plane's snapshots ([`Snapshots`], read-only); each published snapshot is
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
mod forwarded;
mod front;
pub mod fuzzing;
mod handler;
mod head;
mod headers;
mod metrics;
mod path;
mod probe;
mod relay;
mod server;
mod table;
mod tls;
mod trace;
mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::{Snapshot, Snapshots};
use rustls::crypto::CryptoProvider;

pub use body::ProxyBody;
pub use error::Kind;
pub use forwarded::Cidr;
pub use metrics::Metrics;
pub use server::{Limits, Listeners};
pub use tls::{Presented, SystemRoots, backend_provider};
pub use trace::CallRecord;

use front::{FrontState, FrontTable};
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
    /// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Real-IP` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Remember back-end certificate chains that verified, so a back end presenting the same
    /// chain again is not verified in full on every new connection (handshake signatures are
    /// always checked; an entry ends when a certificate of the chain expires).
    pub backend_chain_cache: bool,
    /// What serves HTTP/1.1 callers.
    pub http1_engine: Http1Engine,
}

/// The HTTP/1.1 implementation callers are served by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Http1Engine {
    /// The gateway's own relay, built for proxying (hyper still serves what it does not
    /// cover).
    #[default]
    Gatehouse,
    /// hyper's general-purpose server and client, for every request.
    Hyper,
}

/// The gateway: routing tables, TLS configurations, pools, metrics.
pub struct Gateway {
    shared: Arc<Shared>,
    pools: Arc<Pools>,
    front: Arc<FrontState>,
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
                options.limits,
                options.trusted_proxies,
                options.http1_engine == Http1Engine::Gatehouse,
            )),
            front: Arc::new(FrontState::new(Arc::clone(&provider))),
            pools: Arc::new(Pools::new(
                options.roots,
                provider,
                options.connect_timeout,
                options.backend_chain_cache,
            )),
            shutdown_grace: options.shutdown_grace,
            limits: options.limits,
        }
    }

    /// Follows `snapshots`: applies the current snapshot now and every later one as it is
    /// published (before the management call that published it answers).
    pub fn attach(&self, snapshots: &Snapshots) {
        let shared = Arc::clone(&self.shared);
        let pools = Arc::clone(&self.pools);
        let front = Arc::clone(&self.front);
        snapshots.on_publish(Box::new(move |snapshot| {
            apply(&shared, &pools, &front, snapshot);
        }));
    }

    /// A pre-flight probe of `route` presenting `identities`: a real TLS handshake with the
    /// settings the gateway would use, and a diagnosis as JSON; no request is sent.
    pub async fn probe(
        &self,
        route: &gatehouse_model::snapshot::BackendRoute,
        identities: &[Arc<gatehouse_model::snapshot::ClientIdentity>],
    ) -> serde_json::Value {
        probe::probe(&self.pools, route, identities).await
    }

    /// What the gateway recorded of a traced call (`x-gatehouse-trace`), by request id.
    pub fn call(&self, request_id: &str) -> Option<CallRecord> {
        self.shared.calls.find(request_id)
    }

    /// The `x-gatehouse-trace` value that makes this gateway record a call: a random secret of
    /// this process, for the portal's test console in the same process. It must not be shown
    /// or logged; a header with any other value is ignored. `None` when no randomness was
    /// available at start, and then no call is recorded.
    pub fn trace_key(&self) -> Option<http::HeaderValue> {
        self.shared.trace_key.value()
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// Serves `listeners` until `shutdown` completes, then drains within the grace period.
    pub async fn serve(&self, listeners: Listeners, shutdown: impl Future<Output = ()>) {
        server::serve(
            listeners,
            Arc::clone(&self.shared),
            self.limits,
            shutdown,
            self.shutdown_grace,
        )
        .await;
    }
}

fn apply(shared: &Shared, pools: &Pools, front: &FrontState, snapshot: &Arc<Snapshot>) {
    let started = std::time::Instant::now();
    let table = RouteTable::build(snapshot, pools, &shared.metrics);
    shared.table.store(Arc::new(table));
    // A changed or rotated certificate is served from the next handshake; connections already
    // open keep the configuration they were made with.
    shared
        .front
        .store(Arc::new(FrontTable::build(snapshot, front)));
    tracing::debug!(
        revision = snapshot.revision,
        elapsed_us = started.elapsed().as_micros() as u64,
        "gateway routes updated"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;
    use http::Request;
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;

    /// Sends `GET /nothing` with the given trace header; returns the request id it got.
    async fn call(addr: std::net::SocketAddr, trace: Option<&http::HeaderValue>) -> String {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = Request::get("/nothing").header(http::header::HOST, "gateway");
        if let Some(trace) = trace {
            request = request.header("x-gatehouse-trace", trace);
        }
        let response = sender
            .send_request(request.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn only_calls_with_the_process_trace_key_are_recorded() {
        let provider = Arc::new(backend_provider());
        let gateway = Arc::new(Gateway::new(
            Options {
                backend_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
                roots: SystemRoots::none(),
                shutdown_grace: Duration::from_secs(1),
                limits: Limits::default(),
                trusted_proxies: Vec::new(),
                backend_chain_cache: true,
                http1_engine: Http1Engine::Gatehouse,
            },
            provider,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = Arc::clone(&gateway);
        let task = tokio::spawn(async move {
            let listeners = Listeners {
                plain: Some(listener),
                tls: None,
            };
            serving
                .serve(listeners, async {
                    let _ = stopped.await;
                })
                .await;
        });

        let key = gateway.trace_key().expect("a trace key");
        let wrong = http::HeaderValue::from_static("1");
        for trace in [None, Some(&wrong)] {
            let id = call(addr, trace).await;
            assert!(gateway.call(&id).is_none(), "{trace:?} was recorded");
        }
        let id = call(addr, Some(&key)).await;
        let record = gateway.call(&id).expect("the keyed call is recorded");
        assert_eq!(record.status, 404);
        assert_eq!(record.error.as_deref(), Some("RouteNotFound"));

        let _ = stop.send(());
        task.await.unwrap();
    }
}
