//! Portal pages for back ends: their TLS switches, trusted CAs, pins and credentials.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse as _, Response};
use gatehouse_policy::MASK;
use http::{HeaderValue, Method};
use serde_json::{Map, Value, json};

use super::certificates::{CertRow, rows};
use super::{Chrome, ErrorView, Signed, all, api, check_ids, error_at, one, raw, render};
use crate::AppState;

/// A back end as the list shows it.
struct BackendRow {
    id: String,
    url: String,
    title: String,
    validate_chain: bool,
    validate_name: bool,
    cas: Vec<String>,
    pins: usize,
    certificates: Vec<String>,
    headers: Vec<String>,
    authorization: Option<String>,
}

impl BackendRow {
    fn from_entity(entity: &Value) -> Self {
        let p = &entity["properties"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            id: entity["name"].as_str().unwrap_or_default().to_string(),
            url: p["url"].as_str().unwrap_or_default().to_string(),
            title: p["title"].as_str().unwrap_or_default().to_string(),
            validate_chain: p["tls"]["validateCertificateChain"]
                .as_bool()
                .unwrap_or(true),
            validate_name: p["tls"]["validateCertificateName"]
                .as_bool()
                .unwrap_or(true),
            cas: strings(&p["tls"]["caCertificateIds"]),
            pins: p["tls"]["serverCertificateThumbprints"]
                .as_array()
                .map_or(0, Vec::len),
            certificates: strings(&p["credentials"]["certificateIds"]),
            headers: p["credentials"]["header"]
                .as_object()
                .map(|h| h.keys().cloned().collect())
                .unwrap_or_default(),
            authorization: p["credentials"]["authorization"]["scheme"]
                .as_str()
                .map(str::to_string),
        }
    }

    fn validation_off(&self) -> bool {
        !self.validate_chain || !self.validate_name
    }
}

#[derive(Template)]
#[template(path = "backends.html")]
struct BackendsPage {
    chrome: Chrome,
    backends: Vec<BackendRow>,
    notice: Option<String>,
    error: Option<ErrorView>,
}

#[derive(Template)]
#[template(path = "backend_list.html")]
struct BackendList {
    backends: Vec<BackendRow>,
    notice: Option<String>,
}

async fn backend_rows(state: &AppState) -> Result<Vec<BackendRow>, ErrorView> {
    let reply = api(state, Method::GET, "/backends", None).await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    Ok(reply.body["value"]
        .as_array()
        .map(|v| v.iter().map(BackendRow::from_entity).collect())
        .unwrap_or_default())
}

/// `GET /ui/backends`
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (backends, error) = match backend_rows(&state).await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    render(&BackendsPage {
        chrome: Chrome::new(&signed, "/ui/backends"),
        backends,
        notice: query
            .get("saved")
            .map(|id| format!("Saved back end '{id}'.")),
        error,
    })
}

/// One selectable certificate of the form.
struct Choice {
    id: String,
    label: String,
    checked: bool,
}

fn choices(certs: Vec<CertRow>, selected: &[String]) -> Vec<Choice> {
    certs
        .into_iter()
        .map(|c| Choice {
            checked: selected.contains(&c.id),
            label: c.label(),
            id: c.id,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "backend_form.html")]
struct BackendForm {
    chrome: Chrome,
    /// Empty for a new back end.
    id: String,
    url: String,
    title: String,
    description: String,
    validate_chain: bool,
    validate_name: bool,
    session_resumption: bool,
    cas: Vec<Choice>,
    pins: String,
    certificates: Vec<Choice>,
    headers: String,
    auth_scheme: String,
    auth_parameter: String,
    error: Option<ErrorView>,
}

async fn form(state: &AppState, signed: Signed, id: Option<&str>) -> Response {
    let mut error = None;
    let entity = match id {
        Some(id) if let Err(e) = check_ids(&[("id", id)]) => {
            error = Some(e);
            Value::Null
        }
        Some(id) => {
            let reply = api(state, Method::GET, &format!("/backends/{id}"), None).await;
            if !reply.ok() {
                error = Some(ErrorView::from_reply(&reply));
            }
            reply.body
        }
        None => Value::Null,
    };
    let p = &entity["properties"];
    let row = BackendRow::from_entity(&entity);
    let cas = rows(state, "/caCertificates").await.unwrap_or_default();
    let certs = rows(state, "/certificates").await.unwrap_or_default();
    let mut headers = String::new();
    if let Some(h) = p["credentials"]["header"].as_object() {
        for (name, values) in h {
            for (i, v) in values.as_array().into_iter().flatten().enumerate() {
                // Numbered, so removing one masked line keeps the others' values.
                let v = v.as_str().unwrap_or_default();
                if v == MASK {
                    headers.push_str(&format!("{name}: {MASK}#{}\n", i + 1));
                } else {
                    headers.push_str(&format!("{name}: {v}\n"));
                }
            }
        }
    }
    render(&BackendForm {
        chrome: Chrome::new(&signed, "/ui/backends"),
        id: id.unwrap_or_default().to_string(),
        url: row.url.clone(),
        title: row.title.clone(),
        description: p["description"].as_str().unwrap_or_default().to_string(),
        validate_chain: row.validate_chain,
        validate_name: row.validate_name,
        session_resumption: p["tls"]["sessionResumption"].as_bool().unwrap_or(true),
        cas: choices(cas, &row.cas),
        pins: p["tls"]["serverCertificateThumbprints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        certificates: choices(certs, &row.certificates),
        headers,
        auth_scheme: row.authorization.clone().unwrap_or_default(),
        auth_parameter: p["credentials"]["authorization"]["parameter"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        error,
    })
}

/// `GET /ui/backends/new`
pub(crate) async fn new_form(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    form(&state, signed, None).await
}

/// `GET /ui/backends/{id}`
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    form(&state, signed, Some(&id)).await
}

/// Parses "Name: value" lines; a name may repeat.
fn header_lines(text: &str) -> Result<Map<String, Value>, ErrorView> {
    let mut map = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ErrorView::message(format!(
                "Header line {} has no ':' (write \"Name: value\").",
                n + 1
            )));
        };
        let entry = map
            .entry(name.trim().to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(json!(value.trim()));
        }
    }
    Ok(map)
}

/// `POST /ui/backends`: creates or replaces a back end from the form. Fields the form does not
/// show (pool settings, protocol) keep their stored values.
pub(crate) async fn save(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let id = one(&form, "id");
    if id.is_empty() {
        return error_at(
            &ErrorView::message("Give the back end an id."),
            "#form-result",
        );
    }
    if let Err(e) = check_ids(&[("id", id)]) {
        return error_at(&e, "#form-result");
    }
    let existing = api(&state, Method::GET, &format!("/backends/{id}"), None).await;
    let mut props = match existing.body.get("properties") {
        Some(Value::Object(p)) if existing.ok() && one(&form, "editing") == id => p.clone(),
        _ if existing.ok() => {
            return error_at(
                &ErrorView::message(format!(
                    "A back end '{id}' already exists; open it from the list to edit it."
                )),
                "#form-result",
            );
        }
        _ => Map::new(),
    };
    props.insert("url".into(), json!(one(&form, "url")));
    for (field, key) in [("title", "title"), ("description", "description")] {
        let v = one(&form, field);
        if v.is_empty() {
            props.remove(key);
        } else {
            props.insert(key.into(), json!(v));
        }
    }
    let checked = |name: &str| !one(&form, name).is_empty();
    let pins: Vec<&str> = one(&form, "pins")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect();
    props.insert(
        "tls".into(),
        json!({
            "validateCertificateChain": checked("validate_chain"),
            "validateCertificateName": checked("validate_name"),
            "sessionResumption": checked("session_resumption"),
            "caCertificateIds": all(&form, "ca"),
            "serverCertificateThumbprints": pins,
        }),
    );
    let header = match header_lines(one(&form, "headers")) {
        Ok(h) => h,
        Err(e) => return error_at(&e, "#form-result"),
    };
    let mut credentials = json!({
        "certificateIds": all(&form, "certificate"),
        "header": header,
    });
    let scheme = one(&form, "auth_scheme");
    if !scheme.is_empty() {
        credentials["authorization"] =
            json!({"scheme": scheme, "parameter": raw(&form, "auth_parameter")});
    }
    props.insert("credentials".into(), credentials);
    let reply = api(
        &state,
        Method::PUT,
        &format!("/backends/{id}"),
        Some(json!({ "properties": props })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#form-result");
    }
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    if let Ok(to) = HeaderValue::from_str(&format!("/ui/backends?saved={id}")) {
        response.headers_mut().insert("hx-redirect", to);
    }
    response
}

/// `DELETE /ui/backends/{id}`: refused (with the APIs named) while it shapes an API's traffic.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#backend-notice");
    }
    let reply = api(&state, Method::DELETE, &format!("/backends/{id}"), None).await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#backend-notice");
    }
    match backend_rows(&state).await {
        Ok(backends) => render(&BackendList {
            backends,
            notice: Some(format!("Deleted back end '{id}'.")),
        }),
        Err(e) => error_at(&e, "#backend-notice"),
    }
}
