//! `/tokens`: named management tokens with roles. A token's value is in the answer that makes
//! it and nowhere else; the store keeps its SHA-256. Revoking is a delete: the next request
//! with it is refused, and portal sessions opened with it end.

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Kind;
use gatehouse_model::entity::token::{BOOTSTRAP, Role, TokenInput, TokenRecord};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::find;
use crate::AppState;
use crate::auth::{PRINCIPAL, hash_token, random_hex};
use crate::error::ApiError;
use crate::listing::ListQuery;
use crate::request::{PathId, Properties, check_delete, entity, envelope};

const TOKEN_TYPE: &str = "Gatehouse/tokens";

/// What a token value starts with, so that a leaked one is recognisable (secret scanners).
const PREFIX: &str = "ghk_";

fn time_json(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn token_json(name: &str, t: &TokenRecord) -> Value {
    envelope(
        format!("/tokens/{name}"),
        TOKEN_TYPE,
        name,
        json!({
            "role": t.role,
            "created": time_json(Some(t.created)),
            "createdBy": t.created_by,
            "expiresAt": time_json(t.expires_at),
            "bootstrap": false,
        }),
    )
}

/// The bootstrap token as the list shows it: an admin that cannot be revoked here.
fn bootstrap_json() -> Value {
    envelope(
        format!("/tokens/{BOOTSTRAP}"),
        TOKEN_TYPE,
        BOOTSTRAP,
        json!({"role": Role::Admin, "bootstrap": true, "createdBy": "the server's start"}),
    )
}

/// `GET /tokens`: the bootstrap token first, then the named ones.
pub(crate) async fn list_tokens(State(s): State<AppState>, query: ListQuery) -> Response {
    let config = s.cp.config();
    query.respond(
        std::iter::once(bootstrap_json())
            .chain(config.tokens.iter().map(|(n, t)| token_json(n, &t.value)))
            .collect(),
    )
}

/// `GET /tokens/{name}`
pub(crate) async fn get_token(
    State(s): State<AppState>,
    PathId(name): PathId,
) -> Result<Response, ApiError> {
    if name == BOOTSTRAP {
        return Ok(axum::Json(bootstrap_json()).into_response());
    }
    let config = s.cp.config();
    let t = find(&config.tokens, Kind::Token, &name)?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(t.revision),
        token_json(&name, &t.value),
    ))
}

/// `POST /tokens`: 201 with the value, once; 409 when the name is taken.
pub(crate) async fn create_token(
    State(s): State<AppState>,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let input = TokenInput::from_input(props, now)?;
    let value = random_hex(32)
        .map(|v| format!("{PREFIX}{v}"))
        .ok_or_else(ApiError::internal)?;
    let created_by = PRINCIPAL
        .try_with(|p| p.audit_name())
        .unwrap_or_else(|_| "unknown".into());
    let record = TokenRecord {
        role: input.role,
        hash: hash_token(&value),
        created: now.replace_nanosecond(0).unwrap_or(now),
        created_by,
        expires_at: input.expires_at,
    };
    let mut tx = s.cp.begin().await;
    if tx.config().tokens.contains_key(&input.name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TokenExists",
            format!(
                "a token named '{}' exists; delete it first or choose another name",
                input.name
            ),
        ));
    }
    tx.put(record.to_record(&input.name, tx.revision())?);
    let config = tx.commit().await?;
    let t = find(&config.tokens, Kind::Token, &input.name)?;
    let mut body = token_json(&input.name, &t.value);
    body["properties"]["value"] = json!(value);
    let mut response = entity(StatusCode::CREATED, &s.cp.etag(t.revision), body);
    if let Ok(location) = HeaderValue::from_str(&format!("/tokens/{}", input.name)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    // The value must not linger in any cache between here and the caller.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /tokens/{name}`: revoked from the next request on.
pub(crate) async fn delete_token(
    State(s): State<AppState>,
    PathId(name): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if name == BOOTSTRAP {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "BootstrapToken",
            "the bootstrap token is set when the server starts (GATEHOUSE_ADMIN_TOKEN); \
             restart with another value to replace it",
        ));
    }
    let mut tx = s.cp.begin().await;
    let t = find(&tx.config().tokens, Kind::Token, &name)?;
    check_delete(&headers, &s.cp.etag(t.revision))?;
    tx.delete(Kind::Token, name);
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
