//! `gatehouse serve`: open the data directory, start the listeners, stop cleanly.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use gatehouse_admin::{AdminAuth, AppState, ControlPlane, Limits, hash_token};
use gatehouse_pki::MasterKey;
use gatehouse_store::{SqliteStore, Store};
use zeroize::Zeroizing;

use crate::ServeArgs;

const TOKEN_HASH_META: &str = "adminTokenHash";

/// Runs the server until a shutdown signal.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.data_dir;
    create_private_dir(data_dir)?;
    let master = Arc::new(master_key(&args)?);
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&data_dir.join("gatehouse.db"))
            .await
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?,
    );
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        pki: gatehouse_pki::Limits {
            max_input_bytes: args.max_body_bytes,
            ..gatehouse_pki::Limits::default()
        },
        ..Limits::default()
    };
    let cp = Arc::new(ControlPlane::open(Arc::clone(&store), master, limits).await?);
    let auth = Arc::new(admin_auth(store.as_ref(), data_dir).await?);

    let admin = tokio::net::TcpListener::bind(args.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--admin-listen)", args.admin_listen))?;
    let admin_addr = admin.local_addr()?;
    tracing::info!(addr = %admin_addr, "admin listener bound");
    tracing::info!(
        addr = %args.gateway_listen,
        "gateway listener is not served yet: the data plane is not part of this build"
    );

    let app = gatehouse_admin::router(AppState { cp, auth });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(async move {
        let mut stop = stop_rx;
        axum::serve(admin, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });

    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down: no new connections, finishing requests");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(Duration::from_secs(args.shutdown_grace), &mut server).await {
                Ok(joined) => joined.context("admin server task failed")??,
                Err(_) => tracing::warn!(grace = args.shutdown_grace, "grace period over; closing"),
            }
        }
        joined = &mut server => {
            joined.context("admin server task failed")??;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("--data-dir {} exists and is not a directory", dir.display());
        }
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
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

/// The master key: `GATEHOUSE_MASTER_KEY`, else `--master-key-file`, else a key file created in
/// the data directory on first start.
fn master_key(args: &ServeArgs) -> anyhow::Result<MasterKey> {
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
async fn admin_auth(store: &dyn Store, data_dir: &Path) -> anyhow::Result<AdminAuth> {
    if let Ok(token) = std::env::var("GATEHOUSE_ADMIN_TOKEN") {
        let token = Zeroizing::new(token);
        if token.trim().len() < 16 {
            bail!("GATEHOUSE_ADMIN_TOKEN must be at least 16 characters");
        }
        return Ok(AdminAuth::from_token(token.trim()));
    }
    if let Some(hash) = store.meta(TOKEN_HASH_META).await? {
        return AdminAuth::from_hash(&hash).map_err(anyhow::Error::msg);
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
        return AdminAuth::from_hash(&stored).map_err(anyhow::Error::msg);
    }
    tracing::info!(path = %path.display(), "generated the admin token and wrote it to this file");
    Ok(AdminAuth::from_token(&token))
}
