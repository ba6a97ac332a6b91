//! Header rules of a proxy: hop-by-hop headers stay on their hop, and policy `set-header` steps
//! are applied as APIM defines them. (Forwarding headers: `forwarded.rs`.)

use gatehouse_model::snapshot::{ExistsAction, HeaderOp};
use http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers, including those any `Connection` header names (a message may
/// carry several `Connection` fields; together they are one list, RFC 9110 §5.3).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Applies `set-header` steps in order.
pub(crate) fn apply(headers: &mut HeaderMap, ops: &[HeaderOp]) {
    for op in ops {
        match op.action {
            ExistsAction::Override => {
                headers.remove(&op.name);
                append(headers, op);
            }
            ExistsAction::Skip => {
                if !headers.contains_key(&op.name) {
                    append(headers, op);
                }
            }
            ExistsAction::Append => append(headers, op),
            ExistsAction::Delete => {
                headers.remove(&op.name);
            }
        }
    }
}

fn append(headers: &mut HeaderMap, op: &HeaderOp) {
    for v in &op.values {
        headers.append(op.name.clone(), v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn op(name: &'static str, action: ExistsAction, values: &[&'static str]) -> HeaderOp {
        HeaderOp {
            name: HeaderName::from_static(name),
            action,
            values: values.iter().map(|v| HeaderValue::from_static(v)).collect(),
        }
    }

    #[test]
    fn hop_by_hop_headers_and_connection_tokens_go() {
        let mut h = map(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("x-keep", "yes"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-keep"], "yes");
    }

    #[test]
    fn every_connection_header_counts() {
        let mut h = map(&[
            ("connection", "keep-alive"),
            ("connection", "x-second , x-third"),
            ("x-second", "1"),
            ("x-third", "1"),
            ("x-keep", "yes"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-keep"], "yes");
    }

    #[test]
    fn set_header_actions_follow_apim() {
        let mut h = map(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
        apply(
            &mut h,
            &[
                op("a", ExistsAction::Override, &["2"]),
                op("b", ExistsAction::Skip, &["2"]),
                op("c", ExistsAction::Append, &["2", "3"]),
                op("d", ExistsAction::Delete, &[]),
                op("e", ExistsAction::Skip, &["new"]),
            ],
        );
        let all = |n: &str| {
            h.get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("a"), ["2"]);
        assert_eq!(all("b"), ["1"]);
        assert_eq!(all("c"), ["1", "2", "3"]);
        assert!(all("d").is_empty());
        assert_eq!(all("e"), ["new"]);
    }
}
