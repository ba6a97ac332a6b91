//! The web portal: server-rendered pages (askama) made interactive with htmx, served by the
//! admin listener. A client of the management API: every change goes through the same route
//! handlers as a REST call (in process), so the portal can do nothing the API would refuse.
//!
//! Sign-in takes any management token (the bootstrap token or a named one) and opens a session (cookie: HttpOnly, SameSite=Strict),
//! rate limited per client and in all ([`limit`]); sessions end when idle and at a fixed age
//! ([`sessions`]). Every state-changing request must carry the session's CSRF token in
//! `X-CSRF-Token`, which the pages give htmx. A session acts with its token's role: pages
//! offer only what the role allows ([`Chrome`]), and the route handlers they call check it. Every asset is built into the binary; nothing
//! loads from elsewhere, and no page has inline script or style, so the Content-Security-Policy
//! allows none.

mod apis;
mod audit;
mod backends;
mod certificates;
mod console;
mod hostnames;
mod limit;
mod sessions;
mod tokens;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use askama::Template;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::AppState;
use gatehouse_model::entity::token::Role;
pub use sessions::Sessions;
pub(crate) use sessions::Signed;

const COOKIE: &str = "gatehouse_session";

/// Whether the portal (not the bearer-token API) serves `path`.
pub(crate) fn owns(path: &str) -> bool {
    path == "/"
        || path == "/login"
        || path == "/logout"
        || path.starts_with("/ui/")
        || path.starts_with("/assets/")
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The portal's routes.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/logout", post(logout))
        .route(
            "/ui/certificates",
            get(certificates::page).post(certificates::upload),
        )
        .route(
            "/ui/certificates/{id}",
            axum::routing::delete(certificates::delete),
        )
        .route(
            "/ui/certificates/{id}/versions",
            get(certificates::versions),
        )
        .route("/ui/expiring", get(certificates::expiring))
        .route(
            "/ui/certificates/{id}/rollback",
            post(certificates::rollback),
        )
        .route("/ui/certificates/{id}/refresh", post(certificates::refresh))
        .route(
            "/ui/ca-certificates",
            get(certificates::ca_page).post(certificates::ca_upload),
        )
        .route(
            "/ui/ca-certificates/{id}",
            axum::routing::delete(certificates::ca_delete),
        )
        .route("/ui/hostnames", get(hostnames::page).post(hostnames::save))
        .route(
            "/ui/hostnames/{id}",
            axum::routing::delete(hostnames::delete),
        )
        .route("/ui/backends", get(backends::page).post(backends::save))
        .route("/ui/backends/new", get(backends::new_form))
        .route(
            "/ui/backends/{id}",
            get(backends::edit_form).delete(backends::delete),
        )
        .route("/ui/apis", get(apis::page).post(apis::create))
        .route("/ui/apis/{id}", get(apis::detail).delete(apis::delete))
        .route("/ui/apis/{id}/operations", post(apis::add_operation))
        .route(
            "/ui/apis/{id}/operations/{op}",
            axum::routing::delete(apis::delete_operation),
        )
        .route("/ui/apis/{id}/credentials", post(apis::save_credentials))
        .route("/ui/policy", get(apis::policy_page).post(apis::policy_save))
        .route("/ui/console", get(console::page).post(console::send))
        .route("/ui/audit", get(audit::page))
        .route("/ui/tokens", get(tokens::page).post(tokens::create))
        .route("/ui/tokens/{name}", delete(tokens::revoke))
        .route_layer(middleware::from_fn_with_state(state, require_session));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/certificates") }))
        .route("/login", get(login_page).post(login))
        .route("/assets/{file}", get(asset))
        .merge(signed_in)
}

/// Pages need a session (else they go to sign-in); changes also need its CSRF token.
async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = session_id(request.headers());
    let session = id.as_deref().and_then(|id| state.sessions.touch(id));
    // The token is found again on every request: once revoked (or expired), its sessions end.
    let found = session.and_then(|mut signed| {
        let principal = state.principal_by_hash(&signed.token_hash)?;
        signed.role = principal.role;
        signed.token.clone_from(&principal.name);
        Some((signed, principal))
    });
    let Some((signed, principal)) = found else {
        if let Some(id) = &id {
            state.sessions.close(id);
        }
        if request.headers().contains_key("hx-request") {
            // htmx follows this header to the sign-in page instead of swapping a fragment.
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response
                .headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/login"));
            return response;
        }
        return Redirect::to("/login").into_response();
    };
    if request.method() != Method::GET {
        let presented = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let ok = aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            signed.csrf.as_bytes(),
        )
        .is_ok();
        if !ok {
            return (
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token; reload the page",
            )
                .into_response();
        }
    }
    let actor = gatehouse_model::audit::Actor {
        name: format!(
            "portal session {} ({})",
            signed.label,
            principal.audit_name()
        ),
        via: "portal".into(),
        address: crate::peer_address(&request),
    };
    request.extensions_mut().insert(signed);
    // The portal calls the API's handlers in this task: their changes are this session's, and
    // each route checks the session's role as it checks a token's.
    crate::auth::PRINCIPAL
        .scope(
            principal,
            gatehouse_model::audit::ACTOR.scope(actor, next.run(request)),
        )
        .await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
}

async fn login_page(headers: HeaderMap, State(state): State<AppState>) -> Response {
    if session_id(&headers)
        .and_then(|id| state.sessions.touch(&id))
        .is_some()
    {
        return Redirect::to("/ui/certificates").into_response();
    }
    render(&LoginPage { error: None })
}

async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    // Served without connection info (in-process calls), every attempt counts as one client's:
    // stricter, never looser.
    let client = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.0.ip());
    let limiter = &state.sessions.sign_in;
    if let Err(wait) = limiter.attempt(client, Instant::now()) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut response = render(&LoginPage {
            error: Some(format!(
                "Too many failed sign-ins. Try again in {seconds} seconds."
            )),
        });
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    let Some(principal) = state.principal(token) else {
        let mut response = render(&LoginPage {
            error: Some("That is not the admin token or a live named token.".into()),
        });
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    };
    limiter.succeeded(client, Instant::now());
    let Some((id, _)) = state.sessions.open(principal.hash) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session").into_response();
    };
    let mut response = Redirect::to("/ui/certificates").into_response();
    // Over HTTPS the browser must never send the cookie in clear text.
    let secure = if state.https { "; Secure" } else { "" };
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        sessions::LIFETIME.as_secs()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions.close(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert("hx-redirect", HeaderValue::from_static("/login"));
    h.insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "gatehouse_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &'static str) = match file.as_str() {
        "htmx.min.js" => (
            include_bytes!("../../assets/htmx.min.js"),
            "text/javascript",
        ),
        "app.css" => (include_bytes!("../../assets/app.css"), "text/css"),
        "app.js" => (include_bytes!("../../assets/app.js"), "text/javascript"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Renders a template; a rendering failure is logged and answered with 500.
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "portal template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A fragment that htmx puts somewhere other than the request's target (an error next to a
/// form, a notice above a list).
pub(crate) fn retarget(mut response: Response, target: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(target) {
        response.headers_mut().insert("hx-retarget", v);
        response
            .headers_mut()
            .insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    }
    response
}

/// What the management API answered.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn ok(&self) -> bool {
        self.status.is_success()
    }
}

/// Calls a management route in process, through the same handlers as the REST API.
pub(crate) async fn api(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut builder = http::Request::builder().method(method).uri(path);
    if method_is_delete(&builder) {
        builder = builder.header(header::IF_MATCH, "*");
    }
    let body = match body {
        Some(v) => Body::from(serde_json::to_vec(&v).unwrap_or_default()),
        None => Body::empty(),
    };
    let Ok(request) = builder
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
    else {
        return internal_reply();
    };
    let service = crate::routes::add(Router::new()).with_state(state.clone());
    let Ok(response) = service.oneshot(request).await;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn method_is_delete(builder: &http::request::Builder) -> bool {
    builder.method_ref() == Some(&Method::DELETE)
}

fn internal_reply() -> Reply {
    Reply {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: Value::Null,
    }
}

/// An API error as the pages show it: the message, and each detail with where it is.
#[derive(Debug)]
pub(crate) struct ErrorView {
    pub(crate) message: String,
    pub(crate) details: Vec<(String, String)>,
}

impl ErrorView {
    pub(crate) fn from_reply(reply: &Reply) -> Self {
        let error = &reply.body["error"];
        Self {
            message: error["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the server answered {}", reply.status)),
            details: error["details"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            (
                                d["target"].as_str().unwrap_or_default().to_string(),
                                d["message"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub(crate) fn message(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorFragment<'a> {
    pub(crate) error: &'a ErrorView,
}

#[derive(Template)]
#[template(path = "error_page.html")]
struct ErrorPage {
    chrome: Chrome,
    error: ErrorView,
}

/// A whole page that shows only an error.
pub(crate) fn error_page(signed: Signed, active: &str, error: ErrorView) -> Response {
    render(&ErrorPage {
        chrome: Chrome::new(&signed, active),
        error,
    })
}

/// A whole page for a role that may not do what was asked (403).
pub(crate) fn forbidden_page(signed: Signed, active: &str, what: &str, needed: Role) -> Response {
    let message = format!(
        "{what} needs the {needed} role; this session's token '{}' is a {}.",
        signed.token, signed.role
    );
    let mut response = error_page(signed, active, ErrorView::message(message));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// Renders an error for `target`.
pub(crate) fn error_at(error: &ErrorView, target: &str) -> Response {
    retarget(render(&ErrorFragment { error }), target)
}

/// Values of a form that may repeat (multi-selects, repeated fields).
pub(crate) fn all<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
        .collect()
}

/// Checks ids before they become part of a management path: the browser's `pattern` is a
/// convenience, this is the rule (an id with `?`, `/` or `%` would address something else).
pub(crate) fn check_ids(ids: &[(&str, &str)]) -> Result<(), ErrorView> {
    for (what, id) in ids {
        if let Err(e) = gatehouse_model::validate_id(id, what) {
            return Err(ErrorView {
                message: e.to_string(),
                details: e
                    .details()
                    .iter()
                    .map(|d| (d.target.clone(), d.message.clone()))
                    .collect(),
            });
        }
    }
    Ok(())
}

/// The value of a form field exactly as typed (passwords and secrets are not trimmed).
pub(crate) fn raw<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The first value of a form field, trimmed (empty when absent).
pub(crate) fn one<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or_default()
}

/// What every page's frame needs: the CSRF token for htmx, the navigation, who is signed in,
/// and what their role lets the page offer (a page shows no form its role may not submit; the
/// routes refuse them anyway).
pub(crate) struct Chrome {
    pub(crate) csrf: String,
    /// Navigation entries: (href, label, active).
    pub(crate) nav: Vec<(&'static str, &'static str, bool)>,
    /// The token signed in with.
    pub(crate) token: String,
    pub(crate) role: Role,
}

impl Chrome {
    pub(crate) fn new(signed: &Signed, active: &str) -> Self {
        let role = signed.role;
        let nav = [
            ("/ui/certificates", "Certificates", Role::Reader),
            ("/ui/ca-certificates", "CA certificates", Role::Reader),
            ("/ui/hostnames", "Host names", Role::Reader),
            ("/ui/backends", "Back ends", Role::Reader),
            ("/ui/apis", "APIs", Role::Reader),
            ("/ui/policy", "Global policy", Role::Reader),
            ("/ui/console", "Test console", Role::Operator),
            ("/ui/audit", "Audit trail", Role::Reader),
            ("/ui/tokens", "Tokens", Role::Admin),
        ]
        .into_iter()
        .filter(|(_, _, needed)| role.allows(*needed))
        .map(|(href, label, _)| (href, label, href == active))
        .collect();
        Self {
            csrf: signed.csrf.clone(),
            nav,
            token: signed.token.clone(),
            role,
        }
    }
}

/// Whether the page being rendered may offer changes to certificates, back ends, APIs and
/// policies: the signed-in token's role, read from the request's task so that fragments
/// rendered on their own ask the same question as whole pages.
pub(crate) fn may_operate() -> bool {
    may(Role::Operator)
}

/// Whether the page being rendered may offer changes to tokens and hostname configurations.
pub(crate) fn may_administer() -> bool {
    may(Role::Admin)
}

fn may(needed: Role) -> bool {
    crate::auth::PRINCIPAL
        .try_with(|p| p.role.allows(needed))
        .unwrap_or(false)
}
