//! `/certificates` (client certificates with keys) and `/caCertificates` (trust anchors).

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Kind;
use gatehouse_model::entity::certificate::{
    CaCertificateRecord, CertificateRecord, CertificateRequest, RefreshStatus, SecretReference,
};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{find, in_use, usages_response};
use crate::AppState;
use crate::error::ApiError;
use crate::listing::ListQuery;
use crate::request::{
    PathId, Properties, check_delete, check_put, entity, envelope, list, put_status,
};

const CERT_TYPE: &str = "Microsoft.ApiManagement/service/certificates";
const CA_TYPE: &str = "Gatehouse/service/caCertificates";

pub(crate) fn certificate_json(id: &str, c: &CertificateRecord) -> Value {
    let mut props = serde_json::to_value(&c.metadata).unwrap_or_else(|_| json!({}));
    props["format"] = json!(c.format);
    if let Some(enc) = &c.encryption {
        props["encryption"] = json!(enc);
    }
    props["legacyEncryption"] = json!(c.legacy_encryption);
    props["chainLength"] = json!(c.chain.len());
    props["version"] = json!(c.version);
    props["source"] = json!(c.source.as_str());
    props["uploaded"] = json!(rfc3339(c.uploaded));
    props["versionsKept"] = json!(c.previous.len());
    let status = c.last_status.as_ref().map(|s| {
        json!({"code": s.code, "message": s.message, "timeStampUtc": rfc3339(s.time_stamp_utc)})
    });
    match &c.reference {
        Some(SecretReference::KeyVault(kv)) => {
            props["keyVault"] = json!({
                "secretIdentifier": kv.secret_identifier,
                "identityClientId": kv.identity_client_id,
                "lastStatus": status,
            });
        }
        Some(SecretReference::File(file)) => {
            props["file"] = json!({
                "path": file.path,
                "keyPath": file.key_path,
                "passwordFile": file.password_file,
                "lastStatus": status,
            });
        }
        None => {}
    }
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
///
/// `isKeyVaultRefreshFailed=true` (APIM's) keeps the referenced certificates whose last
/// refresh failed, Key Vault and file references alike.
pub(crate) async fn list_certificates(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
        config
            .certificates
            .iter()
            .filter(|(_, c)| {
                !query.refresh_failed
                    || c.value.reference.is_some()
                        && c.value
                            .last_status
                            .as_ref()
                            .is_some_and(|s| s.code != "Success")
            })
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

/// `PUT /certificates/{id}`: upload a PKCS#12 (`data`, `password`) or PEM (`pem`) certificate,
/// or reference one in a secret store (`keyVault`, `file`), fetched and checked now.
pub(crate) async fn put_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let limits = s.cp.limits().pki;
    // Key derivation is deliberately slow: it runs off the async workers, and before the
    // writer lock, so a large upload does not hold up other changes.
    let request = tokio::task::spawn_blocking(move || {
        CertificateRequest::parse(props, &limits, OffsetDateTime::now_utc())
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let (upload, reference) = match request {
        CertificateRequest::Upload(upload) => (*upload, None),
        CertificateRequest::Reference {
            reference,
            allow_expired,
        } => {
            let Some(secrets) = &s.secrets else {
                return Err(ApiError::bad_request(
                    "NotSupported",
                    "this server does not fetch from secret stores; upload the certificate",
                ));
            };
            let upload = secrets
                .check(&reference, allow_expired)
                .await
                .map_err(|e| ApiError::bad_request(&e.code, e.message))?;
            (upload, Some(reference))
        }
    };
    let mut tx = s.cp.begin().await;
    crate::auth::require_admin_if_presented(tx.config(), &id)?;
    let existing = tx.config().certificates.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let now = OffsetDateTime::now_utc();
    let mut record = CertificateRecord::seal(&upload, &id, tx.revision(), s.cp.master(), now)?
        .succeeding(
            existing.as_ref().map(|e| &*e.value),
            s.cp.limits().certificate_versions,
        );
    if let Some(reference) = reference {
        record.source = reference.source();
        record.fetched = Some(upload.thumbprint().to_owned());
        record.reference = Some(reference);
        record.last_status = Some(RefreshStatus {
            code: "Success".into(),
            message: "the certificate was fetched and checked".into(),
            time_stamp_utc: now,
        });
    }
    let version = record.version;
    tx.put(record.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    tracing::info!(
        certificate = %id,
        version,
        source = c.value.source.as_str(),
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

/// `POST /certificates/{id}/refreshSecret` (APIM's route): fetch a referenced certificate now.
/// A new certificate in the store becomes a new version; a failure is recorded in
/// `lastStatus` and the last good version keeps serving. Answers the certificate either way.
pub(crate) async fn refresh_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    let (Some(secrets), Some(_)) = (&s.secrets, &c.value.reference) else {
        return Err(ApiError::bad_request(
            "NotReferenced",
            format!(
                "certificate '{id}' was uploaded; only certificates with a keyVault or file \
                 reference are refreshed"
            ),
        ));
    };
    secrets.refresh(&id).await?;
    let config = s.cp.config();
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    Ok(entity(
        StatusCode::OK,
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

/// `GET /certificates/{id}/versions`: the current version and the earlier ones kept.
pub(crate) async fn certificate_versions(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let c = &find(&config.certificates, Kind::Certificate, &id)?.value;
    let version = |version: u64,
                   m: &gatehouse_model::entity::certificate::CertificateMetadata,
                   source: &str,
                   activated,
                   current: bool| {
        json!({
            "version": version,
            "thumbprint": m.thumbprint,
            "subject": m.subject,
            "expirationDate": rfc3339(m.expiration_date),
            "source": source,
            "activated": rfc3339(activated),
            "current": current,
        })
    };
    let items = std::iter::once(version(
        c.version,
        &c.metadata,
        c.source.as_str(),
        c.uploaded,
        true,
    ))
    .chain(
        c.previous
            .iter()
            .map(|p| version(p.version, &p.metadata, p.source.as_str(), p.uploaded, false)),
    )
    .collect();
    Ok(list(items))
}

/// Body of `POST /certificates/{id}/rollback`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rollback {
    version: u64,
}

/// `POST /certificates/{id}/rollback` with `{"version": N}`: an earlier version becomes current
/// as a new version (pools roll over as on an upload).
pub(crate) async fn rollback_certificate(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: crate::request::JsonBody<Rollback>,
) -> Result<Response, ApiError> {
    let Rollback { version } = body.0;
    let mut tx = s.cp.begin().await;
    let current = find(&tx.config().certificates, Kind::Certificate, &id)?.clone();
    crate::auth::require_admin_if_presented(tx.config(), &id)?;
    check_put(&headers, Some(&s.cp.etag(current.revision)))?;
    let restored = current.value.rollback(
        &id,
        version,
        tx.revision(),
        s.cp.master(),
        OffsetDateTime::now_utc(),
        s.cp.limits().certificate_versions,
    )?;
    tx.put(restored.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let c = find(&config.certificates, Kind::Certificate, &id)?;
    tracing::info!(
        certificate = %id,
        from = version,
        version = c.value.version,
        thumbprint = %c.value.metadata.thumbprint,
        "certificate rolled back"
    );
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(c.revision),
        certificate_json(&id, &c.value),
    ))
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
pub(crate) async fn list_ca_certificates(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
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
