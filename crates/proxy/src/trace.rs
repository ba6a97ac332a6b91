//! The gateway's own record of traced calls: the portal's test console asks for a trace
//! (`x-gatehouse-trace`) and then reads what the gateway did, including which client
//! certificate it presented to the back end. Only traced calls are recorded, and only the
//! most recent ones are kept, so the request path pays nothing for untraced traffic.
//!
//! A trace is honoured only when the header carries this process's [`TraceKey`], which only
//! the console in the same process knows: otherwise any client could fill the ring and push
//! out the records the console is about to read.

use std::collections::VecDeque;
use std::time::Duration;

use aws_lc_rs::constant_time;
use http::{HeaderName, HeaderValue};
use parking_lot::Mutex;

/// The header that asks the gateway to record a call; it is not forwarded.
pub(crate) const TRACE: HeaderName = HeaderName::from_static("x-gatehouse-trace");

/// Records kept.
const KEPT: usize = 256;

/// Random bytes of the trace key; hex on the wire.
const KEY_BYTES: usize = 32;

/// The value `x-gatehouse-trace` must have for a call to be recorded: random per process.
pub(crate) struct TraceKey {
    /// `None` when no randomness was available: then no call is ever traced.
    value: Option<HeaderValue>,
}

impl std::fmt::Debug for TraceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceKey(..)")
    }
}

impl TraceKey {
    /// A new random key.
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            tracing::warn!("no randomness for the trace key: the test console cannot trace calls");
            return Self { value: None };
        }
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 2 * KEY_BYTES];
        for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        let value = HeaderValue::from_bytes(&text).ok().map(|mut v| {
            // Keeps it out of HPACK tables and shows it as "Sensitive" in Debug output.
            v.set_sensitive(true);
            v
        });
        Self { value }
    }

    /// The header value that asks for a trace, for the console in this process.
    pub(crate) fn value(&self) -> Option<HeaderValue> {
        self.value.clone()
    }

    /// Whether `presented` is the key. Constant time in its bytes, so a caller cannot find
    /// the key a character at a time; no allocation, since every request with the header
    /// pays for the check.
    pub(crate) fn accepts(&self, presented: Option<&HeaderValue>) -> bool {
        self.accepts_bytes(presented.map(HeaderValue::as_bytes))
    }

    /// [`TraceKey::accepts`] for a value read straight from a request head.
    pub(crate) fn accepts_bytes(&self, presented: Option<&[u8]>) -> bool {
        match (&self.value, presented) {
            (Some(key), Some(presented)) => {
                constant_time::verify_slices_are_equal(presented, key.as_bytes()).is_ok()
            }
            _ => false,
        }
    }
}

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
        let mut calls = self.calls.lock();
        if calls.len() == KEPT {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    pub(crate) fn find(&self, request_id: &str) -> Option<CallRecord> {
        let calls = self.calls.lock();
        calls
            .iter()
            .rev()
            .find(|c| c.request_id == request_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_itself_asks_for_a_trace() {
        let key = TraceKey::generate();
        let value = key.value().expect("randomness");
        assert_eq!(value.len(), 2 * KEY_BYTES);
        assert!(value.is_sensitive());
        assert!(key.accepts(Some(&value)));

        let other = TraceKey::generate().value().unwrap();
        assert_ne!(other, value, "each process gets its own key");
        let prefix = HeaderValue::from_bytes(&value.as_bytes()[..KEY_BYTES]).unwrap();
        for wrong in [
            HeaderValue::from_static("1"),
            HeaderValue::from_static(""),
            other,
            prefix,
        ] {
            assert!(!key.accepts(Some(&wrong)), "{wrong:?}");
        }
        assert!(!key.accepts(None));
        assert!(!format!("{key:?}").contains(value.to_str().unwrap()));
    }

    #[test]
    fn without_a_key_nothing_is_traced() {
        let key = TraceKey { value: None };
        assert!(key.value().is_none());
        assert!(!key.accepts(Some(&HeaderValue::from_static("1"))));
    }

    #[test]
    fn the_key_is_the_hex_of_its_bytes() {
        let mut bytes = [0u8; KEY_BYTES];
        bytes[0] = 0xab;
        bytes[KEY_BYTES - 1] = 0x0f;
        let value = TraceKey::from_bytes(&bytes).value().unwrap();
        let text = value.to_str().unwrap();
        assert!(text.starts_with("ab00"));
        assert!(text.ends_with("000f"));
    }
}
