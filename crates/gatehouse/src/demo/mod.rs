//! `gatehouse demo`: the whole story on a temporary data directory.
//!
//! In one process: a back end that requires a client certificate, a self-signed client
//! certificate, and Gatehouse itself. The demo then configures Gatehouse only through its
//! management API over HTTP, as an operator would, calls the API through the gateway, prints
//! what the back end saw, and leaves everything running until Ctrl-C.

mod backend;
mod certs;
mod client;
mod tempdir;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::json;
use tokio::signal::unix::{Signal, SignalKind, signal};
use zeroize::Zeroizing;

use crate::bootstrap;
use client::Http;

/// Id of the uploaded client certificate.
const CERTIFICATE_ID: &str = "demo-client";
/// Id of the CA certificate entity holding the back end's own certificate.
const CA_ID: &str = "demo-backend-server";
/// Id of the back-end entity.
const BACKEND_ID: &str = "demo-backend";
/// Id and URL suffix of the API.
const API_ID: &str = "demo";
/// Id of the API's catch-all operation.
const OPERATION_ID: &str = "all";
/// Number of numbered steps printed.
const STEPS: u32 = 8;

/// Flags of `gatehouse demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Address of the management API and the portal; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8001")]
    pub(crate) admin_listen: SocketAddr,

    /// Address of the gateway; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub(crate) gateway_listen: SocketAddr,
}

/// Runs the demo until Ctrl-C (SIGINT) or SIGTERM; exits 0 after a clean stop, 1 with one
/// line on stderr when a step fails.
pub(crate) fn run(args: DemoArgs) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    // Listening before anything is created: from here on a Ctrl-C, even during the set-up,
    // ends in the orderly stop below that removes the temporary directory, instead of the
    // default action that kills the process and leaves the directory behind.
    let signals = {
        let _context = runtime.enter();
        Signals::install()
    };
    let signals = match signals {
        Ok(signals) => signals,
        Err(e) => return fail(&e),
    };
    let dir = match tempdir::TempDir::create() {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(demo(args, dir.path(), signals));
    // Connections still open (a curl left waiting, the gateway's pool) must not outlive the
    // directory they may write to; a second is plenty after the graceful stop.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let path = dir.path().to_path_buf();
    let removed = dir.remove();
    if let Err(e) = result {
        return fail(&e);
    }
    match removed {
        Ok(()) => {
            println!("Stopped. Removed {}.", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Prints the one line a failure gets.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("gatehouse demo: {error:#}");
    ExitCode::FAILURE
}

/// Warnings and errors go to stderr (`RUST_LOG` overrides). Left out: the notice that the
/// master key was generated next to the data (that data is thrown away on exit), and the
/// gateway's per-request warnings, which would repeat, for the demo's own deliberately
/// refused call and for any failing `curl`, the code and message the caller already gets.
fn init_logging() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,gatehouse::bootstrap=error,gatehouse_proxy::handler=error")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The demo proper: set up, show, serve until a signal.
async fn demo(args: DemoArgs, data_dir: &Path, mut signals: Signals) -> anyhow::Result<()> {
    let set_up = tokio::select! {
        biased;
        name = signals.recv() => {
            println!("{name} received during the set-up; stopping.");
            return Ok(());
        }
        set_up = set_up(&args, data_dir) => set_up?,
    };
    let Demo {
        running,
        backend,
        admin,
        gateway,
        token,
    } = set_up;
    print_ready(admin, gateway, &token);
    let until = async move {
        let name = signals.recv().await;
        println!();
        println!("{name} received: stopping (requests in flight may finish)...");
        name
    };
    let stopped = running.run_until(until).await;
    drop(backend);
    stopped
}

/// SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal closed) and SIGQUIT, listened for from the
/// start of the demo: each stops it cleanly, so the temporary data directory, which holds the
/// master key beside the sealed keys, is always removed.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
    quit: Signal,
}

impl Signals {
    /// Installs the handlers; must run inside the runtime.
    fn install() -> anyhow::Result<Self> {
        let handler =
            |kind, name| signal(kind).with_context(|| format!("cannot listen for {name}"));
        Ok(Self {
            interrupt: handler(SignalKind::interrupt(), "SIGINT")?,
            terminate: handler(SignalKind::terminate(), "SIGTERM")?,
            hangup: handler(SignalKind::hangup(), "SIGHUP")?,
            quit: handler(SignalKind::quit(), "SIGQUIT")?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
            _ = self.quit.recv() => "SIGQUIT",
        }
    }
}

/// What the set-up leaves running.
struct Demo {
    /// Gatehouse: management API and gateway.
    running: bootstrap::Running,
    /// The back end the API forwards to.
    backend: backend::Backend,
    /// The management API, as this machine reaches it.
    admin: SocketAddr,
    /// The gateway, as this machine reaches it.
    gateway: SocketAddr,
    /// The admin token Gatehouse was started with.
    token: Zeroizing<String>,
}

/// Steps 1 to 8.
async fn set_up(args: &DemoArgs, data_dir: &Path) -> anyhow::Result<Demo> {
    println!("Gatehouse demo: a back end that requires a client certificate, and Gatehouse");
    println!("presenting one for an API, configured through the management API.");
    println!();

    // The client certificate first: the back end trusts exactly it, as a back end trusts the
    // CA its clients' certificates come from.
    let client_cert = certs::client_certificate()?;
    let client_info = gatehouse_pki::certificate_info(&client_cert.der)
        .context("cannot read back the client certificate")?;
    let server_cert = certs::server_certificate()?;
    let (chain, key) = server_cert.identity();
    let backend = backend::start(chain, key, client_cert.der.clone()).await?;
    let backend_url = format!("https://localhost:{}", backend.addr.port());
    step(
        1,
        &format!(
            "Back end started at {backend_url} (listening on {}): it refuses connections \
             without the demo's client certificate; its own TLS certificate (CN=localhost) is \
             self-signed",
            backend.addr
        ),
    );

    step(
        2,
        &format!(
            "Client certificate created: {} (self-signed), thumbprint {}",
            client_info.subject, client_info.thumbprint
        ),
    );

    let token = random_token()?;
    let running = bootstrap::start(bootstrap::Config {
        data_dir: data_dir.to_path_buf(),
        admin_listen: args.admin_listen,
        admin_allowed_hosts: Vec::new(),
        admin_tls: None,
        gateway_listen: Some(args.gateway_listen),
        gateway_tls_listen: None,
        master_key_file: None,
        max_body_bytes: 256 * 1024,
        shutdown_grace: Duration::from_secs(5),
        backend_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        limits: gatehouse_proxy::Limits::default(),
        trusted_proxies: Vec::new(),
        backend_chain_cache: true,
        http1_engine: gatehouse_proxy::Http1Engine::default(),
        admin_token: Some(token.clone()),
        database_url: None,
        secret_refresh_interval: Duration::from_secs(300),
        certificate_versions: 5,
        audit_retention: Duration::from_secs(90 * 86_400),
    })
    .await
    .context("cannot start Gatehouse")?;
    let gateway = running
        .gateway
        .context("the demo's gateway has a plain listener")?;
    let (admin, gateway) = (reachable(running.admin), reachable(gateway));
    step(3, "Gatehouse started");
    detail("gateway", &format!("http://{gateway}"));
    detail("management API", &format!("http://{admin}"));
    detail(
        "data directory",
        &format!("{} (removed on exit)", data_dir.display()),
    );

    let api = Http::new(admin, Some(token.clone()));
    let uploaded = api
        .put(
            &format!("/certificates/{CERTIFICATE_ID}"),
            &json!({"properties": {"pem": client_cert.cert_and_key_pem().as_str()}}),
        )
        .await
        .context("uploading the client certificate")?;
    let uploaded_thumbprint = uploaded["properties"]["thumbprint"]
        .as_str()
        .context("the certificate upload answered without a thumbprint")?
        .to_string();
    step(
        4,
        &format!(
            "Certificate '{CERTIFICATE_ID}' uploaded (PUT /certificates/{CERTIFICATE_ID}); \
             the management API reports thumbprint {uploaded_thumbprint}"
        ),
    );

    let server_pem = base64::engine::general_purpose::STANDARD.encode(&server_cert.cert_pem);
    api.put(
        &format!("/caCertificates/{CA_ID}"),
        &json!({"properties": {"data": server_pem}}),
    )
    .await
    .context("trusting the back end's certificate")?;
    api.put(
        &format!("/backends/{BACKEND_ID}"),
        &json!({"properties": {
            "url": backend_url,
            "description": "The demo's local back end",
            "tls": {
                "caCertificateIds": [CA_ID],
                "validateCertificateChain": true,
                "validateCertificateName": true,
            },
        }}),
    )
    .await
    .context("creating the back end")?;
    step(
        5,
        &format!(
            "Back end '{BACKEND_ID}' created for {backend_url}: its self-signed certificate is \
             trusted as CA certificate '{CA_ID}', so certificate validation stays on (chain \
             and host name)"
        ),
    );

    api.put(
        &format!("/apis/{API_ID}"),
        &json!({"properties": {
            "displayName": "Gatehouse demo",
            "path": API_ID,
            "serviceUrl": backend_url,
        }}),
    )
    .await
    .context("creating the API")?;
    api.put(
        &format!("/apis/{API_ID}/operations/{OPERATION_ID}"),
        &json!({"properties": {"displayName": "Everything", "method": "*", "urlTemplate": "/*"}}),
    )
    .await
    .context("creating the operation")?;
    step(
        6,
        &format!(
            "API '{API_ID}' created: http://{gateway}/{API_ID}/* forwards to {backend_url}/*, \
             through operation '{OPERATION_ID}' (any method, /*)"
        ),
    );

    // Before the credentials are set, the back end refuses the gateway: the certificate is
    // what lets the call through, not anything else the demo configured.
    let path = format!("/{API_ID}/hello");
    let gateway_client = Http::new(gateway, None);
    let refused = gateway_client
        .get(&path)
        .await
        .context("calling the API through the gateway")?;
    if refused.status.is_success() {
        bail!("the back end answered a call without a client certificate; it should refuse it");
    }
    detail(
        "no credentials",
        &format!(
            "GET http://{gateway}{path} answers {} ({})",
            refused.status,
            refused.json["code"].as_str().unwrap_or("no code")
        ),
    );

    api.put(
        &format!("/apis/{API_ID}/gatewayCredentials"),
        &json!({"properties": {"type": "clientCertificate", "certificateId": CERTIFICATE_ID}}),
    )
    .await
    .context("setting the API's gateway credentials")?;
    step(
        7,
        &format!(
            "Gateway credentials of API '{API_ID}' set to certificate '{CERTIFICATE_ID}': its \
             policy now holds <authentication-certificate certificate-id=\"{CERTIFICATE_ID}\" />"
        ),
    );

    let reply = gateway_client
        .get(&path)
        .await
        .context("calling the API through the gateway")?;
    if !reply.status.is_success() {
        bail!(
            "GET http://{gateway}{path} answered {}: {}",
            reply.status,
            client::error_message(&reply.json)
        );
    }
    let seen = &reply.json["clientCertificate"];
    let (Some(subject), Some(thumbprint)) = (seen["subject"].as_str(), seen["thumbprint"].as_str())
    else {
        bail!(
            "the back end reported no client certificate: {}",
            reply.json
        );
    };
    if thumbprint != uploaded_thumbprint {
        bail!("the back end saw certificate {thumbprint}, not the uploaded {uploaded_thumbprint}");
    }
    step(
        8,
        &format!(
            "GET http://{gateway}{path} answered {}; the back end saw this client certificate:",
            reply.status
        ),
    );
    detail("subject", subject);
    detail(
        "thumbprint",
        &format!("{thumbprint} (equal to the uploaded certificate's)"),
    );

    Ok(Demo {
        running,
        backend,
        admin,
        gateway,
        token,
    })
}

/// Prints the portal, the token and what to try, while Gatehouse keeps running.
fn print_ready(admin: SocketAddr, gateway: SocketAddr, token: &str) {
    println!();
    println!("Gatehouse is running. Try it:");
    detail("portal", &format!("http://{admin}/"));
    detail("admin token", token);
    println!("      curl -sS http://{gateway}/{API_ID}/hello");
    println!(
        "      curl -sS -H 'Authorization: Bearer {token}' http://{admin}/apis/{API_ID}/policies/policy"
    );
    println!(
        "      GATEHOUSE_ADMIN_TOKEN='{token}' gatehouse cert list --admin-url http://{admin}"
    );
    println!("Press Ctrl-C to stop; the data directory is removed on exit.");
}

/// Prints a numbered step.
fn step(n: u32, text: &str) {
    println!("[{n}/{STEPS}] {text}");
}

/// Prints an indented `label: value` line under a step.
fn detail(label: &str, value: &str) {
    println!("      {:<16}{value}", format!("{label}:"));
}

/// The address to connect to for a listener bound to `addr`: an unspecified address
/// (`0.0.0.0`, `::`) listens on loopback too, and is not something to put in a URL.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// A fresh admin token: 32 random bytes, URL-safe base64 (like the one `serve` generates).
fn random_token() -> anyhow::Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}
