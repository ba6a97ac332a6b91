//! The gateway's own record of traced calls: the portal's test console asks for a trace
//! (`x-gatehouse-trace`) and then reads what the gateway did, including which client
//! certificate it presented to the back end. Only traced calls are recorded, and only the
//! most recent ones are kept, so the request path pays nothing for untraced traffic.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderName;

/// The header that asks the gateway to record a call; it is not forwarded.
pub(crate) const TRACE: HeaderName = HeaderName::from_static("x-gatehouse-trace");

/// Records kept.
const KEPT: usize = 256;

/// What the gateway did with one traced call.
#[derive(Clone, Debug)]
pub struct CallRecord {
    /// The request id the caller got in `x-request-id`.
    pub request_id: String,
    /// API that matched (empty when none).
    pub api: String,
    /// Operation that matched (empty when none).
    pub operation: String,
    /// Status the caller got.
    pub status: u16,
    /// The back end's label (entity id or origin), when one was reached.
    pub backend: Option<String>,
    /// The client certificate presented to the back end: id and thumbprint.
    pub certificate: Option<(String, String)>,
    /// Time to the response headers.
    pub elapsed: Duration,
    /// The failure code, when the gateway answered with an error.
    pub error: Option<String>,
}

/// The most recent traced calls.
#[derive(Default)]
pub(crate) struct CallLog {
    calls: Mutex<VecDeque<CallRecord>>,
}

impl CallLog {
    pub(crate) fn record(&self, call: CallRecord) {
        if let Ok(mut calls) = self.calls.lock() {
            if calls.len() == KEPT {
                calls.pop_front();
            }
            calls.push_back(call);
        }
    }

    pub(crate) fn find(&self, request_id: &str) -> Option<CallRecord> {
        let calls = self.calls.lock().ok()?;
        calls
            .iter()
            .rev()
            .find(|c| c.request_id == request_id)
            .cloned()
    }
}
