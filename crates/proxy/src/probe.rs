//! The pre-flight probe: a real TLS handshake with the settings a back end or an API would use,
//! and a diagnosis, without sending a request. Operators learn why a handshake fails (and which
//! setting fixes it) before they save a change, instead of from the first failed call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_model::snapshot::{BackendRoute, ClientIdentity};
use rustls::pki_types::UnixTime;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connect::{Origin, describe_certificate};
use crate::error::{Kind, tls_kind};
use crate::tls::{HANDSHAKE, Observer, client_config, diagnose};
use crate::upstream::Pools;

/// How long the probe waits after the handshake for the back end to refuse the certificate
/// (TLS 1.3 servers do that after the client's Finished, with an alert).
const VERDICT_WAIT: Duration = Duration::from_millis(400);

/// Probes `route` presenting `identities` (the one the back end's accepted CAs pick, as on
/// the data path). The answer is JSON for the management API.
pub(crate) async fn probe(
    pools: &Pools,
    route: &BackendRoute,
    identities: &[Arc<ClientIdentity>],
) -> Value {
    let start = Instant::now();
    let url = format!(
        "{}://{}:{}{}",
        if route.url.scheme == gatehouse_model::url::Scheme::Https {
            "https"
        } else {
            "http"
        },
        route.url.host,
        route.url.port,
        route.url.base_path
    );
    let mut report = json!({
        "backend": {"id": route.settings.backend_id, "url": url},
        "clientCertificate": {
            "configured": identities.iter().map(|i| json!({"id": i.id, "thumbprint": i.thumbprint, "subject": i.subject})).collect::<Vec<_>>(),
        },
    });
    let finish = |mut report: Value, code: &str, message: String| {
        report["success"] = json!(code == "Success");
        report["code"] = json!(code);
        report["message"] = json!(message);
        report["elapsedMs"] = json!((start.elapsed().as_secs_f64() * 1e4).round() / 10.0);
        report
    };
    let origin = match Origin::new(&route.url) {
        Ok(o) => o,
        Err(e) => return finish(report, "InvalidBackendUrl", e),
    };
    let timeout = pools.connect_timeout();
    let tcp = match tokio::time::timeout(
        timeout,
        TcpStream::connect((origin.host.as_str(), origin.port)),
    )
    .await
    {
        Err(_) => {
            return finish(
                report,
                Kind::BackendTimeout.code(),
                format!(
                    "connecting to {}:{} took longer than {timeout:?}",
                    origin.host, origin.port
                ),
            );
        }
        Ok(Err(e)) => {
            let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                Kind::BackendConnectionRefused
            } else {
                Kind::BackendUnreachable
            };
            return finish(
                report,
                kind.code(),
                format!("connecting to {}:{}: {e}", origin.host, origin.port),
            );
        }
        Ok(Ok(tcp)) => tcp,
    };
    report["tcp"] = json!({"connectedMs": (start.elapsed().as_secs_f64() * 1e4).round() / 10.0});
    let (true, Some(server_name)) = (origin.https, origin.server_name.clone()) else {
        return finish(
            report,
            "Success",
            "connected; plain HTTP, so there is no TLS to check".into(),
        );
    };
    // A full handshake every time: a resumed session would hide the checks.
    let mut settings = (*route.settings.tls).clone();
    settings.session_resumption = false;
    let config = match client_config(
        &settings,
        identities,
        false,
        pools.roots(),
        pools.provider(),
    ) {
        Ok(c) => c,
        Err(e) => {
            return finish(
                report,
                Kind::BackendHandshakeFailed.code(),
                format!("cannot build the TLS settings: {e}"),
            );
        }
    };
    let observer = Arc::new(Observer {
        detailed: true,
        ..Observer::default()
    });
    let handshake = TlsConnector::from(config).connect(server_name.clone(), tcp);
    let result =
        tokio::time::timeout(timeout, HANDSHAKE.scope(Arc::clone(&observer), handshake)).await;

    // What the back end showed, whatever the outcome.
    let chain = observer.chain.lock().clone();
    let checks = diagnose(
        &settings,
        pools.roots(),
        pools.provider(),
        &chain,
        &server_name,
        UnixTime::now(),
    );
    let requested = observer
        .certificate_requested
        .load(std::sync::atomic::Ordering::Relaxed);
    let issuers: Vec<String> = observer
        .accepted_issuers
        .lock()
        .iter()
        .map(|dn| {
            gatehouse_pki::distinguished_name(dn).unwrap_or_else(|| "(unreadable name)".into())
        })
        .collect();
    let presented = observer.presented.lock().clone();
    report["serverCertificate"] = json!({
        "chain": chain.iter().map(|c| certificate_json(c.as_ref())).collect::<Vec<_>>(),
        "checks": {"chain": checks.chain, "name": checks.name, "pins": checks.pins},
    });
    report["clientCertificate"]["requested"] = json!(requested);
    report["clientCertificate"]["acceptedIssuers"] = json!(issuers);
    report["clientCertificate"]["presented"] = json!(
        presented
            .as_ref()
            .map(|p| json!({"id": &*p.id, "thumbprint": &*p.thumbprint}))
    );

    let mut tls = match result {
        Err(_) => {
            return finish(
                report,
                Kind::BackendTimeout.code(),
                format!("the TLS handshake took longer than {timeout:?}"),
            );
        }
        Ok(Err(e)) => {
            let kind = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .map_or(Kind::BackendHandshakeFailed, |e| tls_kind(e, requested));
            let message = format!("the TLS handshake failed: {e}; {}", kind.message());
            return finish(report, kind.code(), message);
        }
        Ok(Ok(tls)) => tls,
    };
    let connection = tls.get_ref().1;
    report["tls"] = json!({
        "protocol": connection.protocol_version().map(|v| format!("{v:?}")),
        "cipherSuite": connection.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
        "keyExchange": connection.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name())),
        "alpn": connection.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
    });
    // A TLS 1.3 back end refuses a certificate after the handshake: wait briefly for that.
    let mut byte = [0u8; 1];
    match tokio::time::timeout(VERDICT_WAIT, tls.read(&mut byte)).await {
        Ok(Err(e)) => {
            let kind = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
                .map_or(Kind::BackendHandshakeFailed, |e| tls_kind(e, requested));
            let message = format!(
                "the back end ended the connection after the handshake: {e}; {}",
                kind.message()
            );
            finish(report, kind.code(), message)
        }
        _ => {
            let message = match (requested, !identities.is_empty()) {
                (true, true) => "the handshake succeeded and the back end accepted the client certificate".to_owned(),
                (true, false) => "the handshake succeeded; the back end asked for a client certificate but none was configured, and it did not refuse".to_owned(),
                (false, true) => "the handshake succeeded, but the back end did not ask for a client certificate: the configured one is not what protects it".to_owned(),
                (false, false) => "the handshake succeeded".to_owned(),
            };
            finish(report, "Success", message)
        }
    }
}

fn certificate_json(der: &[u8]) -> Value {
    match gatehouse_pki::certificate_info(der) {
        Ok(info) => json!({
            "subject": info.subject,
            "issuer": info.issuer,
            "notBefore": info.not_before.format(&time::format_description::well_known::Rfc3339).ok(),
            "notAfter": info.not_after.format(&time::format_description::well_known::Rfc3339).ok(),
            "thumbprint": info.thumbprint,
        }),
        Err(_) => json!({"unparsable": describe_certificate(der)}),
    }
}
