//! Policies at global, API and operation scope, and an API's gateway credentials (which are
//! an edit of the API policy, so the policy stays the one source of truth).

use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::Config;
use gatehouse_model::entity::from_properties;
use gatehouse_model::entity::policy::{PolicyRecord, PolicyScope, policy_refusal};
use gatehouse_model::{Kind, ModelError};
use gatehouse_policy::{CertificateRef, GatewayCredentials, MASK, PolicyDocument, Scope};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{find, find_operation};
use crate::AppState;
use crate::error::ApiError;
use crate::request::{
    PathId, PathIds, Properties, check_delete, check_put, entity, envelope, put_status,
};

fn type_name(scope: &PolicyScope) -> &'static str {
    match scope {
        PolicyScope::Global => "Microsoft.ApiManagement/service/policies",
        PolicyScope::Api(_) => "Microsoft.ApiManagement/service/apis/policies",
        PolicyScope::Operation(..) => "Microsoft.ApiManagement/service/apis/operations/policies",
    }
}

fn policy_json(scope: &PolicyScope, p: &PolicyRecord) -> Value {
    let props = serde_json::to_value(p.contract()).unwrap_or(Value::Null);
    envelope(scope.resource_id(), type_name(scope), "policy", props)
}

/// 404 unless the API (and operation) the scope names exists.
fn check_scope(config: &Config, scope: &PolicyScope) -> Result<(), ApiError> {
    match scope {
        PolicyScope::Global => Ok(()),
        PolicyScope::Api(a) => find(&config.apis, Kind::Api, a).map(drop),
        PolicyScope::Operation(a, o) => find_operation(config, a, o).map(drop),
    }
}

fn not_found(scope: &PolicyScope) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("{} is not set", scope.describe()),
    )
}

async fn get_policy(s: AppState, scope: PolicyScope) -> Result<Response, ApiError> {
    let config = s.cp.config();
    check_scope(&config, &scope)?;
    let p = config
        .policies
        .get(&scope)
        .ok_or_else(|| not_found(&scope))?;
    Ok(entity(
        StatusCode::OK,
        &s.cp.etag(p.revision),
        policy_json(&scope, &p.value),
    ))
}

async fn put_policy(
    s: AppState,
    scope: PolicyScope,
    headers: HeaderMap,
    props: Value,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    check_scope(tx.config(), &scope)?;
    let existing = tx.config().policies.get(&scope).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let record = PolicyRecord::from_input(
        &scope,
        props,
        existing.as_ref().map(|e| &*e.value),
        &s.cp.limits().policy,
    )?;
    tx.put(record.to_record(&scope, tx.revision(), s.cp.master())?);
    let config = tx.commit().await?;
    let p = config
        .policies
        .get(&scope)
        .ok_or_else(|| not_found(&scope))?;
    Ok(entity(
        put_status(existing.is_some()),
        &s.cp.etag(p.revision),
        policy_json(&scope, &p.value),
    ))
}

async fn delete_policy(
    s: AppState,
    scope: PolicyScope,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut tx = s.cp.begin().await;
    check_scope(tx.config(), &scope)?;
    let p = tx
        .config()
        .policies
        .get(&scope)
        .ok_or_else(|| not_found(&scope))?;
    check_delete(&headers, &s.cp.etag(p.revision))?;
    tx.delete(Kind::Policy, scope.key());
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /policies/policy`
pub(crate) async fn get_global(State(s): State<AppState>) -> Result<Response, ApiError> {
    get_policy(s, PolicyScope::Global).await
}

/// `PUT /policies/policy`
pub(crate) async fn put_global(
    State(s): State<AppState>,
    headers: HeaderMap,
    Properties(p): Properties,
) -> Result<Response, ApiError> {
    put_policy(s, PolicyScope::Global, headers, p).await
}

/// `DELETE /policies/policy`
pub(crate) async fn delete_global(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete_policy(s, PolicyScope::Global, headers).await
}

/// `GET /apis/{apiId}/policies/policy`
pub(crate) async fn get_api(
    State(s): State<AppState>,
    PathId(api): PathId,
) -> Result<Response, ApiError> {
    get_policy(s, PolicyScope::Api(api)).await
}

/// `PUT /apis/{apiId}/policies/policy`
pub(crate) async fn put_api(
    State(s): State<AppState>,
    PathId(api): PathId,
    headers: HeaderMap,
    Properties(p): Properties,
) -> Result<Response, ApiError> {
    put_policy(s, PolicyScope::Api(api), headers, p).await
}

/// `DELETE /apis/{apiId}/policies/policy`
pub(crate) async fn delete_api(
    State(s): State<AppState>,
    PathId(api): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete_policy(s, PolicyScope::Api(api), headers).await
}

/// `GET /apis/{apiId}/operations/{operationId}/policies/policy`
pub(crate) async fn get_operation(
    State(s): State<AppState>,
    PathIds(api, op): PathIds,
) -> Result<Response, ApiError> {
    get_policy(s, PolicyScope::Operation(api, op)).await
}

/// `PUT /apis/{apiId}/operations/{operationId}/policies/policy`
pub(crate) async fn put_operation(
    State(s): State<AppState>,
    PathIds(api, op): PathIds,
    headers: HeaderMap,
    Properties(p): Properties,
) -> Result<Response, ApiError> {
    put_policy(s, PolicyScope::Operation(api, op), headers, p).await
}

/// `DELETE /apis/{apiId}/operations/{operationId}/policies/policy`
pub(crate) async fn delete_operation(
    State(s): State<AppState>,
    PathIds(api, op): PathIds,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete_policy(s, PolicyScope::Operation(api, op), headers).await
}

/// Body of `PUT /apis/{apiId}/gatewayCredentials`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum CredentialsInput {
    #[serde(rename_all = "camelCase")]
    ClientCertificate {
        certificate_id: String,
    },
    Basic {
        username: String,
        password: String,
    },
    None,
}

fn credentials_json(api: &str, config: &Config, doc: Option<&PolicyDocument>) -> Value {
    let creds = doc.map_or(
        GatewayCredentials::None,
        PolicyDocument::gateway_credentials,
    );
    let props = match creds {
        GatewayCredentials::None => json!({"type": "none"}),
        GatewayCredentials::Basic { username, .. } => {
            json!({"type": "basic", "username": username, "password": MASK})
        }
        GatewayCredentials::ClientCertificate(reference) => {
            let id = config.resolve_certificate(&reference);
            let cert = id.and_then(|id| config.certificates.get(id));
            json!({
                "type": "clientCertificate",
                "certificateId": id,
                "thumbprint": cert.map(|c| c.value.metadata.thumbprint.clone()),
                "subject": cert.map(|c| c.value.metadata.subject.clone()),
            })
        }
    };
    envelope(
        format!("/apis/{api}/gatewayCredentials"),
        "Gatehouse/service/apis/gatewayCredentials",
        "gatewayCredentials",
        props,
    )
}

/// `GET /apis/{apiId}/gatewayCredentials`: read back from the API policy.
pub(crate) async fn get_credentials(
    State(s): State<AppState>,
    PathId(api): PathId,
) -> Result<Response, ApiError> {
    let config = s.cp.config();
    find(&config.apis, Kind::Api, &api)?;
    let policy = config.policies.get(&PolicyScope::Api(api.clone()));
    let body = credentials_json(&api, &config, policy.map(|p| &p.value.document));
    // The ETag is the API policy's; with no policy there is nothing to match against.
    Ok(match policy {
        Some(p) => entity(StatusCode::OK, &s.cp.etag(p.revision), body),
        None => (StatusCode::OK, axum::Json(body)).into_response(),
    })
}

/// `PUT /apis/{apiId}/gatewayCredentials`: adds, replaces or removes the API policy's single
/// `authentication-certificate` / `authentication-basic` element, leaving the rest as it was.
pub(crate) async fn put_credentials(
    State(s): State<AppState>,
    PathId(api): PathId,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    Properties(props): Properties,
) -> Result<Response, ApiError> {
    let probe_first = match query.as_deref().unwrap_or_default() {
        "" => false,
        "probe=true" => true,
        "probe=false" => false,
        other => {
            return Err(ApiError::bad_request(
                "InvalidQuery",
                format!("unknown query '{other}'; this route takes probe=true"),
            ));
        }
    };
    let input: CredentialsInput = from_properties(props)?;
    let scope = PolicyScope::Api(api.clone());
    let mut tx = s.cp.begin().await;
    find(&tx.config().apis, Kind::Api, &api)?;
    let existing = tx.config().policies.get(&scope).cloned();
    check_put(
        &headers,
        existing.as_ref().map(|e| s.cp.etag(e.revision)).as_deref(),
    )?;
    let creds = match input {
        CredentialsInput::None => GatewayCredentials::None,
        CredentialsInput::ClientCertificate { certificate_id } => {
            if !tx.config().certificates.contains_key(&certificate_id) {
                return Err(ModelError::invalid_field(
                    "CertificateNotFound",
                    "properties.certificateId",
                    format!(
                        "certificate '{}' does not exist; upload it first",
                        gatehouse_model::printable(&certificate_id)
                    ),
                )
                .into());
            }
            GatewayCredentials::ClientCertificate(CertificateRef::Id(certificate_id))
        }
        CredentialsInput::Basic { username, password } => {
            GatewayCredentials::Basic { username, password }
        }
    };
    creds.validate().map_err(|e| policy_refusal(&scope, &e))?;
    if existing.is_none() && matches!(creds, GatewayCredentials::None) {
        // Nothing to remove, and no reason to create a policy that says nothing.
        let body = credentials_json(&api, tx.config(), None);
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }
    let previous = existing.as_ref().map(|e| &e.value.document);
    let mut document = previous
        .cloned()
        .unwrap_or_else(|| PolicyDocument::default_for_scope(Scope::Api));
    document.set_gateway_credentials(&creds, Scope::Api);
    document
        .restore_masked_secrets(previous)
        .map_err(|e| policy_refusal(&scope, &e))?;
    // The edit is re-validated as if the operator had typed it: a username with a ':' or a
    // password that is not valid XML text is refused here, not at request time.
    PolicyDocument::parse(&document.to_xml(), &s.cp.limits().policy)
        .and_then(|reparsed| reparsed.validate_for_scope(Scope::Api))
        .map_err(|e| policy_refusal(&scope, &e))?;
    let record = PolicyRecord { document };
    tx.put(record.to_record(&scope, tx.revision(), s.cp.master())?);
    if probe_first {
        let candidate = tx.preview()?;
        super::probe::refuse_unless_probe_passes(&s, &candidate, &api).await?;
    }
    let config = tx.commit().await?;
    let p = config
        .policies
        .get(&scope)
        .ok_or_else(|| not_found(&scope))?;
    Ok(entity(
        put_status(true),
        &s.cp.etag(p.revision),
        credentials_json(&api, &config, Some(&p.value.document)),
    ))
}
