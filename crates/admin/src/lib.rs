//! Gatehouse's control plane: the management REST API (APIM-shaped JSON) over the
//! configuration store.
//!
//! - [`ControlPlane`] (from `gatehouse-control`): the change path every handler writes through;
//!   its errors are mapped to HTTP here.
//! - [`router`]: the axum router of every management route ([`routes::ROUTES`]), each behind
//!   a token whose role reaches the route's ([`auth`]: the bootstrap token [`AdminAuth`] and
//!   the named tokens of `/tokens`); `GET /health` is the only open route.
//! - [`ApiError`]: the one mapping from failures to `{"error":{...}}` answers.
//! - [`AllowedHosts`]: the `Host` names the listener answers to (DNS rebinding).
//!
//! It depends on the model, the store and the certificate and policy cores; the gateway
//! (data plane) never depends on it, and reads only the snapshots it publishes.

mod auth;
mod error;
mod handlers;
mod host;
mod listing;
pub mod openapi;
mod portal;
mod request;
pub mod routes;
mod security_headers;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub use auth::{AdminAuth, InvalidTokenHash, hash_token};
pub use error::ApiError;
pub use gatehouse_control::{ControlPlane, Limits, StartError, Transaction};
pub use handlers::probe::ProbeFn;
pub use host::{AllowedHosts, InvalidHostName};
pub use portal::Sessions;

/// Renders the data plane's metrics as Prometheus text; provided by whoever runs a gateway.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Looks up the gateway's record of a traced call by request id, as JSON.
pub type CallLookup = Arc<dyn Fn(&str) -> Option<serde_json::Value> + Send + Sync>;

/// What the portal's test console needs of a gateway running in this process.
#[derive(Clone)]
pub struct GatewayLink {
    /// Where the gateway's plain listener listens (an unspecified address means this host),
    /// when it is on.
    pub addr: Option<std::net::SocketAddr>,
    /// Where the gateway's TLS listener listens, when it is on.
    pub tls_addr: Option<std::net::SocketAddr>,
    /// The gateway's record of a traced call, by request id, as JSON.
    pub call: CallLookup,
    /// The `x-gatehouse-trace` value that makes the gateway record a call (a secret of the
    /// process: never shown); `None` means calls cannot be traced.
    pub trace_key: Option<http::HeaderValue>,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The control plane.
    pub cp: Arc<ControlPlane>,
    /// The bootstrap token (an admin), set at start.
    pub auth: Arc<AdminAuth>,
    /// The gateway's metrics, when a gateway runs in this process.
    pub metrics: Option<MetricsSource>,
    /// The gateway, for the portal's test console.
    pub gateway: Option<GatewayLink>,
    /// The portal's sign-in sessions.
    pub sessions: Arc<portal::Sessions>,
    /// The listener serves HTTPS: the session cookie is `Secure`.
    pub https: bool,
    /// The `Host` names the listener answers to.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Fetches and refreshes certificates referenced from secret stores; `None` refuses
    /// references.
    pub secrets: Option<Arc<gatehouse_secrets::Refresher>>,
    /// The gateway's pre-flight probe, when a gateway runs in this process.
    pub probe: Option<ProbeFn>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("cp", &self.cp)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

/// Paths served without the admin token.
const OPEN_PATHS: &[&str] = &["/health"];

/// The management API (every route of [`routes::ROUTES`] behind the token, plus `/health`)
/// and the web portal (behind a sign-in session). Every request must name an allowed host
/// ([`AllowedHosts`]), and every answer carries headers that keep browsers from framing,
/// sniffing or caching it. Serve it with connection info (`SocketAddr`) so that sign-in is
/// rate limited per client, not only in all.
pub fn router(state: AppState) -> Router {
    routes::add(Router::new())
        .merge(portal::router(state.clone()))
        .route("/health", get(health))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_token_unless_open,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            host::require_allowed_host,
        ))
        .layer(middleware::from_fn(security_headers::add))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every path but the open ones needs a token, including unknown paths: an unauthenticated
/// caller learns nothing about which routes exist. The token's principal is set for the
/// request's task: each route checks its role against it, and changes are recorded under its
/// name, from the caller's address.
async fn require_token_unless_open(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || portal::owns(path) {
        return next.run(request).await;
    }
    let Some(principal) = auth::bearer(request.headers().get(http::header::AUTHORIZATION))
        .and_then(|token| state.principal(token))
    else {
        return ApiError::unauthorized().into_response();
    };
    let actor = gatehouse_model::audit::Actor {
        name: principal.audit_name(),
        via: "api".into(),
        address: peer_address(&request),
    };
    auth::PRINCIPAL
        .scope(
            principal,
            gatehouse_model::audit::ACTOR.scope(actor, next.run(request)),
        )
        .await
}

/// The client's address, when the listener was served with connection info.
pub(crate) fn peer_address(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// `GET /metrics`: the gateway's metrics in Prometheus text format.
async fn metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(render) => (
            [(
                http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(),
        )
            .into_response(),
        None => ApiError::new(
            http::StatusCode::NOT_FOUND,
            "MetricsUnavailable",
            "no gateway runs in this process",
        )
        .into_response(),
    }
}

/// `status` is `degraded` with the reasons when the configuration store cannot be reached
/// (the node serves what it has) or the gateway does not serve the newest committed revision;
/// `revision` is the one the gateway serves, `committed` the newest this node knows.
async fn health(State(s): State<AppState>) -> Response {
    let snapshots = s.cp.snapshots();
    let committed = s.cp.config().revision;
    let reasons: Vec<String> =
        s.cp.store_trouble()
            .into_iter()
            .chain(snapshots.failure().map(|f| f.to_string()))
            .collect();
    let mut body = json!({"status": "ok", "revision": snapshots.serving(), "committed": committed});
    if !reasons.is_empty() {
        body["status"] = json!("degraded");
        body["reasons"] = json!(reasons);
    }
    Json(body).into_response()
}

async fn no_route() -> ApiError {
    ApiError::no_route()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        http::StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not take that method; see GET /openapi.json",
    )
}
