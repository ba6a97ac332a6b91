//! The audit trail page: the newest changes, read through `GET /auditEvents`.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use http::Method;

use super::{Chrome, ErrorView, Signed, api, render};
use crate::AppState;

/// Events the page shows.
const SHOWN: usize = 200;

pub(crate) struct EventRow {
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) address: String,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) operation: String,
    pub(crate) revisions: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    events: Vec<EventRow>,
    error: Option<ErrorView>,
}

/// `GET /ui/audit`
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let reply = api(
        &state,
        Method::GET,
        &format!("/auditEvents?$top={SHOWN}"),
        None,
    )
    .await;
    let (events, error) = if reply.ok() {
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        let events = reply.body["value"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        let p = &e["properties"];
                        EventRow {
                            at: text(p, "timeStampUtc")
                                .replace('T', " ")
                                .chars()
                                .take(19)
                                .collect(),
                            actor: format!("{} ({})", text(p, "actor"), text(p, "via")),
                            address: text(p, "address"),
                            kind: text(p, "entityKind"),
                            id: text(p, "entityId"),
                            operation: text(p, "operation"),
                            revisions: format!("{} → {}", p["revisionBefore"], p["revisionAfter"]),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        (events, None)
    } else {
        (Vec::new(), Some(ErrorView::from_reply(&reply)))
    };
    render(&AuditPage {
        chrome: Chrome::new(&signed, "/ui/audit"),
        events,
        error,
    })
}
