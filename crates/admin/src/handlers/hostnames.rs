//! `/hostnameConfigurations`: the host names the gateway's TLS listener answers for, each
//! with its certificate.

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Kind;
use gatehouse_model::entity::hostname::HostnameProperties;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::find;
use crate::AppState;
use crate::error::ApiError;
use crate::listing::ListQuery;
use crate::request::{PathId, Properties, check_delete, check_put, entity, envelope, put_status};

const HOSTNAME_TYPE: &str = "Microsoft.ApiManagement/service/hostnameConfigurations";

fn hostname_json(id: &str, h: &HostnameProperties) -> Value {
    let props = serde_json::to_value(h).unwrap_or(Value::Null);
    envelope(
        format!("/hostnameConfigurations/{id}"),
        HOSTNAME_TYPE,
        id,
        props,
    )
}

/// `GET /hostnameConfigurations`
pub(crate) async fn list_hostnames(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
        config
            .hostnames
            .iter()
            .map(|(id, h)| hostname_json(id, &h.value))
            .collect(),
    )
}

/// `GET /hostnameConfigurations/{id}`
pub(crate) async fn get_hostname(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let h = find(&config.hostnames, Kind::Hostname, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(h.revision),
        hostname_json(&id, &h.value),
    ))
}

/// `PUT /hostnameConfigurations/{id}`: served from the next TLS handshake.
pub(crate) async fn put_hostname(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let existing = tx.config().hostnames.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let hostname = HostnameProperties::from_input(props)?;
    tx.put(hostname.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let h = find(&config.hostnames, Kind::Hostname, &id)?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(h.revision),
        hostname_json(&id, &h.value),
    ))
}

/// `DELETE /hostnameConfigurations/{id}`: handshakes for that name stop at once; open
/// connections finish.
pub(crate) async fn delete_hostname(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let h = find(&tx.config().hostnames, Kind::Hostname, &id)?;
    check_delete(&headers, &s.cp.etag(h.revision))?;
    tx.delete(Kind::Hostname, id);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
