//! Portal pages for APIs: their settings and operations, the Backend panel's gateway
//! credentials, and the policy editor for global, API and operation scope.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::url::ServiceUrl;
use gatehouse_policy::{PolicyDocument, Scope};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::certificates::rows;
use super::{Chrome, ErrorView, Signed, api, check_ids, error_at, error_page, one, raw, render};
use crate::AppState;

/// An API as the list shows it.
pub(crate) struct ApiRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) service_url: String,
    /// Served by the TLS listener only (`protocols` without `http`).
    pub(crate) https_only: bool,
}

impl ApiRow {
    fn from_entity(entity: &Value) -> Self {
        let p = &entity["properties"];
        Self {
            id: entity["name"].as_str().unwrap_or_default().to_string(),
            name: p["displayName"].as_str().unwrap_or_default().to_string(),
            path: p["path"].as_str().unwrap_or_default().to_string(),
            service_url: p["serviceUrl"].as_str().unwrap_or_default().to_string(),
            https_only: p["protocols"]
                .as_array()
                .is_some_and(|list| !list.iter().any(|p| p == "http")),
        }
    }
}

/// An operation as the API page shows it.
pub(crate) struct OperationRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) method: String,
    pub(crate) template: String,
}

impl OperationRow {
    fn from_entity(entity: &Value) -> Self {
        let p = &entity["properties"];
        Self {
            id: entity["name"].as_str().unwrap_or_default().to_string(),
            name: p["displayName"].as_str().unwrap_or_default().to_string(),
            method: p["method"].as_str().unwrap_or_default().to_string(),
            template: p["urlTemplate"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// Every API, or why they could not be read.
pub(crate) async fn api_rows(state: &AppState) -> Result<Vec<ApiRow>, ErrorView> {
    let reply = api(state, Method::GET, "/apis", None).await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    Ok(reply.body["value"]
        .as_array()
        .map(|v| v.iter().map(ApiRow::from_entity).collect())
        .unwrap_or_default())
}

/// The operations of API `id`.
pub(crate) async fn operation_rows(
    state: &AppState,
    id: &str,
) -> Result<Vec<OperationRow>, ErrorView> {
    let reply = api(state, Method::GET, &format!("/apis/{id}/operations"), None).await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    Ok(reply.body["value"]
        .as_array()
        .map(|v| v.iter().map(OperationRow::from_entity).collect())
        .unwrap_or_default())
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert("hx-redirect", v);
    }
    response
}

#[derive(Template)]
#[template(path = "apis.html")]
struct ApisPage {
    chrome: Chrome,
    apis: Vec<ApiRow>,
    notice: Option<String>,
    error: Option<ErrorView>,
}

/// `GET /ui/apis`
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (apis, error) = match api_rows(&state).await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    render(&ApisPage {
        chrome: Chrome::new(&signed, "/ui/apis"),
        apis,
        notice: query
            .get("deleted")
            .map(|id| format!("Deleted API '{id}'.")),
        error,
    })
}

/// `POST /ui/apis`: creates an API (id, name, URL suffix, service URL), or saves the settings
/// of an existing one (`editing` names it), keeping the fields the form does not show.
pub(crate) async fn create(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let id = one(&form, "id");
    if id.is_empty() {
        return error_at(&ErrorView::message("Give the API an id."), "#api-result");
    }
    if let Err(e) = check_ids(&[("id", id)]) {
        return error_at(&e, "#api-result");
    }
    let existing = api(&state, Method::GET, &format!("/apis/{id}"), None).await;
    let mut props = match existing.body.get("properties") {
        Some(Value::Object(p)) if existing.ok() && one(&form, "editing") == id => p.clone(),
        _ if existing.ok() => {
            return error_at(
                &ErrorView::message(format!(
                    "An API '{id}' already exists; open it from the list to change it."
                )),
                "#api-result",
            );
        }
        _ => serde_json::Map::new(),
    };
    props.insert("path".into(), json!(one(&form, "path")));
    for (field, key) in [("name", "displayName"), ("service_url", "serviceUrl")] {
        let v = one(&form, field);
        if v.is_empty() {
            props.remove(key);
        } else {
            props.insert(key.into(), json!(v));
        }
    }
    let reply = api(
        &state,
        Method::PUT,
        &format!("/apis/{id}"),
        Some(json!({ "properties": props })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#api-result");
    }
    redirect(&format!("/ui/apis/{id}"))
}

/// The Backend panel: the API's gateway credentials.
struct CredentialsPanel {
    api: String,
    /// `none`, `clientCertificate` or `basic`.
    kind: String,
    certificate: String,
    username: String,
    has_password: bool,
    /// (id, label) of every client certificate.
    certificates: Vec<(String, String)>,
    /// The back end whose TLS settings apply, by service URL.
    backend: Option<String>,
    notice: Option<String>,
}

async fn credentials_panel(
    state: &AppState,
    id: &str,
    notice: Option<String>,
) -> Result<CredentialsPanel, ErrorView> {
    let reply = api(
        state,
        Method::GET,
        &format!("/apis/{id}/gatewayCredentials"),
        None,
    )
    .await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    let p = &reply.body["properties"];
    let certificates = rows(state, "/certificates")
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c.label()))
        .collect();
    let config = state.cp.config();
    let backend = config
        .apis
        .get(id)
        .and_then(|a| a.value.service_url.as_deref())
        .and_then(|u| ServiceUrl::parse(u).ok())
        .and_then(|u| config.backend_for_url(&u).map(|(b, _)| b.to_string()));
    Ok(CredentialsPanel {
        api: id.to_string(),
        kind: p["type"].as_str().unwrap_or("none").to_string(),
        certificate: p["certificateId"].as_str().unwrap_or_default().to_string(),
        username: p["username"].as_str().unwrap_or_default().to_string(),
        has_password: p["password"].is_string(),
        certificates,
        backend,
        notice,
    })
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsFragment {
    credentials: CredentialsPanel,
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    chrome: Chrome,
    api: ApiRow,
    operations: Vec<OperationRow>,
    credentials: CredentialsPanel,
}

/// `GET /ui/apis/{id}`
pub(crate) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_page(signed, "/ui/apis", e);
    }
    let reply = api(&state, Method::GET, &format!("/apis/{id}"), None).await;
    if !reply.ok() {
        return error_page(signed, "/ui/apis", ErrorView::from_reply(&reply));
    }
    let loaded = async {
        Ok::<_, ErrorView>((
            operation_rows(&state, &id).await?,
            credentials_panel(&state, &id, None).await?,
        ))
    };
    match loaded.await {
        Ok((operations, credentials)) => render(&ApiPage {
            chrome: Chrome::new(&signed, "/ui/apis"),
            api: ApiRow::from_entity(&reply.body),
            operations,
            credentials,
        }),
        Err(e) => error_page(signed, "/ui/apis", e),
    }
}

/// `DELETE /ui/apis/{id}`
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#api-notice");
    }
    let reply = api(&state, Method::DELETE, &format!("/apis/{id}"), None).await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#api-notice");
    }
    redirect(&format!("/ui/apis?deleted={id}"))
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsList {
    api_id: String,
    operations: Vec<OperationRow>,
    notice: Option<String>,
}

async fn operations_fragment(state: &AppState, id: &str, notice: String) -> Response {
    match operation_rows(state, id).await {
        Ok(operations) => render(&OperationsList {
            api_id: id.to_string(),
            operations,
            notice: Some(notice),
        }),
        Err(e) => error_at(&e, "#operation-result"),
    }
}

/// `POST /ui/apis/{id}/operations`
pub(crate) async fn add_operation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let op = one(&form, "operation");
    if op.is_empty() {
        return error_at(
            &ErrorView::message("Give the operation an id."),
            "#operation-result",
        );
    }
    if let Err(e) = check_ids(&[("api", &id), ("operation", op)]) {
        return error_at(&e, "#operation-result");
    }
    let mut props = json!({
        "method": one(&form, "method"),
        "urlTemplate": one(&form, "template"),
    });
    let name = one(&form, "name");
    props["displayName"] = json!(if name.is_empty() { op } else { name });
    let reply = api(
        &state,
        Method::PUT,
        &format!("/apis/{id}/operations/{op}"),
        Some(json!({ "properties": props })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#operation-result");
    }
    operations_fragment(&state, &id, format!("Saved operation '{op}'.")).await
}

/// `DELETE /ui/apis/{id}/operations/{op}`
pub(crate) async fn delete_operation(
    State(state): State<AppState>,
    Path((id, op)): Path<(String, String)>,
) -> Response {
    if let Err(e) = check_ids(&[("api", &id), ("operation", &op)]) {
        return error_at(&e, "#operation-result");
    }
    let reply = api(
        &state,
        Method::DELETE,
        &format!("/apis/{id}/operations/{op}"),
        None,
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#operation-result");
    }
    operations_fragment(&state, &id, format!("Deleted operation '{op}'.")).await
}

/// `POST /ui/apis/{id}/credentials`: None, a client certificate or Basic; in effect for the
/// next call.
pub(crate) async fn save_credentials(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = check_ids(&[("api", &id)]) {
        return error_at(&e, "#credentials-result");
    }
    let body = match one(&form, "kind") {
        "clientCertificate" => {
            json!({"type": "clientCertificate", "certificateId": one(&form, "certificate")})
        }
        "basic" => {
            json!({"type": "basic", "username": one(&form, "username"), "password": raw(&form, "password")})
        }
        _ => json!({"type": "none"}),
    };
    let probe = if form.iter().any(|(k, _)| k == "probe") {
        "?probe=true"
    } else {
        ""
    };
    let reply = api(
        &state,
        Method::PUT,
        &format!("/apis/{id}/gatewayCredentials{probe}"),
        Some(json!({ "properties": body })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#credentials-result");
    }
    let notice = match reply.body["properties"]["type"].as_str() {
        Some("clientCertificate") => format!(
            "Saved: the gateway presents '{}' (thumbprint {}) to the back end from the next call on.",
            reply.body["properties"]["certificateId"]
                .as_str()
                .unwrap_or_default(),
            reply.body["properties"]["thumbprint"]
                .as_str()
                .unwrap_or_default()
        ),
        Some("basic") => {
            "Saved: the gateway sends HTTP Basic credentials from the next call on.".to_string()
        }
        _ => "Saved: the gateway presents no credentials of this API from the next call on."
            .to_string(),
    };
    match credentials_panel(&state, &id, Some(notice)).await {
        Ok(credentials) => render(&CredentialsFragment { credentials }),
        Err(e) => error_at(&e, "#credentials-result"),
    }
}

/// The scope a policy page edits, from `?api=&operation=`.
struct PolicyTarget {
    api: String,
    operation: String,
}

impl PolicyTarget {
    fn from_query(query: &HashMap<String, String>) -> Self {
        let get = |k: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Self {
            api: get("api"),
            operation: get("operation"),
        }
    }

    fn from_form(form: &[(String, String)]) -> Self {
        Self {
            api: one(form, "api").to_string(),
            operation: one(form, "operation").to_string(),
        }
    }

    /// The ids named, checked before they become part of a path.
    fn check(&self) -> Result<(), ErrorView> {
        let mut ids = Vec::new();
        if !self.api.is_empty() {
            ids.push(("api", self.api.as_str()));
        }
        if !self.operation.is_empty() {
            ids.push(("operation", self.operation.as_str()));
        }
        check_ids(&ids)
    }

    fn scope(&self) -> Scope {
        match (self.api.is_empty(), self.operation.is_empty()) {
            (true, _) => Scope::Global,
            (false, true) => Scope::Api,
            (false, false) => Scope::Operation,
        }
    }

    fn api_path(&self) -> String {
        match self.scope() {
            Scope::Global => "/policies/policy".into(),
            Scope::Api => format!("/apis/{}/policies/policy", self.api),
            Scope::Operation => format!(
                "/apis/{}/operations/{}/policies/policy",
                self.api, self.operation
            ),
        }
    }

    fn describe(&self) -> String {
        match self.scope() {
            Scope::Global => "Global policy".into(),
            Scope::Api => format!("Policy of API '{}'", self.api),
            Scope::Operation => format!(
                "Policy of operation '{}' of API '{}'",
                self.operation, self.api
            ),
        }
    }
}

/// The editor: the scope's XML in a form.
struct PolicyEditor {
    api: String,
    operation: String,
    xml: String,
    /// False while the scope has no stored policy (the text is the default).
    stored: bool,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "policy_editor.html")]
struct PolicyEditorFragment {
    editor: PolicyEditor,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    title: String,
    api: String,
    operations: Vec<OperationRow>,
    editor: PolicyEditor,
}

async fn editor(
    state: &AppState,
    target: &PolicyTarget,
    notice: Option<String>,
) -> Result<PolicyEditor, ErrorView> {
    target.check()?;
    let reply = api(state, Method::GET, &target.api_path(), None).await;
    let (xml, stored) = if reply.ok() {
        (
            reply.body["properties"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            true,
        )
    } else if reply.status == StatusCode::NOT_FOUND
        && reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("is not set"))
    {
        (
            PolicyDocument::default_for_scope(target.scope()).to_xml(),
            false,
        )
    } else {
        return Err(ErrorView::from_reply(&reply));
    };
    Ok(PolicyEditor {
        api: target.api.clone(),
        operation: target.operation.clone(),
        xml,
        stored,
        notice,
    })
}

/// `GET /ui/policy?api=&operation=`
pub(crate) async fn policy_page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let target = PolicyTarget::from_query(&query);
    let active = if target.api.is_empty() {
        "/ui/policy"
    } else {
        "/ui/apis"
    };
    let loaded = async {
        let operations = if target.api.is_empty() {
            Vec::new()
        } else {
            operation_rows(&state, &target.api).await?
        };
        Ok::<_, ErrorView>((operations, editor(&state, &target, None).await?))
    };
    match loaded.await {
        Ok((operations, editor)) => render(&PolicyPage {
            chrome: Chrome::new(&signed, active),
            title: target.describe(),
            api: target.api.clone(),
            operations,
            editor,
        }),
        Err(e) => error_page(signed, active, e),
    }
}

/// `POST /ui/policy`: saves the XML (`action=save`) or removes the scope's policy
/// (`action=remove`); errors go next to the text, with where they are.
pub(crate) async fn policy_save(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let target = PolicyTarget::from_form(&form);
    if let Err(e) = target.check() {
        return error_at(&e, "#policy-errors");
    }
    let (reply, notice) = if one(&form, "action") == "remove" {
        (
            api(&state, Method::DELETE, &target.api_path(), None).await,
            "Removed: the default policy applies from the next call on.",
        )
    } else {
        let xml = form
            .iter()
            .find(|(k, _)| k == "xml")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        (
            api(
                &state,
                Method::PUT,
                &target.api_path(),
                Some(json!({"properties": {"format": "rawxml", "value": xml}})),
            )
            .await,
            "Saved: in effect from the next call on.",
        )
    };
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#policy-errors");
    }
    match editor(&state, &target, Some(notice.to_string())).await {
        Ok(editor) => render(&PolicyEditorFragment { editor }),
        Err(e) => error_at(&e, "#policy-errors"),
    }
}
