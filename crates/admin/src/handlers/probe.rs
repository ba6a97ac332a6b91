//! `POST /backends/{id}/probe` and `POST /apis/{id}/probe`: a real TLS handshake with the
//! settings that apply (or another certificate), answered with a diagnosis; and the probe
//! `PUT /apis/{id}/gatewayCredentials?probe=true` runs before saving.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse as _, Response};
use gatehouse_model::snapshot::{BackendRoute, ClientIdentity, RequestPlan};
use gatehouse_model::{Kind, ModelError, Snapshot};
use http::StatusCode;
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::PathId;

/// Runs a probe: the gateway's handshake with a route and identities, as JSON.
pub type ProbeFn = Arc<
    dyn Fn(
            Arc<BackendRoute>,
            Vec<Arc<ClientIdentity>>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Value> + Send>>
        + Send
        + Sync,
>;

/// The optional body of a probe: `{"certificateId": "..."}` tries another certificate.
pub(crate) struct ProbeBody {
    certificate_id: Option<String>,
}

impl FromRequest<AppState> for ProbeBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &AppState) -> Result<Self, ApiError> {
        let bytes = req
            .into_body()
            .collect()
            .await
            .map_err(|_| ApiError::bad_request("InvalidBody", "the body could not be read"))?
            .to_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                certificate_id: None,
            });
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request("InvalidJson", format!("the body is not valid JSON: {e}"))
        })?;
        let Value::Object(map) = body else {
            return Err(ApiError::bad_request(
                "InvalidBody",
                "the body must be a JSON object",
            ));
        };
        if let Some(other) = map.keys().find(|k| *k != "certificateId") {
            return Err(ApiError::bad_request(
                "InvalidBody",
                format!("unknown field '{other}'; a probe takes certificateId"),
            ));
        }
        let certificate_id = match map.get("certificateId") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "InvalidBody",
                    "certificateId must be a string",
                ));
            }
        };
        Ok(Self { certificate_id })
    }
}

fn prober(s: &AppState) -> Result<&ProbeFn, ApiError> {
    s.probe.as_ref().ok_or_else(|| {
        ApiError::bad_request(
            "NotSupported",
            "no gateway runs in this process to probe with",
        )
    })
}

/// The identities to present: `certificate_id`'s when given, else the configured ones.
fn identities(
    snapshot: &Snapshot,
    certificate_id: Option<&str>,
    configured: &[Arc<ClientIdentity>],
) -> Result<Vec<Arc<ClientIdentity>>, ApiError> {
    match certificate_id {
        None => Ok(configured.to_vec()),
        Some(id) => snapshot
            .certificates
            .get(id)
            .map(|c| vec![Arc::clone(c)])
            .ok_or_else(|| {
                ModelError::invalid_field(
                    "CertificateNotFound",
                    "certificateId",
                    format!(
                        "certificate '{}' does not exist",
                        gatehouse_model::printable(id)
                    ),
                )
                .into()
            }),
    }
}

/// The plan an API's calls use for the probe: its least specific operation's (the catch-all
/// when there is one).
pub(crate) fn api_plan(snapshot: &Snapshot, api: &str) -> Option<Arc<RequestPlan>> {
    snapshot
        .apis
        .iter()
        .find(|a| a.id == api)
        .and_then(|a| a.operations.last())
        .map(|o| Arc::clone(&o.plan))
}

/// `POST /backends/{id}/probe`
pub(crate) async fn probe_backend(
    State(s): State<AppState>,
    PathId(id): PathId,
    body: ProbeBody,
) -> Result<Response, ApiError> {
    let probe = prober(&s)?;
    let snapshot = s.cp.snapshots().load();
    let route = snapshot.backends.get(&id).cloned().ok_or_else(|| {
        ApiError::from(ModelError::NotFound {
            kind: Kind::Backend.noun(),
            id: id.clone(),
        })
    })?;
    let identities = identities(
        &snapshot,
        body.certificate_id.as_deref(),
        &route.settings.client_certificates,
    )?;
    Ok((StatusCode::OK, Json(probe(route, identities).await)).into_response())
}

/// `POST /apis/{id}/probe`
pub(crate) async fn probe_api(
    State(s): State<AppState>,
    PathId(id): PathId,
    body: ProbeBody,
) -> Result<Response, ApiError> {
    let probe = prober(&s)?;
    let snapshot = s.cp.snapshots().load();
    if !s.cp.config().apis.contains_key(&id) {
        return Err(ModelError::NotFound {
            kind: Kind::Api.noun(),
            id,
        }
        .into());
    }
    let plan = api_plan(&snapshot, &id).ok_or_else(|| {
        ApiError::bad_request(
            "NoOperations",
            format!("API '{id}' has no operations yet, so no call has settings to probe"),
        )
    })?;
    let identities = identities(
        &snapshot,
        body.certificate_id.as_deref(),
        &plan.client_certificates,
    )?;
    Ok((
        StatusCode::OK,
        Json(probe(Arc::clone(&plan.backend), identities).await),
    )
        .into_response())
}

/// Probes what `candidate` would do for API `api` and refuses the change when the handshake
/// fails: 424 `ProbeFailed` with the diagnosis; nothing is saved.
pub(crate) async fn refuse_unless_probe_passes(
    s: &AppState,
    candidate: &Snapshot,
    api: &str,
) -> Result<(), ApiError> {
    let probe = prober(s)?;
    let Some(plan) = api_plan(candidate, api) else {
        return Ok(());
    };
    let report = probe(Arc::clone(&plan.backend), plan.client_certificates.clone()).await;
    if report["success"] == Value::Bool(true) {
        return Ok(());
    }
    let code = report["code"].as_str().unwrap_or("ProbeFailed").to_owned();
    let why = report["message"].as_str().unwrap_or_default().to_owned();
    let mut error = ApiError::new(
        StatusCode::FAILED_DEPENDENCY,
        "ProbeFailed",
        format!("the handshake with the new settings failed ({code}): {why}; nothing was changed"),
    );
    error.probe = Some(report);
    Err(error)
}
