//! `/certificates` (client certificates with keys) and `/caCertificates` (trust anchors).

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Kind;
use gatehouse_model::entity::certificate::{CaCertificateRecord, CertificateRecord, CheckedUpload};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{find, in_use, usages_response};
use crate::AppState;
use crate::error::ApiError;
use crate::request::{
    PathId, Properties, check_delete, check_put, entity, envelope, list, put_status,
};

const CERT_TYPE: &str = "Microsoft.ApiManagement/service/certificates";
const CA_TYPE: &str = "Gatehouse/service/caCertificates";

fn certificate_json(id: &str, c: &CertificateRecord) -> Value {
    let mut props = serde_json::to_value(&c.metadata).unwrap_or_else(|_| json!({}));
    props["format"] = json!(c.format);
    if let Some(enc) = &c.encryption {
        props["encryption"] = json!(enc);
    }
    props["legacyEncryption"] = json!(c.legacy_encryption);
    props["chainLength"] = json!(c.chain.len());
    props["version"] = json!(c.version);
    props["uploaded"] = json!(rfc3339(c.uploaded));
    envelope(format!("/certificates/{id}"), CERT_TYPE, id, props)
}

fn ca_json(id: &str, c: &CaCertificateRecord) -> Value {
    let mut props = serde_json::to_value(&c.metadata).unwrap_or_else(|_| json!({}));
    props["isCa"] = json!(c.is_ca);
    props["uploaded"] = json!(rfc3339(c.uploaded));
    envelope(format!("/caCertificates/{id}"), CA_TYPE, id, props)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `GET /certificates`
pub(crate) async fn list_certificates(State(s): State<AppState>) -> Response {
    let config = s.cp.config();
    list(
        config
            .certificates
            .iter()
            .map(|(id, c)| certificate_json(id, &c.value))
            .collect(),
    )
}

/// `GET /certificates/{id}`
pub(crate) async fn get_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(c.revision),
        certificate_json(&id, &c.value),
    ))
}

/// `PUT /certificates/{id}`: upload a PKCS#12 (`data`, `password`) or PEM (`pem`) certificate.
pub(crate) async fn put_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let limits = s.cp.limits().pki;
    // Key derivation is deliberately slow: it runs off the async workers, and before the
    // writer lock, so a large upload does not hold up other changes.
    let upload = tokio::task::spawn_blocking(move || {
        CheckedUpload::parse(props, &limits, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let mut tx = s.cp.begin().await;
    let existing = tx.config().certificates.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let record = CertificateRecord::seal(
        &upload,
        &id,
        tx.revision(),
        s.cp.master(),
        OffsetDateTime::now_utc(),
    )?;
    let version = record.version;
    tx.put(record.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    tracing::info!(
        certificate = %id,
        version,
        thumbprint = %c.value.metadata.thumbprint,
        subject = %c.value.metadata.subject,
        "certificate uploaded"
    );
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(c.revision),
        certificate_json(&id, &c.value),
    ))
}

/// `DELETE /certificates/{id}`: refused with 409 while anything references it.
pub(crate) async fn delete_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let c = find(&tx.config().certificates, Kind::Certificate, &id)?;
    check_delete(&headers, &s.cp.etag(c.revision))?;
    let usages = tx.config().certificate_usages(&id);
    if usages.iter().any(|u| u.blocking) {
        return Err(in_use(
            "CertificateInUse",
            &format!("certificate '{id}'"),
            &usages,
        ));
    }
    tx.delete(Kind::Certificate, id);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /certificates/{id}/usages`
pub(crate) async fn certificate_usages(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    find(&config.certificates, Kind::Certificate, &id)?;
    Ok(usages_response(config.certificate_usages(&id)))
}

/// `GET /caCertificates`
pub(crate) async fn list_ca_certificates(State(s): State<AppState>) -> Response {
    let config = s.cp.config();
    list(
        config
            .ca_certificates
            .iter()
            .map(|(id, c)| ca_json(id, &c.value))
            .collect(),
    )
}

/// `GET /caCertificates/{id}`
pub(crate) async fn get_ca_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let c = find(&config.ca_certificates, Kind::CaCertificate, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(c.revision),
        ca_json(&id, &c.value),
    ))
}

/// `PUT /caCertificates/{id}`
pub(crate) async fn put_ca_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let record = CaCertificateRecord::from_upload(props, OffsetDateTime::now_utc())?;
    let mut tx = s.cp.begin().await;
    let existing = tx.config().ca_certificates.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    tx.put(record.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let c = find(&config.ca_certificates, Kind::CaCertificate, &id)?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(c.revision),
        ca_json(&id, &c.value),
    ))
}

/// `DELETE /caCertificates/{id}`: refused with 409 while a back end trusts it.
pub(crate) async fn delete_ca_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let c = find(&tx.config().ca_certificates, Kind::CaCertificate, &id)?;
    check_delete(&headers, &s.cp.etag(c.revision))?;
    let usages = tx.config().ca_certificate_usages(&id);
    if usages.iter().any(|u| u.blocking) {
        return Err(in_use(
            "CaCertificateInUse",
            &format!("CA certificate '{id}'"),
            &usages,
        ));
    }
    tx.delete(Kind::CaCertificate, id);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /caCertificates/{id}/usages`
pub(crate) async fn ca_certificate_usages(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    find(&config.ca_certificates, Kind::CaCertificate, &id)?;
    Ok(usages_response(config.ca_certificate_usages(&id)))
}
