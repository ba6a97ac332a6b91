//! Portal pages for client certificates and CA certificates.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Multipart, Path, State};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Chrome, ErrorView, Signed, api, check_ids, error_at, render, retarget};
use crate::AppState;

/// A certificate as a table row shows it.
#[derive(Clone)]
pub(crate) struct CertRow {
    pub(crate) id: String,
    pub(crate) subject: String,
    /// The thumbprint without its last four characters, and those four, which operators use to
    /// tell certificates apart.
    pub(crate) thumb_head: String,
    pub(crate) thumb_tail: String,
    pub(crate) expires: String,
    /// `expired`, `soon` (within 30 days) or empty.
    pub(crate) expiry_class: &'static str,
    pub(crate) legacy: bool,
    pub(crate) format: String,
    pub(crate) is_ca: bool,
    /// `upload`, `file`, `keyVault` or `rollback`.
    pub(crate) source: String,
    /// The secret-store reference's last status (`Success`, or why not), when referenced.
    pub(crate) status: Option<String>,
}

impl CertRow {
    pub(crate) fn from_entity(entity: &Value) -> Self {
        let props = &entity["properties"];
        let thumb = props["thumbprint"].as_str().unwrap_or_default();
        let split = thumb.len().saturating_sub(4);
        let expires_at = props["expirationDate"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let now = OffsetDateTime::now_utc();
        let expiry_class = match expires_at {
            Some(t) if t < now => "expired",
            Some(t) if t - now < time::Duration::days(30) => "soon",
            _ => "",
        };
        Self {
            id: entity["name"].as_str().unwrap_or_default().to_string(),
            subject: props["subject"].as_str().unwrap_or_default().to_string(),
            thumb_head: thumb.get(..split).unwrap_or_default().to_string(),
            thumb_tail: thumb.get(split..).unwrap_or_default().to_string(),
            expires: expires_at
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| "?".into()),
            expiry_class,
            legacy: props["legacyEncryption"].as_bool().unwrap_or(false),
            format: props["format"].as_str().unwrap_or_default().to_string(),
            is_ca: props["isCa"].as_bool().unwrap_or(false),
            source: props["source"].as_str().unwrap_or("upload").to_string(),
            status: ["keyVault", "file"]
                .iter()
                .find_map(|k| props[*k]["lastStatus"]["code"].as_str())
                .map(str::to_string),
        }
    }

    /// `CN=client, O=Bars …9F2C`: what a drop-down shows.
    pub(crate) fn label(&self) -> String {
        format!("{} …{} ({})", self.subject, self.thumb_tail, self.id)
    }
}

/// Rows of a list route (`/certificates`, `/caCertificates`).
pub(crate) async fn rows(state: &AppState, path: &str) -> Result<Vec<CertRow>, ErrorView> {
    let reply = api(state, Method::GET, path, None).await;
    if !reply.ok() {
        return Err(ErrorView::from_reply(&reply));
    }
    Ok(reply.body["value"]
        .as_array()
        .map(|v| v.iter().map(CertRow::from_entity).collect())
        .unwrap_or_default())
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage {
    chrome: Chrome,
    certs: Vec<CertRow>,
    ca: bool,
    error: Option<ErrorView>,
}

#[derive(Template)]
#[template(path = "cert_list.html")]
struct CertList {
    certs: Vec<CertRow>,
    ca: bool,
    notice: Option<String>,
}

fn kind(ca: bool) -> (&'static str, &'static str, &'static str) {
    if ca {
        ("/caCertificates", "/ui/ca-certificates", "CA certificate")
    } else {
        ("/certificates", "/ui/certificates", "certificate")
    }
}

async fn list_page(state: &AppState, signed: &Signed, ca: bool) -> Response {
    let (api_path, page, _) = kind(ca);
    let (certs, error) = match rows(state, api_path).await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    render(&CertificatesPage {
        chrome: Chrome::new(signed, page),
        certs,
        ca,
        error,
    })
}

async fn list_fragment(state: &AppState, ca: bool, notice: Option<String>) -> Response {
    let (api_path, _, _) = kind(ca);
    match rows(state, api_path).await {
        Ok(certs) => render(&CertList { certs, ca, notice }),
        Err(e) => error_at(&e, "#cert-notice"),
    }
}

/// `GET /ui/certificates`
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    list_page(&state, &signed, false).await
}

/// `GET /ui/ca-certificates`
pub(crate) async fn ca_page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    list_page(&state, &signed, true).await
}

/// The fields of an upload form: id, a file, a password, pasted PEM.
#[derive(Default)]
struct Upload {
    id: String,
    file: Vec<u8>,
    password: Option<String>,
    pem: String,
    allow_expired: bool,
    /// Replace a certificate of the same id (rotation) instead of refusing.
    replace: bool,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, ErrorView> {
    let mut upload = Upload::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ErrorView::message(format!("the form could not be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ErrorView::message(format!("the form could not be read: {e}")))?;
        match name.as_str() {
            "id" => upload.id = String::from_utf8_lossy(&bytes).trim().to_string(),
            "file" => upload.file = bytes.to_vec(),
            "password" if !bytes.is_empty() => {
                upload.password = Some(String::from_utf8_lossy(&bytes).to_string());
            }
            "pem" => upload.pem = String::from_utf8_lossy(&bytes).trim().to_string(),
            "allowExpired" => upload.allow_expired = true,
            "replace" => upload.replace = true,
            _ => {}
        }
    }
    if upload.id.is_empty() {
        return Err(ErrorView::message("Give the certificate an id."));
    }
    check_ids(&[("id", &upload.id)])?;
    Ok(upload)
}

async fn upload_to(state: &AppState, multipart: Multipart, ca: bool) -> Response {
    let (api_path, _, noun) = kind(ca);
    let upload = match read_upload(multipart).await {
        Ok(u) => u,
        Err(e) => return error_at(&e, "#upload-result"),
    };
    let path = format!("{api_path}/{}", upload.id);
    if !upload.replace && api(state, Method::GET, &path, None).await.ok() {
        return error_at(
            &ErrorView::message(format!(
                "A {noun} '{}' already exists. Tick \"Replace\" to rotate it: whatever uses it \
                 gets the new one from the next call.",
                upload.id
            )),
            "#upload-result",
        );
    }
    let file_is_pem = upload.file.trim_ascii_start().starts_with(b"-----BEGIN");
    let mut props = serde_json::Map::new();
    if ca {
        let data = if upload.file.is_empty() {
            upload.pem.clone()
        } else {
            STANDARD.encode(&upload.file)
        };
        props.insert("data".into(), json!(data));
    } else if !upload.file.is_empty() && !file_is_pem {
        props.insert("data".into(), json!(STANDARD.encode(&upload.file)));
    } else if !upload.file.is_empty() {
        props.insert("pem".into(), json!(String::from_utf8_lossy(&upload.file)));
    } else {
        props.insert("pem".into(), json!(upload.pem));
    }
    if let Some(password) = &upload.password
        && !ca
    {
        props.insert("password".into(), json!(password));
    }
    if upload.allow_expired {
        props.insert("allowExpired".into(), json!(true));
    }
    let reply = api(
        state,
        Method::PUT,
        &path,
        Some(json!({ "properties": props })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#upload-result");
    }
    let thumb = reply.body["properties"]["thumbprint"]
        .as_str()
        .unwrap_or_default();
    list_fragment(
        state,
        ca,
        Some(format!(
            "Uploaded {noun} '{}' (thumbprint {thumb}).",
            upload.id
        )),
    )
    .await
}

/// `POST /ui/certificates`: upload a .pfx with its password, or PEM.
pub(crate) async fn upload(State(state): State<AppState>, multipart: Multipart) -> Response {
    upload_to(&state, multipart, false).await
}

/// `POST /ui/ca-certificates`
pub(crate) async fn ca_upload(State(state): State<AppState>, multipart: Multipart) -> Response {
    upload_to(&state, multipart, true).await
}

#[derive(Template)]
#[template(path = "in_use.html")]
struct InUse {
    noun: &'static str,
    id: String,
    message: String,
    apis: Vec<String>,
    references: Vec<(String, String)>,
}

async fn delete_from(state: &AppState, id: &str, ca: bool) -> Response {
    let (api_path, _, noun) = kind(ca);
    if let Err(e) = check_ids(&[("id", id)]) {
        return error_at(&e, "#cert-notice");
    }
    let reply = api(state, Method::DELETE, &format!("{api_path}/{id}"), None).await;
    if reply.status == StatusCode::CONFLICT {
        // In use: nothing was deleted; say where it is used.
        let view = ErrorView::from_reply(&reply);
        let usages = api(state, Method::GET, &format!("{api_path}/{id}/usages"), None).await;
        let mut apis: Vec<String> = usages.body["value"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|u| u["apiId"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        apis.sort();
        apis.dedup();
        return retarget(
            render(&InUse {
                noun,
                id: id.to_string(),
                message: view.message,
                apis,
                references: view.details,
            }),
            "#cert-notice",
        );
    }
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#cert-notice");
    }
    list_fragment(state, ca, Some(format!("Deleted {noun} '{id}'."))).await
}

/// `DELETE /ui/certificates/{id}`: refused with the APIs and back ends using it.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    delete_from(&state, &id, false).await
}

/// `DELETE /ui/ca-certificates/{id}`
pub(crate) async fn ca_delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    delete_from(&state, &id, true).await
}

/// A version as the versions panel shows it.
pub(crate) struct VersionRow {
    pub(crate) version: u64,
    pub(crate) thumbprint: String,
    pub(crate) subject: String,
    pub(crate) expires: String,
    pub(crate) source: String,
    pub(crate) activated: String,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "cert_versions.html")]
struct Versions {
    id: String,
    versions: Vec<VersionRow>,
}

/// `GET /ui/certificates/{id}/versions`: the versions panel, with a rollback per earlier one.
pub(crate) async fn versions(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#cert-notice");
    }
    let reply = api(
        &state,
        Method::GET,
        &format!("/certificates/{id}/versions"),
        None,
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#cert-notice");
    }
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let versions = reply.body["value"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| VersionRow {
                    version: v["version"].as_u64().unwrap_or_default(),
                    thumbprint: text(v, "thumbprint"),
                    subject: text(v, "subject"),
                    expires: text(v, "expirationDate")
                        .get(..10)
                        .unwrap_or_default()
                        .to_string(),
                    source: text(v, "source"),
                    activated: text(v, "activated")
                        .replace('T', " ")
                        .get(..19)
                        .unwrap_or_default()
                        .to_string(),
                    current: v["current"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    retarget(render(&Versions { id, versions }), "#cert-notice")
}

/// `POST /ui/certificates/{id}/rollback` (form `version`).
pub(crate) async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#cert-notice");
    }
    let Some(version) = form
        .iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<u64>().ok())
    else {
        return error_at(
            &ErrorView::message("Choose a version to roll back to."),
            "#cert-notice",
        );
    };
    let reply = api(
        &state,
        Method::POST,
        &format!("/certificates/{id}/rollback"),
        Some(json!({ "version": version })),
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#cert-notice");
    }
    let now = reply.body["properties"]["version"]
        .as_u64()
        .unwrap_or_default();
    list_fragment(
        &state,
        false,
        Some(format!(
            "Certificate '{id}' is version {version} again (as version {now}): the next call presents it."
        )),
    )
    .await
}

/// `POST /ui/certificates/{id}/refresh`: fetch a referenced certificate now.
pub(crate) async fn refresh(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if let Err(e) = check_ids(&[("id", &id)]) {
        return error_at(&e, "#cert-notice");
    }
    let reply = api(
        &state,
        Method::POST,
        &format!("/certificates/{id}/refreshSecret"),
        None,
    )
    .await;
    if !reply.ok() {
        return error_at(&ErrorView::from_reply(&reply), "#cert-notice");
    }
    let row = CertRow::from_entity(&reply.body);
    let notice = match row.status.as_deref() {
        Some("Success") | None => format!(
            "Refreshed '{id}': thumbprint {}{}.",
            row.thumb_head, row.thumb_tail
        ),
        Some(code) => {
            format!("Refreshing '{id}' failed ({code}); the last good version keeps serving.")
        }
    };
    list_fragment(&state, false, Some(notice)).await
}

/// `GET /ui/expiring`: the header's count of certificates (client and CA) that expire within 30
/// days, or have, linking to where they are listed.
pub(crate) async fn expiring(State(state): State<AppState>) -> Response {
    let horizon = (OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&Rfc3339)
        .unwrap_or_default();
    let filter = format!("$filter=expirationDate%20lt%20'{horizon}'");
    let mut count = 0;
    let mut first = "/ui/certificates";
    for (path, page) in [
        ("/certificates", "/ui/certificates"),
        ("/caCertificates", "/ui/ca-certificates"),
    ] {
        let reply = api(&state, Method::GET, &format!("{path}?{filter}"), None).await;
        let n = reply.body["count"].as_u64().unwrap_or_default();
        if n > 0 && count == 0 {
            first = page;
        }
        count += n;
    }
    let html = if count == 0 {
        r#"<span id="expiring"></span>"#.to_owned()
    } else {
        format!(
            r#"<a id="expiring" class="badge warn" href="{first}">{count} certificate{} expire{} within 30 days</a>"#,
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" }
        )
    };
    axum::response::Html(html).into_response()
}
