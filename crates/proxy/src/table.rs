//! The gateway's routing table: built from each snapshot when it is published (never per
//! request), with every operation bound to its connection pool and its metrics.

use std::collections::HashSet;
use std::sync::Arc;

use gatehouse_model::Snapshot;
use gatehouse_model::snapshot::{OperationRoute, RequestPlan};
use http::Method;

use crate::metrics::{Metrics, OpStats};
use crate::relay::{Program, Programs};
use crate::upstream::{NoPool, Pools, Upstream};

/// An operation ready to serve.
pub(crate) struct OpEntry {
    pub(crate) api: Arc<str>,
    pub(crate) id: Arc<str>,
    pub(crate) route: Arc<OperationRoute>,
    /// The pool, or why there is none (the request then fails closed with 503).
    pub(crate) upstream: Result<Arc<Upstream>, Arc<NoPool>>,
    pub(crate) stats: Arc<OpStats>,
    /// Earliest end of validity among the client certificates, as a Unix time.
    pub(crate) certificate_not_after: Option<i64>,
    /// The back end's `Host` header, made once.
    pub(crate) host: http::HeaderValue,
    /// The header steps compiled for the own HTTP/1.1 relay (`None`: too many names; the
    /// operation's HTTP/1.1 requests go through hyper).
    pub(crate) programs: Option<Programs>,
}

impl OpEntry {
    pub(crate) fn plan(&self) -> &RequestPlan {
        &self.route.plan
    }
}

struct ApiEntry {
    /// Lower-case URL suffix without slashes.
    path: String,
    ops: Vec<OpEntry>,
    /// Served on the plain listener.
    http: bool,
    /// Served on the TLS listener.
    https: bool,
}

/// APIs by path, longest first, each with its operations in match order.
pub(crate) struct RouteTable {
    apis: Vec<ApiEntry>,
}

/// A matched route: the operation, and how long the request path below the API path is (the
/// path's last `rest_len` bytes).
pub(crate) struct Matched<'a> {
    pub(crate) op: &'a OpEntry,
    pub(crate) rest_len: usize,
}

impl RouteTable {
    /// An empty table (before the first snapshot).
    pub(crate) fn empty() -> Self {
        Self { apis: Vec::new() }
    }

    /// Builds the table of `snapshot`, reusing pools whose key did not change and retiring
    /// the others.
    pub(crate) fn build(snapshot: &Snapshot, pools: &Pools, metrics: &Metrics) -> Self {
        let mut live = HashSet::new();
        let mut apis = Vec::with_capacity(snapshot.apis.len());
        for api in &snapshot.apis {
            let api_id: Arc<str> = api.id.as_str().into();
            let mut ops = Vec::with_capacity(api.operations.len());
            for route in &api.operations {
                let plan = &route.plan;
                let upstream = pools
                    .get(&plan.backend, &plan.client_certificates, metrics, &mut live)
                    .map_err(|no| {
                        tracing::error!(api = %api.id, operation = %route.id, "{}", no.why);
                        Arc::new(no)
                    });
                // An authority that parsed as part of a URL is a valid header value.
                let host = http::HeaderValue::from_str(&plan.backend.url.authority)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
                ops.push(OpEntry {
                    host,
                    programs: programs(plan),
                    api: Arc::clone(&api_id),
                    id: route.id.as_str().into(),
                    stats: metrics.op(&api.id, &route.id),
                    certificate_not_after: plan
                        .client_certificates
                        .iter()
                        .map(|c| c.not_after.unix_timestamp())
                        .min(),
                    upstream,
                    route: Arc::clone(route),
                });
            }
            apis.push(ApiEntry {
                path: api.path.clone(),
                ops,
                http: api.http,
                https: api.https,
            });
        }
        pools.retain(&live);
        Self { apis }
    }

    /// The operation for `method` and `path` on the plain (`https` false) or TLS listener:
    /// the API served there whose path is the longest prefix on a segment boundary, then its
    /// first operation (most specific first) that matches. An API not served on the listener
    /// is not there at all (APIM answers 404 too).
    pub(crate) fn route(&self, method: &Method, path: &str, https: bool) -> Option<Matched<'_>> {
        let api = self
            .apis
            .iter()
            .filter(|a| if https { a.https } else { a.http })
            .find(|a| below(path, &a.path).is_some())?;
        let rest = below(path, &api.path)?;
        let op = api.ops.iter().find(|op| {
            op.route.method.as_ref().is_none_or(|m| m == method) && op.route.template.matches(rest)
        })?;
        Some(Matched {
            op,
            rest_len: rest.len(),
        })
    }
}

/// Names the gateway writes itself after a section's steps, so the steps cannot change them
/// (as in the hyper path, where the gateway's value is set last).
fn gateway_owned(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "x-request-id"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

fn programs(plan: &RequestPlan) -> Option<Programs> {
    let caller_header =
        |name: &http::HeaderName| plan.caller_headers.iter().any(|h| h.name == *name);
    Some(Programs {
        request: Program::compile_except(&plan.request_headers, |n| {
            gateway_owned(n) || caller_header(n)
        })?,
        response: Program::compile_except(&plan.response_headers, gateway_owned)?,
        error: Program::compile_except(&plan.error_headers, gateway_owned)?,
    })
}

/// The part of `path` below the API path `prefix` (lower case, no slashes at the ends), if
/// `path` lies under it: `/echo/a` is under `echo`, `/echoes` is not. The rest keeps its
/// leading slash (or is empty), as operation templates expect.
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    let trimmed = path.strip_prefix('/')?;
    let head = trimmed.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &trimmed[prefix.len()..];
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_prefixes_stop_at_segment_boundaries() {
        assert_eq!(below("/echo/a/b", "echo"), Some("/a/b"));
        assert_eq!(below("/ECHO", "echo"), Some(""));
        assert_eq!(below("/echoes", "echo"), None);
        assert_eq!(below("/shop/v1/items", "shop/v1"), Some("/items"));
        assert_eq!(below("/x", ""), Some("/x"));
        assert_eq!(below("/", ""), Some("/"));
    }
}
