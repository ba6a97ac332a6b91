//! Real TLS clients for the gateway's TLS listener: curl and `openssl s_client` (as operators
//! and their callers use them), and rustls for what needs one connection held across a change.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// What curl reported of one call.
#[derive(Debug)]
pub struct Curled {
    /// The status code (0 when no response came).
    pub status: u16,
    /// The HTTP version used: "1.1" or "2".
    pub http_version: String,
    /// The response body.
    pub body: String,
    /// curl's verbose log (the server certificate's subject is in it).
    pub log: String,
    /// curl's exit code.
    pub exit: i32,
}

/// `curl` to `https://{host}:{port}{path}` resolved to `addr`, trusting `ca` (a PEM file),
/// with `extra` arguments (`--http2`, `--cert F`, `-H ...`). Async: the test's own back ends
/// run on the test's runtime and must keep running while curl waits.
pub async fn curl(addr: SocketAddr, host: &str, path: &str, ca: &Path, extra: &[&str]) -> Curled {
    let url = format!("https://{host}:{}{path}", addr.port());
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-v", "--max-time", "20", "-o", "-"])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args([
            "--resolve",
            &format!("{host}:{}:{}", addr.port(), addr.ip()),
        ])
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg(&url)
        .output()
        .await
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut fields = tail.split_whitespace();
    Curled {
        status: fields.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        http_version: fields.next().unwrap_or_default().to_string(),
        body: body.to_string(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// `openssl s_client` against `addr` with `args` (e.g. `-servername x`, `-noservername`);
/// returns what it printed, stdout and stderr together.
pub async fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("openssl")
        .arg("s_client")
        .args(["-connect", &addr.to_string()])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run openssl s_client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A rustls client config trusting `ca_pem`, offering `alpn`, optionally with a client
/// certificate (`identity_pem`: certificate then key).
pub fn client_config(
    ca_pem: &str,
    alpn: &[&[u8]],
    identity_pem: Option<&str>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity_pem {
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Opens a TLS connection to `addr` for `host`.
pub async fn connect(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    host: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(ServerName::try_from(host.to_string()).unwrap(), tcp)
        .await
}

/// Sends one HTTP/1.1 GET on `tls` (keep-alive) and reads the response with its
/// Content-Length body.
pub async fn get(tls: &mut TlsStream<TcpStream>, host: &str, path: &str) -> String {
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    super::raw::read_response(tls).await
}

/// The subject line curl's verbose log shows for the server certificate.
pub fn served_subject(log: &str) -> String {
    log.lines()
        .find_map(|l| l.trim().strip_prefix("*  subject: "))
        .unwrap_or_default()
        .to_string()
}
