//! The gateway's metrics: plain atomics on the request path, rendered as Prometheus text on
//! demand. Counters live in registries keyed by name, so they survive configuration changes
//! (a counter that restarted at zero on every change would read as a reset).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use gatehouse_model::Snapshot;
use parking_lot::Mutex;

use crate::error::Kind;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// Status codes 100..=599, one counter each.
const STATUSES: usize = 500;

/// Requests of one operation: counts by status and a latency histogram.
pub(crate) struct OpStats {
    api: Arc<str>,
    operation: Arc<str>,
    by_status: Box<[AtomicU64]>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    micros: AtomicU64,
}

impl OpStats {
    fn new(api: Arc<str>, operation: Arc<str>) -> Self {
        Self {
            api,
            operation,
            by_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            micros: AtomicU64::new(0),
        }
    }

    /// Records one answered request.
    pub(crate) fn record(&self, status: u16, elapsed: Duration) {
        let index = usize::from(status).saturating_sub(100).min(STATUSES - 1);
        self.by_status[index].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Connections and requests of one back end.
#[derive(Default)]
pub(crate) struct UpstreamStats {
    /// Connections open now.
    pub(crate) open: AtomicU64,
    /// Connections opened since start.
    pub(crate) new_connections: AtomicU64,
    /// Requests sent (new and reused connections).
    pub(crate) requests: AtomicU64,
    /// Handshakes where the back end did not ask for the configured client certificate.
    pub(crate) not_requested: AtomicU64,
    /// The leaf the back end presented in its last full handshake.
    pub(crate) server_certificate: Mutex<Option<SeenCertificate>>,
}

/// A back end's leaf certificate: DER, thumbprint, end of validity (Unix seconds).
pub(crate) type SeenCertificate = (Arc<[u8]>, String, i64);

impl UpstreamStats {
    /// Notes the leaf a back end presented; parsed only when it is not the one seen last.
    pub(crate) fn saw_server_certificate(&self, der: &[u8]) {
        let mut slot = self.server_certificate.lock();
        if slot.as_ref().is_some_and(|(seen, ..)| seen.as_ref() == der) {
            return;
        }
        if let Ok(info) = gatehouse_pki::certificate_info(der) {
            *slot = Some((der.into(), info.thumbprint, info.not_after.unix_timestamp()));
        }
    }
}

/// A metric family over back ends: name, type, help, and how to read it.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&UpstreamStats) -> u64,
);

/// (API id, operation id).
type OpKey = (Arc<str>, Arc<str>);

/// Every metric of the gateway.
#[derive(Default)]
pub struct Metrics {
    ops: Mutex<HashMap<OpKey, Arc<OpStats>>>,
    upstreams: Mutex<BTreeMap<Arc<str>, Arc<UpstreamStats>>>,
    handshake_failures: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    pub(crate) retries: AtomicU64,
    unmatched: AtomicU64,
    /// Client connections open now (parked ones included).
    pub(crate) client_connections: AtomicU64,
    /// Times an idle client connection was parked.
    pub(crate) client_parks: AtomicU64,
    /// Client connections closed because a request head was not complete in time.
    pub(crate) header_timeouts: AtomicU64,
    /// Idle client connections closed by the keep-alive timeout.
    pub(crate) idle_closes: AtomicU64,
    /// Times the accept loop waited for a free slot (`--max-connections`).
    pub(crate) connection_limit_waits: AtomicU64,
    /// TLS handshakes completed on the TLS listener.
    pub(crate) tls_handshakes: AtomicU64,
    /// TLS connections that ended before a handshake completed: no configuration for the
    /// server name, or a failed handshake.
    pub(crate) tls_unknown_names: AtomicU64,
    /// See `tls_unknown_names`.
    pub(crate) tls_failed_handshakes: AtomicU64,
}

impl Metrics {
    /// The stats of an operation, created on first use.
    pub(crate) fn op(&self, api: &str, operation: &str) -> Arc<OpStats> {
        let mut ops = self.ops.lock();
        let key: OpKey = (api.into(), operation.into());
        Arc::clone(
            ops.entry(key.clone())
                .or_insert_with(|| Arc::new(OpStats::new(key.0, key.1))),
        )
    }

    /// The stats of a back end, created on first use.
    pub(crate) fn upstream(&self, backend: &Arc<str>) -> Arc<UpstreamStats> {
        Arc::clone(
            self.upstreams
                .lock()
                .entry(Arc::clone(backend))
                .or_default(),
        )
    }

    /// Counts a request that matched no route.
    pub(crate) fn unmatched(&self) {
        self.unmatched.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a TLS connection that ended before its handshake completed.
    pub(crate) fn tls_refused(&self, refused: &crate::front::Refused) {
        match refused {
            crate::front::Refused::Closed => {}
            crate::front::Refused::UnknownName => {
                self.tls_unknown_names.fetch_add(1, Ordering::Relaxed);
            }
            crate::front::Refused::Handshake => {
                self.tls_failed_handshakes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a failed handshake (rare: a lock is fine here).
    pub(crate) fn handshake_failure(&self, backend: &Arc<str>, kind: Kind) {
        let mut map = self.handshake_failures.lock();
        *map.entry((Arc::clone(backend), kind.code())).or_default() += 1;
    }

    /// Prometheus text exposition of every metric, with certificate expiry from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_upstreams(&mut out);
        let _ = writeln!(
            out,
            "# HELP gatehouse_retries_total Requests sent again on a fresh connection.\n\
             # TYPE gatehouse_retries_total counter\ngatehouse_retries_total {}",
            self.retries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gatehouse_unmatched_requests_total Requests that matched no API or operation.\n\
             # TYPE gatehouse_unmatched_requests_total counter\n\
             gatehouse_unmatched_requests_total {}",
            self.unmatched.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gatehouse_client_connections Client connections open now.\n\
             # TYPE gatehouse_client_connections gauge\ngatehouse_client_connections {}\n\
             # HELP gatehouse_client_parks_total Times an idle client connection gave up its buffers.\n\
             # TYPE gatehouse_client_parks_total counter\ngatehouse_client_parks_total {}\n\
             # HELP gatehouse_client_header_timeouts_total Client connections closed because a request head was not complete within the header timeout.\n\
             # TYPE gatehouse_client_header_timeouts_total counter\ngatehouse_client_header_timeouts_total {}\n\
             # HELP gatehouse_client_idle_closes_total Idle client connections closed by the keep-alive timeout.\n\
             # TYPE gatehouse_client_idle_closes_total counter\ngatehouse_client_idle_closes_total {}\n\
             # HELP gatehouse_client_connection_limit_waits_total Times new clients waited because --max-connections were open.\n\
             # TYPE gatehouse_client_connection_limit_waits_total counter\ngatehouse_client_connection_limit_waits_total {}",
            self.client_connections.load(Ordering::Relaxed),
            self.client_parks.load(Ordering::Relaxed),
            self.header_timeouts.load(Ordering::Relaxed),
            self.idle_closes.load(Ordering::Relaxed),
            self.connection_limit_waits.load(Ordering::Relaxed)
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let _ = writeln!(
                out,
                "# HELP gatehouse_runtime_tasks Tasks alive in the async runtime (connections, \
                 idle ones included, and the gateway's own).\n\
                 # TYPE gatehouse_runtime_tasks gauge\ngatehouse_runtime_tasks {}",
                runtime.metrics().num_alive_tasks()
            );
        }
        let _ = writeln!(
            out,
            "# HELP gatehouse_tls_handshakes_total TLS handshakes completed on the gateway's TLS listener.\n\
             # TYPE gatehouse_tls_handshakes_total counter\ngatehouse_tls_handshakes_total {}\n\
             # HELP gatehouse_tls_refused_total TLS connections that ended before the handshake completed, by reason.\n\
             # TYPE gatehouse_tls_refused_total counter\n\
             gatehouse_tls_refused_total{{reason=\"unknown_name\"}} {}\n\
             gatehouse_tls_refused_total{{reason=\"handshake_failed\"}} {}",
            self.tls_handshakes.load(Ordering::Relaxed),
            self.tls_unknown_names.load(Ordering::Relaxed),
            self.tls_failed_handshakes.load(Ordering::Relaxed)
        );
        self.render_expiry_timestamps(snapshot, &mut out);
        let now = time::OffsetDateTime::now_utc();
        out.push_str(
            "# HELP gatehouse_certificate_expiry_seconds Seconds until each client certificate expires.\n\
             # TYPE gatehouse_certificate_expiry_seconds gauge\n",
        );
        for c in snapshot.certificate_expiry() {
            let _ = writeln!(
                out,
                "gatehouse_certificate_expiry_seconds{{certificate=\"{}\",thumbprint=\"{}\"}} {}",
                escape(&c.id),
                c.thumbprint,
                (c.not_after - now).whole_seconds()
            );
        }
        out
    }

    /// `gatehouse_certificate_expiry_timestamp_seconds{kind,id,thumbprint}`: client and CA
    /// certificates from the snapshot, and the leaf each back end presented last.
    fn render_expiry_timestamps(&self, snapshot: &Snapshot, out: &mut String) {
        out.push_str(
            "# HELP gatehouse_certificate_expiry_timestamp_seconds When a certificate expires (Unix time): client (uploaded or referenced), ca (uploaded), backend (the leaf a back end presented in its last full handshake).\n\
             # TYPE gatehouse_certificate_expiry_timestamp_seconds gauge\n",
        );
        for (kind, list) in [
            ("client", snapshot.certificate_expiry()),
            ("ca", snapshot.ca_expiry.clone()),
        ] {
            for c in list {
                let _ = writeln!(
                    out,
                    "gatehouse_certificate_expiry_timestamp_seconds{{kind=\"{kind}\",id=\"{}\",thumbprint=\"{}\"}} {}",
                    escape(&c.id),
                    c.thumbprint,
                    c.not_after.unix_timestamp()
                );
            }
        }
        let upstreams = self.upstream_list();
        for (backend, stats) in upstreams {
            if let Some((_, thumbprint, not_after)) = stats.server_certificate.lock().as_ref() {
                let _ = writeln!(
                    out,
                    "gatehouse_certificate_expiry_timestamp_seconds{{kind=\"backend\",id=\"{}\",thumbprint=\"{thumbprint}\"}} {not_after}",
                    escape(&backend)
                );
            }
        }
    }

    /// Every back end's stats, copied out of the lock.
    fn upstream_list(&self) -> Vec<(Arc<str>, Arc<UpstreamStats>)> {
        self.upstreams
            .lock()
            .iter()
            .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
            .collect()
    }

    fn render_requests(&self, out: &mut String) {
        let mut ops: Vec<Arc<OpStats>> = self.ops.lock().values().cloned().collect();
        ops.sort_by(|a, b| (&a.api, &a.operation).cmp(&(&b.api, &b.operation)));
        out.push_str(
            "# HELP gatehouse_requests_total Requests answered, by API, operation and status.\n\
             # TYPE gatehouse_requests_total counter\n",
        );
        for op in &ops {
            for (i, n) in op.by_status.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "gatehouse_requests_total{{api=\"{}\",operation=\"{}\",code=\"{}\"}} {n}",
                        escape(&op.api),
                        escape(&op.operation),
                        i + 100
                    );
                }
            }
        }
        out.push_str(
            "# HELP gatehouse_request_duration_seconds Time from request to response headers.\n\
             # TYPE gatehouse_request_duration_seconds histogram\n",
        );
        for op in &ops {
            let labels = format!(
                "api=\"{}\",operation=\"{}\"",
                escape(&op.api),
                escape(&op.operation)
            );
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&op.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "gatehouse_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = op.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                 gatehouse_request_duration_seconds_sum{{{labels}}} {}\n\
                 gatehouse_request_duration_seconds_count{{{labels}}} {count}",
                op.micros.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
    }

    fn render_upstreams(&self, out: &mut String) {
        let upstreams = self.upstream_list();
        let families: [Family; 4] = [
            (
                "gatehouse_backend_connections_open",
                "gauge",
                "Connections to the back end open now.",
                |s| s.open.load(Ordering::Relaxed),
            ),
            (
                "gatehouse_backend_connections_new_total",
                "counter",
                "Connections opened to the back end.",
                |s| s.new_connections.load(Ordering::Relaxed),
            ),
            (
                "gatehouse_backend_connections_reused_total",
                "counter",
                "Requests sent on an already open connection.",
                |s| {
                    s.requests
                        .load(Ordering::Relaxed)
                        .saturating_sub(s.new_connections.load(Ordering::Relaxed))
                },
            ),
            (
                "gatehouse_backend_certificate_not_requested_total",
                "counter",
                "Handshakes where the back end did not ask for the configured client certificate.",
                |s| s.not_requested.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, read) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (backend, stats) in &upstreams {
                let _ = writeln!(
                    out,
                    "{name}{{backend=\"{}\"}} {}",
                    escape(backend),
                    read(stats)
                );
            }
        }
        out.push_str(
            "# HELP gatehouse_backend_handshake_failures_total Failed TLS handshakes with back ends, by reason.\n\
             # TYPE gatehouse_backend_handshake_failures_total counter\n",
        );
        let map = self.handshake_failures.lock();
        for ((backend, reason), n) in map.iter() {
            let _ = writeln!(
                out,
                "gatehouse_backend_handshake_failures_total{{backend=\"{}\",reason=\"{reason}\"}} {n}",
                escape(backend)
            );
        }
    }
}

/// Escapes a label value (ids are safe already; back-end labels may hold any host).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_histogram_and_failures() {
        let m = Metrics::default();
        let op = m.op("echo", "get");
        op.record(200, Duration::from_micros(700));
        op.record(200, Duration::from_millis(30));
        op.record(502, Duration::from_millis(2));
        let backend: Arc<str> = "b1".into();
        let up = m.upstream(&backend);
        up.new_connections.fetch_add(2, Ordering::Relaxed);
        up.requests.fetch_add(10, Ordering::Relaxed);
        m.handshake_failure(&backend, Kind::BackendCertificateUntrusted);
        let text = m.render(&Snapshot::default());
        assert!(
            text.contains(r#"gatehouse_requests_total{api="echo",operation="get",code="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gatehouse_requests_total{api="echo",operation="get",code="502"} 1"#)
        );
        assert!(text.contains(
            r#"gatehouse_request_duration_seconds_bucket{api="echo",operation="get",le="0.001"} 1"#
        ));
        assert!(text.contains(
            r#"gatehouse_request_duration_seconds_bucket{api="echo",operation="get",le="0.05"} 3"#
        ));
        assert!(
            text.contains(
                r#"gatehouse_request_duration_seconds_count{api="echo",operation="get"} 3"#
            )
        );
        assert!(text.contains(r#"gatehouse_backend_connections_reused_total{backend="b1"} 8"#));
        assert!(text.contains(r#"gatehouse_backend_handshake_failures_total{backend="b1",reason="BackendCertificateUntrusted"} 1"#));
        // The same operation keeps its counters across configuration changes.
        assert!(Arc::ptr_eq(&op, &m.op("echo", "get")));
    }
}
