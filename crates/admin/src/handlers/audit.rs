//! `GET /auditEvents`: who changed what, when, and from where (newest first), with `$filter`
//! (`entityId eq 'client-a'`, `timeStampUtc ge '2026-12-01'`), `$top` and `$skip`.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::error::ApiError;
use crate::listing::ListQuery;

/// The events read from the store for one answer: the filter and pages apply to these.
const WINDOW: usize = 10_000;

/// `GET /auditEvents`
pub(crate) async fn list_events(
    State(s): State<AppState>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let events = s.cp.audit_events(WINDOW).await?;
    Ok(query.respond(
        events
            .iter()
            .map(|e| {
                json!({
                    "id": format!("/auditEvents/{}", e.id),
                    "name": e.id.to_string(),
                    "type": "Gatehouse/service/auditEvents",
                    "properties": {
                        "timeStampUtc": e.at.format(&Rfc3339).unwrap_or_default(),
                        "actor": e.actor,
                        "via": e.via,
                        "address": e.address,
                        "entityKind": e.kind,
                        "entityId": e.key,
                        "operation": e.operation,
                        "revisionBefore": e.revision_before,
                        "revisionAfter": e.revision_after,
                    }
                })
            })
            .collect(),
    ))
}
