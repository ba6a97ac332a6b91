//! `/backends`: back-end services with TLS settings and credentials.

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Kind;
use gatehouse_model::entity::backend::BackendProperties;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{find, in_use, usages_response};
use crate::AppState;
use crate::error::ApiError;
use crate::listing::ListQuery;
use crate::request::{PathId, Properties, check_delete, check_put, entity, envelope, put_status};

const BACKEND_TYPE: &str = "Microsoft.ApiManagement/service/backends";

/// Secrets show as the mask; the TLS switches always appear, so turning validation off is
/// visible in every read.
fn backend_json(id: &str, b: &BackendProperties) -> Value {
    let props = serde_json::to_value(b.masked()).unwrap_or(Value::Null);
    envelope(format!("/backends/{id}"), BACKEND_TYPE, id, props)
}

/// `GET /backends`
pub(crate) async fn list_backends(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
        config
            .backends
            .iter()
            .map(|(id, b)| backend_json(id, &b.value))
            .collect(),
    )
}

/// `GET /backends/{id}`
pub(crate) async fn get_backend(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let b = find(&config.backends, Kind::Backend, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(b.revision),
        backend_json(&id, &b.value),
    ))
}

/// `PUT /backends/{id}`
pub(crate) async fn put_backend(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let existing = tx.config().backends.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let backend = BackendProperties::from_input(props, existing.as_ref().map(|e| &*e.value))?;
    if !backend.tls.validate_certificate_chain || !backend.tls.validate_certificate_name {
        tracing::warn!(
            backend = %id,
            validate_chain = backend.tls.validate_certificate_chain,
            validate_name = backend.tls.validate_certificate_name,
            "backend certificate validation is turned off"
        );
    }
    tx.put(backend.to_record(&id, tx.revision(), s.cp.master())?);
    let config = tx.commit().await?;
    let b = find(&config.backends, Kind::Backend, &id)?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(b.revision),
        backend_json(&id, &b.value),
    ))
}

/// `DELETE /backends/{id}`: refused with 409 while a policy names it.
pub(crate) async fn delete_backend(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let b = find(&tx.config().backends, Kind::Backend, &id)?;
    check_delete(&headers, &s.cp.etag(b.revision))?;
    let usages = tx.config().backend_usages(&id);
    if usages.iter().any(|u| u.blocking) {
        return Err(in_use("BackendInUse", &format!("backend '{id}'"), &usages));
    }
    tx.delete(Kind::Backend, id);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /backends/{id}/usages`
pub(crate) async fn backend_usages(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    find(&config.backends, Kind::Backend, &id)?;
    Ok(usages_response(config.backend_usages(&id)))
}
