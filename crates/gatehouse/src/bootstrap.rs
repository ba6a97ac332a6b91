//! `gatehouse serve`: open the data directory, start the listeners, stop cleanly.

use std::fs;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use gatehouse_admin::{
    AdminAuth, AllowedHosts, AppState, ControlPlane, GatewayLink, Limits, hash_token,
};
use gatehouse_pki::MasterKey;
use gatehouse_store::{PostgresStore, SqliteStore, Store};
use zeroize::Zeroizing;

use crate::ServeArgs;

const TOKEN_HASH_META: &str = "adminTokenHash";

/// The node's sealed copy of the configuration it serves, kept when the store is shared.
const LOCAL_SNAPSHOT: &str = "config-snapshot.sealed";

/// The admin token's hash as last read from a shared store, for a start while it is away.
const TOKEN_HASH_FILE: &str = "admin-token.sha256";

/// How long a call to a shared database may wait for a connection: writes fail fast (503,
/// well within 2 s) while it is away. Connecting on a healthy network takes milliseconds.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a server is started with: `serve`'s flags, or what `demo` chooses.
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) admin_listen: SocketAddr,
    /// Host names the admin listener answers to besides IP literals and localhost.
    pub(crate) admin_allowed_hosts: Vec<String>,
    /// The admin listener's TLS certificate (`None`: plain HTTP).
    pub(crate) admin_tls: Option<crate::admin_tls::AdminCertificate>,
    /// The plain gateway listener (`None`: off).
    pub(crate) gateway_listen: Option<SocketAddr>,
    /// The TLS gateway listener (`None`: off).
    pub(crate) gateway_tls_listen: Option<SocketAddr>,
    pub(crate) master_key_file: Option<PathBuf>,
    pub(crate) max_body_bytes: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) backend_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// The gateway listener's timeouts and connection cap.
    pub(crate) limits: gatehouse_proxy::Limits,
    /// Peers whose forwarding headers are believed.
    pub(crate) trusted_proxies: Vec<gatehouse_proxy::Cidr>,
    /// Remember back-end chains that verified.
    pub(crate) backend_chain_cache: bool,
    /// What serves HTTP/1.1 callers.
    pub(crate) http1_engine: gatehouse_proxy::Http1Engine,
    /// The admin token, overriding `GATEHOUSE_ADMIN_TOKEN` and the stored one.
    pub(crate) admin_token: Option<Zeroizing<String>>,
    /// A PostgreSQL URL shared by several nodes; `None`: SQLite in the data directory.
    pub(crate) database_url: Option<Zeroizing<String>>,
    /// How often certificates referenced from secret stores are fetched again.
    pub(crate) secret_refresh_interval: Duration,
    /// Earlier versions kept per certificate.
    pub(crate) certificate_versions: usize,
    /// How long the audit trail keeps an event.
    pub(crate) audit_retention: Duration,
}

impl From<&ServeArgs> for Config {
    fn from(args: &ServeArgs) -> Self {
        Self {
            data_dir: args.data_dir.clone(),
            admin_listen: args.admin_listen,
            admin_allowed_hosts: args.admin_allowed_hosts.clone(),
            admin_tls: match (
                &args.admin_tls_cert,
                &args.admin_tls_key,
                &args.admin_tls_hostname,
            ) {
                (Some(cert), Some(key), _) => Some(crate::admin_tls::AdminCertificate::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                (_, _, Some(id)) => Some(crate::admin_tls::AdminCertificate::Hostname(id.clone())),
                _ => None,
            },
            gateway_listen: args.gateway_listen.0,
            gateway_tls_listen: args.gateway_tls_listen,
            master_key_file: args.master_key_file.clone(),
            max_body_bytes: args.max_body_bytes,
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            backend_timeout: Duration::from_secs(args.backend_timeout),
            connect_timeout: Duration::from_secs(args.connect_timeout),
            limits: gatehouse_proxy::Limits {
                header_timeout: Duration::from_secs(args.header_timeout),
                keep_alive: Duration::from_secs(args.keep_alive_timeout),
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
                max_request_line: usize::try_from(args.max_request_line).unwrap_or(usize::MAX),
                max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
                max_headers: usize::try_from(args.max_headers).unwrap_or(usize::MAX),
                body_timeout: Duration::from_secs(args.body_timeout),
                h2_max_streams: args.h2_max_streams,
            },
            trusted_proxies: args.trusted_proxies.clone(),
            backend_chain_cache: args.backend_chain_cache,
            http1_engine: args.http1_engine.into(),
            admin_token: None,
            database_url: args.database_url.clone().map(Zeroizing::new),
            secret_refresh_interval: Duration::from_secs(args.secret_refresh_interval.max(1)),
            certificate_versions: usize::from(args.certificate_versions),
            audit_retention: Duration::from_secs(
                u64::from(args.audit_retention_days.max(1)) * 86_400,
            ),
        }
    }
}

/// A started server: its listeners are bound and serving.
pub(crate) struct Running {
    /// Where the management API and the portal listen.
    pub(crate) admin: SocketAddr,
    /// Where the gateway's plain listener listens, when it is on.
    pub(crate) gateway: Option<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
    admin_task: tokio::task::JoinHandle<std::io::Result<()>>,
    gateway_task: tokio::task::JoinHandle<()>,
    grace: Duration,
    _lock: fs::File,
}

/// Runs `gatehouse serve` until SIGTERM or SIGINT.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives while the server starts (or right after it says it
    // is ready) must stop it cleanly, not kill it with the default action.
    let signal = shutdown_signal();
    start(Config::from(&args)).await?.run_until(signal).await
}

/// The gateway's record of a call as the portal's console reads it.
fn call_json(call: &gatehouse_proxy::CallRecord) -> serde_json::Value {
    serde_json::json!({
        "requestId": call.request_id,
        "api": call.api,
        "operation": call.operation,
        "status": call.status,
        "backend": call.backend,
        "certificateId": call.certificate.as_ref().map(|c| &c.0),
        "thumbprint": call.certificate.as_ref().map(|c| &c.1),
        "elapsedMs": call.elapsed.as_secs_f64() * 1000.0,
        "error": call.error,
    })
}

/// Opens the data directory and starts the management API and the gateway.
pub(crate) async fn start(config: Config) -> anyhow::Result<Running> {
    let allowed_hosts =
        Arc::new(AllowedHosts::new(&config.admin_allowed_hosts).context("--admin-allowed-hosts")?);
    let data_dir = &config.data_dir;
    create_private_dir(data_dir)?;
    let lock = lock_data_dir(data_dir)?;
    let (store, local): (Arc<dyn Store>, _) = match &config.database_url {
        Some(url) => (
            Arc::new(
                PostgresStore::open(url, DATABASE_TIMEOUT)
                    .context("--database-url must be postgres://USER:PASS@HOST:PORT/DB")?,
            ),
            Some(data_dir.join(LOCAL_SNAPSHOT)),
        ),
        None => (
            Arc::new(
                SqliteStore::open(&data_dir.join("gatehouse.db"))
                    .await
                    .with_context(|| format!("cannot open the store in {}", data_dir.display()))?,
            ),
            None,
        ),
    };
    // A store that cannot be asked counts as sealed: a new key must never be generated for
    // data that may exist.
    let sealed_before = store
        .meta("masterKeyCheck")
        .await
        .map_or(true, |check| check.is_some());
    let master = Arc::new(master_key(&config, sealed_before)?);
    let limits = Limits {
        max_body_bytes: config.max_body_bytes,
        pki: gatehouse_pki::Limits {
            max_input_bytes: config.max_body_bytes,
            ..gatehouse_pki::Limits::default()
        },
        certificate_versions: config.certificate_versions,
        ..Limits::default()
    };
    let cp = Arc::new(ControlPlane::open(Arc::clone(&store), master, limits, local).await?);
    let auth = Arc::new(match &config.admin_token {
        Some(token) => AdminAuth::from_token(token),
        None => admin_auth(store.as_ref(), data_dir, config.database_url.is_some()).await?,
    });

    let provider = Arc::new(gatehouse_proxy::backend_provider());
    let gateway = Arc::new(gatehouse_proxy::Gateway::new(
        gatehouse_proxy::Options {
            backend_timeout: config.backend_timeout,
            connect_timeout: config.connect_timeout,
            roots: gatehouse_proxy::SystemRoots::load(&provider),
            shutdown_grace: config.shutdown_grace,
            limits: config.limits,
            trusted_proxies: config.trusted_proxies.clone(),
            backend_chain_cache: config.backend_chain_cache,
            http1_engine: config.http1_engine,
        },
        provider,
    ));
    gateway.attach(&cp.snapshots());
    cp.follow();
    cp.watch_expiry();
    cp.prune_audit(config.audit_retention);
    let refresher = gatehouse_secrets::Refresher::new(
        Arc::clone(&cp),
        Arc::new(gatehouse_secrets::SecretStores::new(
            gatehouse_secrets::Credentials::from_env(),
        )),
    );
    refresher.run(config.secret_refresh_interval);

    let admin_listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--admin-listen)", config.admin_listen))?;
    let admin = admin_listener.local_addr()?;
    let admin_tls = config
        .admin_tls
        .as_ref()
        .map(|source| crate::admin_tls::server_config(source, &cp.snapshots()))
        .transpose()?;
    tracing::info!(addr = %admin, https = admin_tls.is_some(), "admin listener bound");
    if config.gateway_listen.is_none() && config.gateway_tls_listen.is_none() {
        bail!(
            "--gateway-listen is none and there is no --gateway-tls-listen: the gateway would serve nothing"
        );
    }
    let plain = bind_gateway(config.gateway_listen, false).await?;
    let tls = bind_gateway(config.gateway_tls_listen, true).await?;
    let gateway_addr = plain.as_ref().map(|l| l.local_addr()).transpose()?;
    let tls_addr = tls.as_ref().map(|l| l.local_addr()).transpose()?;
    if tls.is_some() && cp.config().hostnames.is_empty() {
        tracing::warn!(
            "the TLS listener has no hostname configuration yet: it refuses every handshake until one is created (PUT /hostnameConfigurations/{{id}})"
        );
    }
    tracing::info!(
        plain = ?gateway_addr,
        tls = ?tls_addr,
        "gateway listeners ready"
    );

    let metrics = gateway.metrics();
    let snapshots = cp.snapshots();
    let refreshes = Arc::clone(&refresher);
    let traced = Arc::clone(&gateway);
    let prober = Arc::clone(&gateway);
    let app = gatehouse_admin::router(AppState {
        cp,
        auth,
        metrics: Some(Arc::new(move || {
            let mut text = metrics.render(&snapshots.load());
            text.push_str(&refreshes.render_metrics());
            if let Some(count) = crate::allocations() {
                text.push_str(&format!(
                    "# HELP gatehouse_allocations_total Heap allocations since start (a counting build).\n\
                     # TYPE gatehouse_allocations_total counter\ngatehouse_allocations_total {count}\n"
                ));
            }
            text
        })),
        gateway: Some(GatewayLink {
            addr: gateway_addr,
            tls_addr,
            trace_key: gateway.trace_key(),
            call: Arc::new(move |id| traced.call(id).map(|c| call_json(&c))),
        }),
        sessions: Arc::default(),
        https: admin_tls.is_some(),
        allowed_hosts,
        secrets: Some(refresher),
        probe: Some(Arc::new(move |route, identities| {
            let gateway = Arc::clone(&prober);
            Box::pin(async move { gateway.probe(&route, &identities).await })
        })),
    });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let admin_stop = stopped(stop_rx.clone());
    // Connection info gives sign-in's rate limit and the audit trail the client's address.
    let admin_task = match admin_tls {
        None => tokio::spawn(async move {
            axum::serve(
                admin_listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(admin_stop)
            .await
        }),
        Some(tls) => {
            use axum::serve::ListenerExt as _;
            let listener = crate::admin_tls::TlsListener::new(admin_listener, tls)?.tap_io(|_| {});
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(admin_stop)
                .await
            })
        }
    };
    let gateway_stop = stopped(stop_rx);
    let listeners = gatehouse_proxy::Listeners { plain, tls };
    let gateway_task = tokio::spawn(async move { gateway.serve(listeners, gateway_stop).await });
    Ok(Running {
        admin,
        gateway: gateway_addr,
        stop,
        admin_task,
        gateway_task,
        grace: config.shutdown_grace,
        _lock: lock,
    })
}

impl Running {
    /// Serves until `until` completes (a signal) or a listener fails; then stops accepting and
    /// lets requests in flight finish within the grace period.
    pub(crate) async fn run_until(
        mut self,
        until: impl Future<Output = &'static str>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            signal = until => {
                tracing::info!(signal, "shutting down: no new connections, finishing requests");
                let _ = self.stop.send(true);
                let both = async {
                    let _ = (&mut self.gateway_task).await;
                    (&mut self.admin_task).await
                };
                match tokio::time::timeout(self.grace + Duration::from_secs(1), both).await {
                    Ok(joined) => joined.context("admin server task failed")??,
                    Err(_) => tracing::warn!(grace = ?self.grace, "grace period over; closing"),
                }
            }
            joined = &mut self.admin_task => {
                joined.context("admin server task failed")??;
            }
            joined = &mut self.gateway_task => {
                joined.context("gateway task failed")?;
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Binds a gateway listener when it is configured, and logs its address (tests and scripts
/// read port 0's choice there).
async fn bind_gateway(
    addr: Option<SocketAddr>,
    tls: bool,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let flag = if tls {
        "--gateway-tls-listen"
    } else {
        "--gateway-listen"
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({flag})"))?;
    let bound = listener.local_addr()?;
    if tls {
        tracing::info!(addr = %bound, "gateway TLS listener bound");
    } else {
        tracing::info!(addr = %bound, "gateway listener bound");
    }
    Ok(Some(listener))
}

/// Resolves with the name of the first SIGTERM or SIGINT.
pub(crate) fn shutdown_signal() -> impl Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    // Created now, not when first polled: the handlers are installed from this moment.
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = streams else {
            tracing::warn!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("--data-dir {} exists and is not a directory", dir.display());
        }
        warn_if_shared(dir);
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Warns when group or others may read or write the data directory. Its files are the
/// owner's only, but a directory others can write lets them swap those files, and one they
/// can read shows what is there; the operator chose the mode, so it is not changed.
fn warn_if_shared(dir: &Path) {
    if let Ok(meta) = fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o066 != 0 {
            tracing::warn!(
                path = %dir.display(),
                mode = %format!("{mode:04o}"),
                "the data directory is readable or writable by group or others; chmod 700 it"
            );
        }
    }
}

/// Writes `contents` to a new file readable by its owner only; fails if it exists.
fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Writes a 0600 file whole, replacing any earlier one (a temporary file renamed over it).
fn replace_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_private_file(&tmp, contents)?;
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Holds an exclusive lock on the data directory for the life of the process: two servers on
/// one SQLite file would each believe their in-memory configuration is current.
fn lock_data_dir(dir: &Path) -> anyhow::Result<fs::File> {
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => bail!(
            "another gatehouse is already serving {}; stop it first, or use another --data-dir",
            dir.display()
        ),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// The master key: `GATEHOUSE_MASTER_KEY`, else `--master-key-file`, else a key file created in
/// the data directory on first start. A data directory that already holds sealed data never
/// gets a new key: that would only put a useless file where the real one must be restored.
fn master_key(args: &Config, sealed_before: bool) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("GATEHOUSE_MASTER_KEY") {
        let text = Zeroizing::new(text);
        return MasterKey::from_base64(&text)
            .context("GATEHOUSE_MASTER_KEY must be the base64 of 32 bytes");
    }
    if let Some(path) = &args.master_key_file {
        return read_key_file(path);
    }
    let path = args.data_dir.join("master.key");
    if path.exists() {
        return read_key_file(&path);
    }
    if sealed_before {
        bail!(
            "{} is missing, but this data directory was sealed with a master key: restore the \
             key file, or give the key with GATEHOUSE_MASTER_KEY or --master-key-file",
            path.display()
        );
    }
    let key = MasterKey::generate().context("cannot generate a master key")?;
    write_private_file(&path, key.to_base64().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "generated a master key next to the data it protects; in production keep it elsewhere \
         (GATEHOUSE_MASTER_KEY or --master-key-file) and back it up: without it no private key \
         can be recovered"
    );
    Ok(key)
}

fn read_key_file(path: &PathBuf) -> anyhow::Result<MasterKey> {
    let meta = fs::metadata(path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the master key file is readable by others; chmod 600 it");
    }
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?,
    );
    MasterKey::from_base64(&text).with_context(|| {
        format!(
            "the master key file {} must hold the base64 of 32 bytes",
            path.display()
        )
    })
}

/// The admin token check: `GATEHOUSE_ADMIN_TOKEN`, else the stored hash, else a new token
/// whose hash is stored and which is written once to `DATA_DIR/admin-token`.
///
/// With a shared store (`shared`), the hash is also kept in `DATA_DIR/admin-token.sha256`, so a
/// node restarted while the database is away still checks the same token.
async fn admin_auth(store: &dyn Store, data_dir: &Path, shared: bool) -> anyhow::Result<AdminAuth> {
    if let Ok(token) = std::env::var("GATEHOUSE_ADMIN_TOKEN") {
        let token = Zeroizing::new(token);
        if token.trim().len() < 16 {
            bail!("GATEHOUSE_ADMIN_TOKEN must be at least 16 characters");
        }
        return Ok(AdminAuth::from_token(token.trim()));
    }
    let cached = data_dir.join(TOKEN_HASH_FILE);
    let keep = |hash: &str| -> anyhow::Result<()> {
        if shared {
            replace_private_file(&cached, hash.as_bytes())?;
        }
        Ok(())
    };
    let stored = match store.meta(TOKEN_HASH_META).await {
        Ok(stored) => stored,
        Err(error) if shared => {
            let hash = fs::read_to_string(&cached).with_context(|| {
                format!(
                    "cannot read the admin token's hash from the store ({error}) and {} is \
                     missing; set GATEHOUSE_ADMIN_TOKEN",
                    cached.display()
                )
            })?;
            tracing::warn!(
                "the store is unreachable; the admin token's hash comes from {}",
                cached.display()
            );
            return Ok(AdminAuth::from_hash(hash.trim())?);
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(hash) = stored {
        keep(&hash)?;
        return Ok(AdminAuth::from_hash(&hash)?);
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let token =
        Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    // The file is written before the hash is stored: a crash in between leaves a file and no
    // hash, which the next start reports, rather than a hash whose token nobody has.
    let path = data_dir.join("admin-token");
    if path.exists() {
        bail!(
            "{} exists but the store holds no admin token; delete the file to generate a new \
             token, or set GATEHOUSE_ADMIN_TOKEN",
            path.display()
        );
    }
    write_private_file(&path, format!("{}\n", token.as_str()).as_bytes())?;
    let stored = store
        .init_meta(TOKEN_HASH_META, &hash_token(&token))
        .await?;
    if stored != hash_token(&token) {
        // Another node sharing the store initialised the token first; use its hash.
        let _ = fs::remove_file(&path);
        keep(&stored)?;
        return Ok(AdminAuth::from_hash(&stored)?);
    }
    keep(&stored)?;
    tracing::info!(path = %path.display(), "generated the admin token and wrote it to this file");
    Ok(AdminAuth::from_token(&token))
}
