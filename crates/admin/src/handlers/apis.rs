//! `/apis` and `/apis/{apiId}/operations`.

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::entity::api::{ApiProperties, OperationProperties};
use gatehouse_model::entity::policy::PolicyScope;
use gatehouse_model::{Detail, Kind, ModelError};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{find, find_operation};
use crate::AppState;
use crate::error::ApiError;
use crate::listing::ListQuery;
use crate::request::{
    PathId, PathIds, Properties, check_delete, check_put, entity, envelope, put_status,
};

const API_TYPE: &str = "Microsoft.ApiManagement/service/apis";
const OPERATION_TYPE: &str = "Microsoft.ApiManagement/service/apis/operations";

fn api_json(id: &str, a: &ApiProperties) -> Value {
    let props = serde_json::to_value(a).unwrap_or(Value::Null);
    envelope(format!("/apis/{id}"), API_TYPE, id, props)
}

fn operation_json(api: &str, id: &str, o: &OperationProperties) -> Value {
    let props = serde_json::to_value(o).unwrap_or(Value::Null);
    envelope(
        format!("/apis/{api}/operations/{id}"),
        OPERATION_TYPE,
        id,
        props,
    )
}

/// `GET /apis`
pub(crate) async fn list_apis(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
        config
            .apis
            .iter()
            .map(|(id, a)| api_json(id, &a.value))
            .collect(),
    )
}

/// `GET /apis/{id}`
pub(crate) async fn get_api(
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let a = find(&config.apis, Kind::Api, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(a.revision),
        api_json(&id, &a.value),
    ))
}

/// `PUT /apis/{id}`
pub(crate) async fn put_api(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let api = ApiProperties::from_input(props)?;
    let mut tx = s.cp.begin().await;
    let existing = tx.config().apis.get(&id).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    if let Some(other) = tx.config().api_with_path(&api.path, &id) {
        return Err(ModelError::Conflict {
            code: "ApiPathInUse".into(),
            message: format!(
                "API '{other}' already uses path '{}'; each API needs its own URL suffix",
                api.path
            ),
            details: vec![Detail::new(
                "ApiPathInUse",
                "properties.path",
                format!("used by /apis/{other}"),
            )],
        }
        .into());
    }
    tx.put(api.to_record(&id, tx.revision())?);
    let config = tx.commit().await?;
    let a = find(&config.apis, Kind::Api, &id)?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(a.revision),
        api_json(&id, &a.value),
    ))
}

/// `DELETE /apis/{id}`: removes the API with its operations and policies, as APIM does.
pub(crate) async fn delete_api(
    State(s): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let a = find(&tx.config().apis, Kind::Api, &id)?;
    check_delete(&headers, &s.cp.etag(a.revision))?;
    let operations: Vec<String> = tx
        .config()
        .operations_of(&id)
        .map(|(o, _)| o.to_string())
        .collect();
    let policies: Vec<String> = tx
        .config()
        .policies
        .keys()
        .filter(|scope| match scope {
            PolicyScope::Api(a) | PolicyScope::Operation(a, _) => *a == id,
            PolicyScope::Global => false,
        })
        .map(PolicyScope::key)
        .collect();
    for o in operations {
        tx.delete(Kind::Operation, format!("{id}/{o}"));
    }
    for p in policies {
        tx.delete(Kind::Policy, p);
    }
    tx.delete(Kind::Api, id);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /apis/{apiId}/operations`
pub(crate) async fn list_operations(
    State(s): State<AppState>,
    PathId(api): PathId,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    find(&config.apis, Kind::Api, &api)?;
    Ok(query.respond(
        config
            .operations_of(&api)
            .map(|(id, o)| operation_json(&api, id, &o.value))
            .collect(),
    ))
}

/// `GET /apis/{apiId}/operations/{id}`
pub(crate) async fn get_operation(
    State(s): State<AppState>,
    PathIds(api, id): PathIds,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    let o = find_operation(&config, &api, &id)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(o.revision),
        operation_json(&api, &id, &o.value),
    ))
}

/// `PUT /apis/{apiId}/operations/{id}`
pub(crate) async fn put_operation(
    State(s): State<AppState>,
    PathIds(api, id): PathIds,
    headers: HeaderMap,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let op = OperationProperties::from_input(props)?;
    let mut tx = s.cp.begin().await;
    find(&tx.config().apis, Kind::Api, &api)?;
    let key = (api.clone(), id.clone());
    let existing = tx.config().operations.get(&key).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let normal = |t: &str| t.trim_end_matches('/').to_ascii_lowercase();
    if let Some((other, _)) = tx.config().operations_of(&api).find(|(other, o)| {
        *other != id
            && o.value.method == op.method
            && normal(&o.value.url_template) == normal(&op.url_template)
    }) {
        return Err(ModelError::Conflict {
            code: "OperationExists".into(),
            message: format!(
                "operation '{other}' already answers {} {}; two operations cannot match the \
                 same requests",
                op.method, op.url_template
            ),
            details: vec![Detail::new(
                "OperationExists",
                format!("/apis/{api}/operations/{other}"),
                "same method and URL template",
            )],
        }
        .into());
    }
    tx.put(op.to_record(&format!("{api}/{id}"), tx.revision())?);
    let config = tx.commit().await?;
    let o = find_operation(&config, &api, &id)?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(o.revision),
        operation_json(&api, &id, &o.value),
    ))
}

/// `DELETE /apis/{apiId}/operations/{id}`: removes the operation and its policy.
pub(crate) async fn delete_operation(
    State(s): State<AppState>,
    PathIds(api, id): PathIds,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    let o = find_operation(tx.config(), &api, &id)?;
    check_delete(&headers, &s.cp.etag(o.revision))?;
    let scope = PolicyScope::Operation(api.clone(), id.clone());
    if tx.config().policies.contains_key(&scope) {
        tx.delete(Kind::Policy, scope.key());
    }
    tx.delete(Kind::Operation, format!("{api}/{id}"));
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
