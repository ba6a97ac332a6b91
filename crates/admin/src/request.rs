//! Request plumbing shared by every handler: the JSON body, preconditions, entity envelopes.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// The `properties` object of a `PUT` body (`{"properties": {...}}`).
///
/// Top-level `id`, `name` and `type` are accepted and ignored, so what a `GET` returned can be
/// sent back; anything else is refused by name.
pub(crate) struct Properties(pub(crate) Value);

impl FromRequest<AppState> for Properties {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.cp.limits().max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit.saturating_mul(DRAIN_FACTOR)) {
            // Too large to be worth draining: answer now, the connection closes.
            return Err(ApiError::too_large(limit));
        }
        let bytes = read_limited(req.into_body(), limit).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "InvalidBody",
                "the request needs a JSON body: {\"properties\": {...}}",
            ));
        }
        // serde_json's messages give a position, never the text, so they are safe to return.
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request("InvalidJson", format!("the body is not valid JSON: {e}"))
        })?;
        let Value::Object(mut map) = body else {
            return Err(ApiError::bad_request(
                "InvalidBody",
                "the body must be a JSON object: {\"properties\": {...}}",
            ));
        };
        if let Some(other) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "properties" | "id" | "name" | "type"))
        {
            return Err(ApiError::bad_request(
                "InvalidBody",
                format!("unknown top-level field '{other}'; put entity fields under properties"),
            ));
        }
        match map.remove("properties") {
            Some(p @ Value::Object(_)) => Ok(Properties(p)),
            Some(_) => Err(ApiError::bad_request(
                "InvalidBody",
                "properties must be a JSON object",
            )),
            None => Err(ApiError::bad_request(
                "InvalidBody",
                "the body needs a properties object: {\"properties\": {...}}",
            )),
        }
    }
}

/// A small JSON body of an action route (`POST .../rollback`), read within the body limit and
/// typed; unknown fields and wrong types are a 400 naming the field.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.cp.limits().max_body_bytes;
        let bytes = read_limited(req.into_body(), limit).await?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request("InvalidJson", format!("the body is not valid JSON: {e}"))
        })?;
        gatehouse_model::entity::from_properties(body)
            .map(JsonBody)
            .map_err(ApiError::from)
    }
}

/// The path's ids, checked: 1 to 80 of `[A-Za-z0-9._-]`, a letter or digit first. A bad id is a
/// 400 on every route (not a 404), with the parameter named.
async fn path_ids(parts: &mut Parts, state: &AppState) -> Result<Vec<String>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::bad_request("InvalidPath", format!("the path is not valid: {e}")))?;
    params
        .iter()
        .map(|(name, value)| {
            gatehouse_model::validate_id(value, name)?;
            Ok(value.to_string())
        })
        .collect()
}

/// One checked path id (`/certificates/{certificateId}`).
pub(crate) struct PathId(pub(crate) String);

impl FromRequestParts<AppState> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let mut ids = path_ids(parts, state).await?;
        match (ids.pop(), ids.is_empty()) {
            (Some(id), true) => Ok(PathId(id)),
            _ => Err(ApiError::internal()),
        }
    }
}

/// Two checked path ids (`/apis/{apiId}/operations/{operationId}`).
pub(crate) struct PathIds(pub(crate) String, pub(crate) String);

impl FromRequestParts<AppState> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ids = path_ids(parts, state).await?;
        match <[String; 2]>::try_from(ids) {
            Ok([a, b]) => Ok(PathIds(a, b)),
            Err(_) => Err(ApiError::internal()),
        }
    }
}

/// How much of an oversized body is read and discarded before answering 413. Closing with
/// unread data makes the peer's kernel reset the connection, and the client then sees a broken
/// pipe instead of the answer; draining a bounded amount lets it read the 413.
const DRAIN_FACTOR: usize = 16;

/// Reads a body of at most `limit` bytes.
///
/// # Errors
/// 413 when it is longer (after draining up to [`DRAIN_FACTOR`] times the limit); 400 when it
/// cannot be read.
async fn read_limited(mut body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::bad_request("InvalidBody", "the request body could not be read")
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit.saturating_mul(DRAIN_FACTOR) {
            break;
        }
        if seen <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(buf.freeze())
}

/// Checks `If-Match` / `If-None-Match` of a `PUT` against the entity's current ETag.
///
/// # Errors
/// 412 when a precondition fails.
pub(crate) fn check_put(headers: &HeaderMap, current: Option<&str>) -> Result<(), ApiError> {
    if let Some(tags) = header_tags(headers, header::IF_MATCH)
        && !matches_any(&tags, current)
    {
        return Err(ApiError::precondition_failed());
    }
    if let Some(tags) = header_tags(headers, header::IF_NONE_MATCH)
        && matches_any(&tags, current)
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "the entity already exists (If-None-Match)",
        ));
    }
    Ok(())
}

/// Checks the `If-Match` a `DELETE` must carry.
///
/// # Errors
/// 428 without the header; 412 when it does not match.
pub(crate) fn check_delete(headers: &HeaderMap, current: &str) -> Result<(), ApiError> {
    match header_tags(headers, header::IF_MATCH) {
        None => Err(ApiError::if_match_required()),
        Some(tags) if matches_any(&tags, Some(current)) => Ok(()),
        Some(_) => Err(ApiError::precondition_failed()),
    }
}

fn header_tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// Strong comparison: a weak tag (`W/"..."`) never matches, as RFC 9110 says for If-Match.
fn matches_any(tags: &[String], current: Option<&str>) -> bool {
    let Some(current) = current else {
        return false;
    };
    tags.iter().any(|t| t == "*" || t == current)
}

/// `{"id","type","name","properties"}` as APIM shapes every entity.
pub(crate) fn envelope(id: String, type_name: &str, name: &str, properties: Value) -> Value {
    json!({"id": id, "type": type_name, "name": name, "properties": properties})
}

/// `{"value": [...], "count": n}`.
pub(crate) fn list(items: Vec<Value>) -> Response {
    let count = items.len();
    Json(json!({"value": items, "count": count})).into_response()
}

/// A JSON entity with its ETag.
pub(crate) fn entity(status: StatusCode, etag: &str, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// 201 for a new entity, 200 for a replaced one.
pub(crate) fn put_status(existed: bool) -> StatusCode {
    if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn preconditions() {
        let tag = "\"e-3\"";
        assert!(check_put(&headers(&[]), Some(tag)).is_ok());
        assert!(check_put(&headers(&[("if-match", tag)]), Some(tag)).is_ok());
        assert!(check_put(&headers(&[("if-match", "\"e-2\", \"e-3\"")]), Some(tag)).is_ok());
        assert!(check_put(&headers(&[("if-match", "W/\"e-3\"")]), Some(tag)).is_err());
        assert!(check_put(&headers(&[("if-match", "*")]), None).is_err());
        assert!(check_put(&headers(&[("if-none-match", "*")]), Some(tag)).is_err());
        assert!(check_put(&headers(&[("if-none-match", "*")]), None).is_ok());

        let e = check_delete(&headers(&[]), tag).unwrap_err();
        assert_eq!(e.status, StatusCode::PRECONDITION_REQUIRED);
        let e = check_delete(&headers(&[("if-match", "\"e-2\"")]), tag).unwrap_err();
        assert_eq!(e.status, StatusCode::PRECONDITION_FAILED);
        assert!(check_delete(&headers(&[("if-match", "*")]), tag).is_ok());
    }
}
