//! Configurations several tests start from, made through the management API.

use serde_json::json;

use super::backend::{self, Backend};
use super::pki::{TestCa, b64};
use super::server::{Api, Options, Server, start};

/// `scheme://host:port` of a test back end.
pub fn base(backend: &Backend, host: &str, scheme: &str) -> String {
    format!("{scheme}://{host}:{}", backend.addr.port())
}

/// An API `echo` at `/echo` forwarding to `service_url`, with one catch-all operation.
pub async fn echo_api(api: &Api, service_url: &str) {
    api.put(
        "/apis/echo",
        &json!({"properties": {"path": "echo", "serviceUrl": service_url}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/echo/operations/all",
        &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
    )
    .await
    .expect(201);
}

/// An API `id` at `/{id}` forwarding to `url` with a catch-all operation; `protocols` when
/// given, and `inbound` policy statements (after `<base />`) when not empty.
pub async fn api_to(api: &Api, id: &str, url: &str, protocols: Option<&[&str]>, inbound: &str) {
    let mut props = json!({"path": id, "serviceUrl": url});
    if let Some(p) = protocols {
        props["protocols"] = json!(p);
    }
    api.put(&format!("/apis/{id}"), &json!({ "properties": props }))
        .await
        .expect(201);
    api.put(
        &format!("/apis/{id}/operations/all"),
        &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
    )
    .await
    .expect(201);
    if !inbound.is_empty() {
        let xml = format!("<policies><inbound><base />{inbound}</inbound></policies>");
        let reply = api
            .put(
                &format!("/apis/{id}/policies/policy"),
                &json!({"properties": {"value": xml}}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{}", reply.text());
    }
}

/// Uploads a PEM certificate with its key; returns its thumbprint.
pub async fn upload_pem(api: &Api, id: &str, pem: &str) -> String {
    let reply = api
        .put(
            &format!("/certificates/{id}"),
            &json!({"properties": {"pem": pem}}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.text());
    reply.json()["properties"]["thumbprint"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sets an API's gateway credentials to a client certificate.
pub async fn use_certificate(api: &Api, api_id: &str, certificate: &str) {
    api.put(
        &format!("/apis/{api_id}/gatewayCredentials"),
        &json!({"properties": {"type": "clientCertificate", "certificateId": certificate}}),
    )
    .await
    .expect(200);
}

/// `ca` uploaded as CA certificate `test-ca`, back end entity `svc` trusting it for `backend`
/// (reached as `localhost`), and the API `echo` forwarding to it under `/base`.
pub async fn trust_backend(api: &Api, ca: &TestCa, backend: &Backend) {
    api.put(
        "/caCertificates/test-ca",
        &json!({"properties": {"data": b64(&ca.der)}}),
    )
    .await
    .expect(201);
    api.put(
        "/backends/svc",
        &json!({"properties": {"url": base(backend, "localhost", "https"), "tls": {"caCertificateIds": ["test-ca"]}}}),
    )
    .await
    .expect(201);
    echo_api(
        api,
        &format!("{}/base", base(backend, "localhost", "https")),
    )
    .await;
}

/// What [`mtls_setup`] leaves running.
pub struct Mtls {
    /// The server's data directory.
    pub dir: tempfile::TempDir,
    /// The server.
    pub server: Server,
    /// Management API client.
    pub api: Api,
    /// Gateway client.
    pub gw: Api,
    /// The back end.
    pub backend: Backend,
    /// The CA of the back end's certificate (and of client certificates it may issue).
    pub ca: TestCa,
}

/// A back end that requires a client certificate, trusted through an uploaded CA (back end
/// entity `svc`), and the API `echo` forwarding to it under `/base`. `configure` adjusts the
/// back end's options (mode, ALPN, recycling).
pub async fn mtls_setup(configure: impl FnOnce(&mut backend::Options)) -> Mtls {
    mtls_setup_with(TestCa::new("Gatehouse Test CA"), configure, |_| {}).await
}

/// [`mtls_setup`] with the back end's CA given, and the server's options adjusted by `serve`
/// (environment, flags).
pub async fn mtls_setup_with(
    ca: TestCa,
    configure: impl FnOnce(&mut backend::Options),
    serve: impl FnOnce(&mut Options),
) -> Mtls {
    let mut options = backend::Options::mtls(ca.server(&["localhost"], -1, 30));
    configure(&mut options);
    let backend = backend::start(options).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server_options = Options::new(dir.path());
    serve(&mut server_options);
    let server = start(server_options);
    let api = server.api();
    trust_backend(&api, &ca, &backend).await;
    let gw = server.gateway();
    Mtls {
        dir,
        server,
        api,
        gw,
        backend,
        ca,
    }
}
