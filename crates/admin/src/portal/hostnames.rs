//! The portal page for hostname configurations: the host names the gateway's TLS listener
//! answers for, each with the uploaded certificate it presents there.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use http::Method;
use serde_json::{Value, json};

use super::certificates::{CertRow, rows};
use super::{Chrome, ErrorView, Signed, api, check_ids, error_at, one, render};
use crate::AppState;

/// A hostname configuration as the list shows it, with its certificate's facts.
pub(crate) struct HostnameRow {
    pub(crate) id: String,
    pub(crate) hostname: String,
    pub(crate) certificate_id: String,
    /// The certificate as uploaded; `None` when the list of certificates does not hold it.
    pub(crate) certificate: Option<CertRow>,
    pub(crate) negotiate: bool,
    pub(crate) http2: bool,
    pub(crate) default: bool,
}

impl HostnameRow {
    fn from_entity(entity: &Value, certs: &[CertRow]) -> Self {
        let p = &entity["properties"];
        let certificate_id = p["certificateId"].as_str().unwrap_or_default().to_string();
        Self {
            id: entity["name"].as_str().unwrap_or_default().to_string(),
            hostname: p["hostName"].as_str().unwrap_or_default().to_string(),
            certificate: certs.iter().find(|c| c.id == certificate_id).cloned(),
            certificate_id,
            negotiate: p["negotiateClientCertificate"].as_bool().unwrap_or(false),
            // Absent means the API's defaults.
            http2: p["http2Enabled"].as_bool().unwrap_or(true),
            default: p["defaultSslBinding"].as_bool().unwrap_or(false),
        }
    }

    /// Whether the host name is a `*.` wildcard.
    pub(crate) fn wildcard(&self) -> bool {
        self.hostname.starts_with("*.")
    }
}

/// The hostname configurations, in the API's order (by id), with their certificates.
pub(crate) async fn hostname_rows(state: &AppState) -> Result<Vec<HostnameRow>, ErrorView> {
    let reply = api(state, Method::GET, "/hostnameConfigurations", None).await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    let certs = rows(state, "/certificates").await?;
    Ok(reply.body["value"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|h| HostnameRow::from_entity(h, &certs))
                .collect()
        })
        .unwrap_or_default())
}

/// One certificate of the drop-down.
struct Choice {
    id: String,
    label: String,
    selected: bool,
}

/// What the form holds: empty for a new configuration, a stored one's values to replace it.
struct Fields {
    id: String,
    hostname: String,
    certificate: String,
    negotiate: bool,
    http2: bool,
    default: bool,
    replace: bool,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            id: String::new(),
            hostname: String::new(),
            certificate: String::new(),
            negotiate: false,
            http2: true,
            default: false,
            replace: false,
        }
    }
}

#[derive(Template)]
#[template(path = "hostnames.html")]
struct HostnamesPage {
    chrome: Chrome,
    hostnames: Vec<HostnameRow>,
    certificates: Vec<Choice>,
    form: Fields,
    /// Where the TLS listener listens; `None` when it is off, so the page says these are not
    /// served.
    tls_addr: Option<String>,
    error: Option<ErrorView>,
}

#[derive(Template)]
#[template(path = "hostname_list.html")]
struct HostnameList {
    hostnames: Vec<HostnameRow>,
    notice: Option<String>,
}

/// `GET /ui/hostnames?edit=`: the list, and the form (filled with `edit`'s values to replace
/// it).
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut error = None;
    let hostnames = hostname_rows(&state).await.unwrap_or_else(|e| {
        error = Some(e);
        Vec::new()
    });
    let mut form = Fields::default();
    if let Some(id) = query
        .get("edit")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        match check_ids(&[("id", id)]) {
            Err(e) => error = Some(e),
            Ok(()) => {
                let reply = api(
                    &state,
                    Method::GET,
                    &format!("/hostnameConfigurations/{id}"),
                    None,
                )
                .await;
                if reply.ok() {
                    let row = HostnameRow::from_entity(&reply.body, &[]);
                    form = Fields {
                        id: row.id,
                        hostname: row.hostname,
                        certificate: row.certificate_id,
                        negotiate: row.negotiate,
                        http2: row.http2,
                        default: row.default,
                        replace: true,
                    };
                } else {
                    error = Some(ErrorView::from_reply(&reply));
                }
            }
        }
    }
    let certificates = match rows(&state, "/certificates").await {
        Ok(certs) => certs
            .into_iter()
            .map(|c| Choice {
                selected: c.id == form.certificate,
                label: format!("{} (expires {})", c.label(), c.expires),
                id: c.id,
            })
            .collect(),
        Err(e) => {
            error = Some(e);
            Vec::new()
        }
    };
    render(&HostnamesPage {
        chrome: Chrome::new(&signed, "/ui/hostnames"),
        hostnames,
        certificates,
        form,
        tls_addr: state
            .gateway
            .as_ref()
            .and_then(|g| g.tls_addr)
            .map(|a| a.to_string()),
        error,
    })
}

/// The list fragment with a notice, or the error where the list's notices go.
async fn list_fragment(state: &AppState, notice: String) -> Response {
    match hostname_rows(state).await {
        Ok(hostnames) => render(&HostnameList {
            hostnames,
            notice: Some(notice),
        }),
        Err(e) => error_at(&e, "#hostname-notice"),
    }
}

/// `POST /ui/hostnames`: creates a hostname configuration, or replaces one when "Replace" is
/// ticked.
pub(crate) async fn save(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let id = one(&form, "id");
    if id.is_empty() {
        return error_at(
            &ErrorView::message("Give the configuration an id."),
            "#hostname-result",
        );
    }
    if let Err(e) = check_ids(&[("id", id)]) {
        return error_at(&e, "#hostname-result");
    }
    let path = format!("/hostnameConfigurations/{id}");
    let replace = !one(&form, "replace").is_empty();
    // A PUT would silently replace: a new configuration must not overwrite another by a
    // mistyped id.
    if !replace && api(&state, Method::GET, &path, None).await.ok() {
        return error_at(
            &ErrorView::message(format!(
                "A hostname configuration '{id}' already exists. Tick \"Replace\" to replace \
                 it, or use its Edit link."
            )),
            "#hostname-result",
        );
    }
    let checked = |name: &str| !one(&form, name).is_empty();
    let properties = json!({
        "hostName": one(&form, "hostname"),
        "certificateId": one(&form, "certificate"),
        "negotiateClientCertificate": checked("negotiate"),
        "http2Enabled": checked("http2"),
        "defaultSslBinding": checked("default"),
    });
    let reply = api(
        &state,
        Method::PUT,
        &path,
        Some(json!({ "properties": properties })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#hostname-result");
    }
    let hostname = reply.body["properties"]["hostName"]
        .as_str()
        .unwrap_or_default();
    list_fragment(
        &state,
        format!("Saved hostname configuration '{id}' for {hostname}; it is served from the next handshake."),
    )
    .await
}

/// `DELETE /ui/hostnames/{id}`: the API's refusal, if any, is shown above the list.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#hostname-notice");
    }
    let reply = api(
        &state,
        Method::DELETE,
        &format!("/hostnameConfigurations/{id}"),
        None,
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#hostname-notice");
    }
    list_fragment(&state, format!("Deleted hostname configuration '{id}'.")).await
}
