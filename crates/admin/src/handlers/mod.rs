//! Route handlers, one module per resource family, and the lookups they share.

pub(crate) mod apis;
pub(crate) mod audit;
pub(crate) mod backends;
pub(crate) mod certificates;
pub(crate) mod hostnames;
pub(crate) mod policies;
pub(crate) mod probe;
pub(crate) mod tokens;

use std::collections::BTreeMap;

use axum::response::Response;
use gatehouse_model::config::Stored;
use gatehouse_model::entity::api::OperationProperties;
use gatehouse_model::{Config, Detail, Kind, ModelError, Usage};
use serde_json::Value;

use crate::error::ApiError;

/// The entity `id` of `map`, or a 404 naming its kind.
pub(crate) fn find<'a, T>(
    map: &'a BTreeMap<String, Stored<T>>,
    kind: Kind,
    id: &str,
) -> Result<&'a Stored<T>, ApiError> {
    map.get(id).ok_or_else(|| {
        ModelError::NotFound {
            kind: kind.noun(),
            id: id.to_string(),
        }
        .into()
    })
}

/// A 409 naming every reference; the message lists the APIs so the operator knows where to go.
pub(crate) fn in_use(code: &str, what: &str, usages: &[Usage]) -> ApiError {
    let mut apis: Vec<&str> = usages.iter().filter_map(|u| u.api_id.as_deref()).collect();
    apis.sort_unstable();
    apis.dedup();
    let mut others: Vec<&str> = usages
        .iter()
        .filter(|u| u.api_id.is_none())
        .map(|u| u.description.as_str())
        .collect();
    others.dedup();
    let mut parts = Vec::new();
    if !apis.is_empty() {
        let quoted: Vec<String> = apis.iter().map(|a| format!("'{a}'")).collect();
        parts.push(format!("API {}", quoted.join(", ")));
    }
    parts.extend(others.iter().map(|s| s.to_string()));
    ApiError::from(ModelError::Conflict {
        code: code.to_string(),
        message: format!(
            "{what} is in use by {}; remove those references first (see details)",
            parts.join("; ")
        ),
        details: usages
            .iter()
            .map(|u| Detail::new(code, u.id.clone(), u.description.clone()))
            .collect(),
    })
}

/// The operation `op` of API `api`, or a 404 naming which of the two is missing.
pub(crate) fn find_operation<'a>(
    config: &'a Config,
    api: &str,
    op: &str,
) -> Result<&'a Stored<OperationProperties>, ApiError> {
    find(&config.apis, Kind::Api, api)?;
    config
        .operations
        .get(&(api.to_string(), op.to_string()))
        .ok_or_else(|| {
            ModelError::NotFound {
                kind: "operation",
                id: format!("{api}/{op}"),
            }
            .into()
        })
}

/// `{"value": [usages], "count": n}`.
pub(crate) fn usages_response(usages: Vec<Usage>) -> Response {
    crate::request::list(
        usages
            .iter()
            .map(|u| serde_json::to_value(u).unwrap_or(Value::Null))
            .collect(),
    )
}
