//! The tokens page (admins only): named tokens with their roles, a form that makes one and
//! shows its value once, and revoking. Every action goes through `/tokens`.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use gatehouse_model::entity::token::Role;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Chrome, ErrorView, Signed, api, check_ids, error_at, forbidden_page, one, render};
use crate::AppState;

pub(crate) struct TokenRow {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created: String,
    pub(crate) created_by: String,
    pub(crate) expires: String,
    pub(crate) bootstrap: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    made: Option<(String, String)>,
    notice: Option<String>,
    error: Option<ErrorView>,
}

#[derive(Template)]
#[template(path = "token_list.html")]
struct TokenList {
    tokens: Vec<TokenRow>,
    /// A token just made: (name, value), shown this once.
    made: Option<(String, String)>,
    notice: Option<String>,
    error: Option<ErrorView>,
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .replace('T', " ")
        .chars()
        .take(19)
        .collect()
}

async fn list(state: &AppState) -> TokenList {
    let reply = api(state, Method::GET, "/tokens", None).await;
    if !reply.ok() {
        return TokenList {
            tokens: Vec::new(),
            made: None,
            notice: None,
            error: Some(ErrorView::from_reply(&reply)),
        };
    }
    let tokens = reply.body["value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|t| {
                    let p = &t["properties"];
                    TokenRow {
                        name: t["name"].as_str().unwrap_or_default().to_string(),
                        role: p["role"].as_str().unwrap_or_default().to_string(),
                        created: text(&p["created"]),
                        created_by: p["createdBy"].as_str().unwrap_or_default().to_string(),
                        expires: match text(&p["expiresAt"]) {
                            e if e.is_empty() => "never".into(),
                            e => e,
                        },
                        bootstrap: p["bootstrap"].as_bool().unwrap_or(false),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    TokenList {
        tokens,
        made: None,
        notice: None,
        error: None,
    }
}

/// `GET /ui/tokens`
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    if !super::may_administer() {
        return forbidden_page(signed, "/ui/tokens", "Managing tokens", Role::Admin);
    }
    let TokenList {
        tokens,
        made,
        notice,
        error,
    } = list(&state).await;
    render(&TokensPage {
        chrome: Chrome::new(&signed, "/ui/tokens"),
        tokens,
        made,
        notice,
        error,
    })
}

/// `POST /ui/tokens`: makes a token; the list comes back with its value shown once.
pub(crate) async fn create(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let name = one(&form, "name");
    if let Err(e) = check_ids(&[("name", name)]) {
        return error_at(&e, "#token-result");
    }
    let mut properties = json!({"name": name, "role": one(&form, "role")});
    let expires = one(&form, "expires");
    if !expires.is_empty() {
        // The date input gives a day; the token works until that day ends (UTC).
        properties["expiresAt"] = json!(format!("{expires}T23:59:59Z"));
    }
    let reply = api(
        &state,
        Method::POST,
        "/tokens",
        Some(json!({"properties": properties})),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#token-result");
    }
    let value = reply.body["properties"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut fragment = list(&state).await;
    fragment.made = Some((name.to_string(), value));
    let mut response = render(&fragment);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `DELETE /ui/tokens/{name}`: revokes at once.
pub(crate) async fn revoke(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("name", &name)]) {
        return error_at(&e, "#token-result");
    }
    let reply = api(&state, Method::DELETE, &format!("/tokens/{name}"), None).await;
    if reply.status != StatusCode::NO_CONTENT {
        return error_at(&ErrorView::from_reply(&reply), "#token-result");
    }
    let mut fragment = list(&state).await;
    fragment.notice = Some(format!(
        "Token '{name}' revoked: it is refused from now on, and its sessions have ended."
    ));
    render(&fragment)
}
