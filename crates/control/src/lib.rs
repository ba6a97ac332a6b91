//! Gatehouse's change path, for every writer: one writer at a time applies a change to a
//! candidate configuration, compiles the snapshot it would produce, commits it to the store,
//! then publishes both. A change that fails any step leaves the store, the configuration and
//! the served snapshot exactly as they were.
//!
//! Writers are the management API (and the portal through it), and anything else that
//! changes configuration without an HTTP request: a node catching up with another node's
//! commit, a secret refresher, an import. So errors here are the model's and the store's
//! ([`ControlError`]); the management API maps them to HTTP answers. The gateway never writes:
//! it holds a read-only [`Snapshots`] handle.
//!
//! Threading: [`ControlPlane::begin`] takes an async writer lock (one change at a time per
//! node); the configuration and the snapshot are swapped atomically (`ArcSwap`), so readers
//! never lock. Across nodes the store's revision orders commits: a commit based on a stale
//! revision is refused (`Conflict`) and the node reloads.

mod error;
mod expiry;
mod local;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use gatehouse_model::{
    Change, Compiler, Config, Kind, ModelError, Record, SnapshotCell, Snapshots,
};
use gatehouse_pki::MasterKey;
use gatehouse_store::{Signal, Store, StoreError};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use error::ControlError;
pub use local::LocalError;
use local::LocalSnapshot;

/// Bounds on what one request may ask of the control plane.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// PKCS#12 and PEM parsing bounds.
    pub pki: gatehouse_pki::Limits,
    /// Policy document bounds.
    pub policy: gatehouse_policy::Limits,
    /// Earlier versions kept per certificate, for rollback.
    pub certificate_versions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            pki: gatehouse_pki::Limits::default(),
            policy: gatehouse_policy::Limits::default(),
            certificate_versions: gatehouse_model::entity::certificate::KEPT_VERSIONS,
        }
    }
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed.
    #[error("cannot read the configuration store")]
    Store(#[from] StoreError),
    /// The master key is not the one the data was sealed with.
    #[error(
        "the master key does not match the one the configuration store was sealed with; start \
         with the original key (GATEHOUSE_MASTER_KEY or --master-key-file)"
    )]
    WrongMasterKey,
    /// Stored configuration does not load or compile.
    #[error("stored configuration is not usable: {0}")]
    Config(#[from] ModelError),
    /// Randomness or sealing failed.
    #[error("cannot initialise the data directory: {0}")]
    Crypto(String),
    /// The store is away and there is no usable local snapshot to serve from.
    #[error(
        "cannot reach the configuration store, and there is no local snapshot of the \
         configuration to serve from ({local}); start once with the store reachable"
    )]
    NoSnapshot {
        /// Why the store failed.
        #[source]
        store: StoreError,
        /// Why no local snapshot was used.
        local: String,
    },
    /// The local snapshot could not be used.
    #[error(transparent)]
    Local(#[from] LocalError),
}

const KEY_CHECK: &str = "masterKeyCheck";
const KEY_CHECK_PLAINTEXT: &[u8] = b"gatehouse master key check";

/// How often a node that shares its store asks for the store's revision, besides the change
/// feed: the fallback when a notification is lost.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

type Records = BTreeMap<(Kind, String), Record>;

/// The management side's state: the store, the current configuration and the snapshot cell.
pub struct ControlPlane {
    store: Arc<dyn Store>,
    compiler: Compiler,
    cell: Arc<SnapshotCell>,
    config: ArcSwap<Config>,
    /// The records `config` was built from, as the store holds them: what the local snapshot
    /// saves.
    records: ArcSwap<Records>,
    writer: Arc<Mutex<()>>,
    epoch: String,
    limits: Limits,
    master: Arc<MasterKey>,
    local: Option<LocalSnapshot>,
    /// Why the store is not answering, while it is not.
    trouble: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("revision", &self.config.load().revision)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Loads the configuration, checks the master key against the store, compiles and
    /// publishes the first snapshot. With `local` (a file in the data directory), the served
    /// configuration is also saved there after every publish, and a start while the store is
    /// away serves from it instead of failing.
    ///
    /// # Errors
    /// A wrong master key, a store failure (with no local snapshot to fall back on), or stored
    /// configuration that no longer compiles.
    pub async fn open(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        limits: Limits,
        local: Option<PathBuf>,
    ) -> Result<Self, StartError> {
        let local = local.map(LocalSnapshot::new);
        let (epoch, revision, records, trouble) = match from_store(store.as_ref(), &master).await {
            Ok((epoch, loaded)) => (epoch, loaded.revision, loaded.records, None),
            Err(StartError::Store(error)) => {
                let Some(file) = local.as_ref().filter(|l| l.exists()) else {
                    return Err(StartError::NoSnapshot {
                        store: error,
                        local: local.as_ref().map_or_else(
                            || "none is kept".to_owned(),
                            |l| format!("{} does not exist", l.path().display()),
                        ),
                    });
                };
                let saved = file.load(&master)?;
                let why = format!(
                    "the configuration store is unreachable ({error}); serving revision {} \
                     from the local snapshot {}",
                    saved.revision,
                    file.path().display()
                );
                tracing::warn!("{why}");
                (saved.epoch, saved.revision, saved.records, Some(why))
            }
            Err(other) => return Err(other),
        };
        let config = Config::load(records.iter().cloned(), revision, &master)?;
        let compiler = Compiler::new(Arc::clone(&master));
        let snapshot = compiler.compile(&config)?;
        tracing::info!(
            revision = config.revision,
            certificates = config.certificates.len(),
            apis = config.apis.len(),
            "configuration loaded"
        );
        // Saved before Gatehouse refused them: refusing to start would strand the data, and
        // staying quiet would let an operator believe the gateway does what they ask.
        for unsupported in config.unsupported_settings() {
            tracing::warn!(
                setting = %unsupported.target,
                "stored setting is not supported and the gateway does not do what it asks; \
                 change it: {}",
                unsupported.message
            );
        }
        let cp = Self {
            store,
            compiler,
            cell: Arc::new(SnapshotCell::new(snapshot)),
            config: ArcSwap::from_pointee(config),
            records: ArcSwap::from_pointee(index(records)),
            writer: Arc::new(Mutex::new(())),
            epoch,
            limits,
            master,
            local,
            trouble: std::sync::Mutex::new(trouble),
        };
        cp.save_local();
        Ok(cp)
    }

    /// Follows commits made by other nodes on a shared store: the store's change feed, a
    /// revision poll every [`POLL_INTERVAL`] when a notification is lost, and a full reload
    /// when the feed reconnects. Each catch-up reloads everything from the store (never from
    /// a notification's payload), recompiles and publishes the whole snapshot at once. Does
    /// nothing for a store only this process writes.
    pub fn follow(self: &Arc<Self>) {
        let Some(mut feed) = self.store.follow() else {
            return;
        };
        let cp = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut poll = tokio::time::interval(POLL_INTERVAL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let signal = tokio::select! {
                    signal = feed.recv() => match signal {
                        Some(signal) => signal,
                        None => return,
                    },
                    _ = poll.tick() => Signal::Resync,
                };
                let Some(cp) = cp.upgrade() else {
                    return;
                };
                match signal {
                    Signal::Revision(revision) if revision <= cp.config.load().revision => {}
                    Signal::Lost => cp.set_trouble(Some(
                        "lost the connection to the configuration store; serving the last \
                         configuration from memory"
                            .to_owned(),
                    )),
                    Signal::Revision(_) | Signal::Resync => {
                        if let Err(error) = cp.catch_up().await {
                            tracing::debug!(%error, "cannot catch up with the store yet");
                        }
                    }
                }
            }
        });
    }

    /// Logs a warning as each certificate (client and CA) reaches 30, 14, 7 and 1 days before
    /// it expires, and once when it has expired; checks now, after every change and every hour.
    pub fn watch_expiry(self: &Arc<Self>) {
        let cp = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut warned = expiry::Warned::default();
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            let Some(mut changes) = cp.upgrade().map(|cp| cp.snapshots().subscribe()) else {
                return;
            };
            loop {
                // Every hour, and after every change (a new certificate is looked at at once).
                tokio::select! {
                    _ = hourly.tick() => {}
                    changed = changes.changed() => if changed.is_err() { return },
                }
                let Some(cp) = cp.upgrade() else {
                    return;
                };
                let config = cp.config();
                for w in expiry::due(&config, time::OffsetDateTime::now_utc(), &mut warned) {
                    if w.expired {
                        tracing::error!(
                            kind = w.kind,
                            id = %w.id,
                            thumbprint = %w.thumbprint,
                            "the certificate has expired: replace it (upload, or the secret store it is referenced from)"
                        );
                    } else {
                        tracing::warn!(
                            kind = w.kind,
                            id = %w.id,
                            thumbprint = %w.thumbprint,
                            days_left = w.days_left,
                            "the certificate expires soon: replace it before it does"
                        );
                    }
                }
            }
        });
    }

    /// Reloads from the store if it holds another revision than the one served.
    async fn catch_up(&self) -> Result<(), ControlError> {
        let result = async {
            if self.store.revision().await? == self.config.load().revision {
                return Ok(());
            }
            // Under the writer lock: a local commit in flight finishes first, then the
            // revisions are compared again.
            let _writer = self.writer.lock().await;
            if self.store.revision().await? != self.config.load().revision {
                self.resync().await?;
            }
            Ok(())
        }
        .await;
        match &result {
            Ok(()) => self.set_trouble(None),
            Err(ControlError::Store(e)) => self.set_trouble(Some(format!(
                "the configuration store is unreachable ({e}); serving revision {} from memory",
                self.config.load().revision
            ))),
            Err(_) => {}
        }
        result
    }

    /// Why the store is not answering, while it is not (for `/health`).
    pub fn store_trouble(&self) -> Option<String> {
        self.trouble
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_trouble(&self, trouble: Option<String>) {
        let mut slot = self.trouble.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() && trouble.is_none() {
            tracing::info!("the configuration store is reachable again");
        }
        *slot = trouble;
    }

    /// Saves the served configuration to the local snapshot, if one is kept. A failure is
    /// logged, not fatal: the store still holds the configuration.
    fn save_local(&self) {
        let Some(local) = &self.local else {
            return;
        };
        let records = self.records.load();
        if let Err(error) = local.save(
            &self.master,
            self.config.load().revision,
            &self.epoch,
            records.values(),
        ) {
            tracing::error!(%error, "cannot save the local snapshot of the configuration");
        }
    }

    /// Where the data plane reads snapshots from: read-only, it cannot publish.
    pub fn snapshots(&self) -> Snapshots {
        self.cell.reader()
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Request bounds.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The master key, for sealing new secrets.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The master key, shared, for work moved to a blocking thread.
    pub fn master_shared(&self) -> Arc<MasterKey> {
        Arc::clone(&self.master)
    }

    /// The strong ETag of an entity last written at `revision`. The store's random epoch makes
    /// ETags from a recreated data directory never match.
    pub fn etag(&self, revision: u64) -> String {
        format!("\"{}-{revision}\"", self.epoch)
    }

    /// Starts a change: waits for the writer lock and fixes the configuration it builds on.
    /// The change is recorded in the audit trail as made by the task's actor
    /// ([`gatehouse_model::audit::ACTOR`], set where the request was authenticated).
    pub async fn begin(self: &Arc<Self>) -> Transaction {
        let actor = gatehouse_model::audit::current_actor();
        let guard = Arc::clone(&self.writer).lock_owned().await;
        let base = self.config.load_full();
        Transaction {
            guard,
            cp: Arc::clone(self),
            next_revision: base.revision + 1,
            base,
            changes: Vec::new(),
            actor,
        }
    }

    /// The newest `limit` audit events, newest first.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn audit_events(
        &self,
        limit: usize,
    ) -> Result<Vec<gatehouse_model::audit::AuditEvent>, ControlError> {
        Ok(self.store.audit_events(limit).await?)
    }

    /// Deletes audit events older than `retention`, now and every day.
    pub fn prune_audit(self: &Arc<Self>, retention: Duration) {
        let cp = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut daily = tokio::time::interval(Duration::from_secs(24 * 3600));
            loop {
                daily.tick().await;
                let Some(cp) = cp.upgrade() else {
                    return;
                };
                let before = time::OffsetDateTime::now_utc() - retention;
                match cp.store.prune_audit(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "audit events past retention deleted"),
                    Err(error) => tracing::warn!(%error, "cannot prune the audit trail"),
                }
            }
        });
    }

    /// Reloads everything from the store and publishes it: how a node catches up when another
    /// writer committed first.
    async fn resync(&self) -> Result<(), ControlError> {
        let loaded = self.store.load().await?;
        let config = Config::load(
            loaded.records.iter().cloned(),
            loaded.revision,
            &self.master,
        )?;
        let snapshot = self.compiler.compile(&config)?;
        tracing::info!(
            revision = config.revision,
            "the store was changed by another writer; reloaded it"
        );
        self.config.store(Arc::new(config));
        self.records.store(Arc::new(index(loaded.records)));
        let published = self.cell.publish(snapshot);
        self.save_local();
        published?;
        Ok(())
    }
}

/// One change in progress; holds the writer lock until committed or dropped.
pub struct Transaction {
    guard: OwnedMutexGuard<()>,
    cp: Arc<ControlPlane>,
    base: Arc<Config>,
    next_revision: u64,
    changes: Vec<Change>,
    actor: gatehouse_model::audit::Actor,
}

impl Transaction {
    /// The configuration the change builds on.
    pub fn config(&self) -> &Config {
        &self.base
    }

    /// The revision the change will commit as (records carry it).
    pub fn revision(&self) -> u64 {
        self.next_revision
    }

    /// The control plane (limits, master key, ETags).
    pub fn control(&self) -> &ControlPlane {
        &self.cp
    }

    /// Adds a write.
    pub fn put(&mut self, record: Record) {
        self.changes.push(Change::Put(record));
    }

    /// Adds a removal.
    pub fn delete(&mut self, kind: Kind, key: impl Into<String>) {
        self.changes.push(Change::Delete {
            kind,
            key: key.into(),
        });
    }

    /// The snapshot the change would produce, compiled without committing anything: what a
    /// pre-flight probe tests before the change is saved.
    ///
    /// # Errors
    /// `Model` when the change is invalid or would not compile.
    pub fn preview(&self) -> Result<gatehouse_model::Snapshot, ControlError> {
        let mut candidate = (*self.base).clone();
        for change in &self.changes {
            candidate.apply(change, self.cp.master())?;
        }
        candidate.revision = self.next_revision;
        Ok(self.cp.compiler.compile(&candidate)?)
    }

    /// Validates (by compiling the resulting snapshot), commits, and publishes. Returns the
    /// new configuration.
    ///
    /// The commit and the publish run on their own task: if the caller goes away mid-request,
    /// a commit the database has taken is still published, so memory never falls behind the
    /// store.
    ///
    /// # Errors
    /// `Model` when the change is invalid or the snapshot would not compile; `Store` with
    /// `Conflict` on a concurrent commit (this node then reloads), or another store failure.
    /// In each case nothing changed. `NotPublished` when the change is committed but the
    /// gateway failed to take it.
    pub async fn commit(self) -> Result<Arc<Config>, ControlError> {
        let cp = Arc::clone(&self.cp);
        let mut candidate = (*self.base).clone();
        for change in &self.changes {
            candidate.apply(change, cp.master())?;
        }
        candidate.revision = self.next_revision;
        let snapshot = cp.compiler.compile(&candidate)?;
        let task = tokio::spawn(async move {
            let Transaction {
                guard,
                cp,
                base,
                changes,
                actor,
                ..
            } = self;
            let result = cp.store.commit_as(base.revision, &changes, &actor).await;
            let revision = match result {
                Ok(revision) => revision,
                Err(e) => {
                    if !matches!(e, StoreError::Conflict { .. }) {
                        let why = match e.disk_trouble() {
                            Some(gatehouse_store::DiskTrouble::Full) => {
                                "its disk is full".to_string()
                            }
                            Some(gatehouse_store::DiskTrouble::ReadOnly) => {
                                "its disk or data directory is read-only".to_string()
                            }
                            None => e.to_string(),
                        };
                        cp.set_trouble(Some(format!(
                            "the configuration store failed a write ({why}); serving revision {} \
                             from memory",
                            base.revision
                        )));
                    }
                    if matches!(e, StoreError::Conflict { .. })
                        && let Err(reload) = cp.resync().await
                    {
                        tracing::error!(error = %reload, "reloading after a concurrent commit failed");
                    }
                    drop(guard);
                    return Err(ControlError::from(e));
                }
            };
            let candidate = Arc::new(candidate);
            let mut records = (**cp.records.load()).clone();
            for change in &changes {
                match change {
                    Change::Put(r) => {
                        records.insert((r.kind, r.key.clone()), r.clone());
                    }
                    Change::Delete { kind, key } => {
                        records.remove(&(*kind, key.clone()));
                    }
                }
            }
            cp.config.store(Arc::clone(&candidate));
            cp.records.store(Arc::new(records));
            let published = cp.cell.publish(snapshot);
            cp.save_local();
            cp.set_trouble(None);
            drop(guard);
            for change in &changes {
                let (kind, key) = change.target();
                tracing::info!(
                    revision,
                    kind = kind.as_str(),
                    key,
                    actor = %actor.name,
                    action = if matches!(change, Change::Put(_)) {
                        "put"
                    } else {
                        "delete"
                    },
                    "configuration changed"
                );
            }
            published?;
            Ok(candidate)
        });
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the commit task failed");
            Err(ControlError::Internal)
        })
    }
}

/// The epoch and everything stored, after checking the master key.
async fn from_store(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<(String, gatehouse_store::Snapshot), StartError> {
    check_master_key(store, master).await?;
    let epoch = store.init_meta("epoch", &random_hex(4)?).await?;
    Ok((epoch, store.load().await?))
}

fn index(records: Vec<Record>) -> Records {
    records
        .into_iter()
        .map(|r| ((r.kind, r.key.clone()), r))
        .collect()
}

async fn check_master_key(store: &dyn Store, master: &MasterKey) -> Result<(), StartError> {
    let aad = b"gatehouse:meta:masterKeyCheck";
    let sealed = master
        .seal(KEY_CHECK_PLAINTEXT, aad)
        .map_err(|e| StartError::Crypto(e.to_string()))?;
    let stored = store.init_meta(KEY_CHECK, &hex::encode(sealed)).await?;
    let stored = hex::decode(stored).map_err(|_| StartError::WrongMasterKey)?;
    match master.open(&stored, aad) {
        Ok(plain) if plain.as_slice() == KEY_CHECK_PLAINTEXT => Ok(()),
        _ => Err(StartError::WrongMasterKey),
    }
}

/// `n` random bytes as hex.
fn random_hex(n: usize) -> Result<String, StartError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| StartError::Crypto("no randomness available".into()))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_store::SqliteStore;

    async fn control() -> Arc<ControlPlane> {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let master = Arc::new(MasterKey::from_bytes(&[7u8; 32]).unwrap());
        Arc::new(
            ControlPlane::open(Arc::new(store), master, Limits::default(), None)
                .await
                .unwrap(),
        )
    }

    fn api(key: &str, revision: u64) -> Record {
        Record {
            kind: Kind::Api,
            key: key.into(),
            revision,
            body: serde_json::json!({"path": key, "protocols": ["https"],
                "serviceUrl": "https://backend.example"})
            .to_string(),
            sealed: None,
        }
    }

    async fn put(cp: &Arc<ControlPlane>, key: &str) -> Result<Arc<Config>, ControlError> {
        let mut tx = cp.begin().await;
        let revision = tx.revision();
        tx.put(api(key, revision));
        tx.commit().await
    }

    #[tokio::test]
    async fn a_writer_without_http_commits_and_publishes() {
        let cp = control().await;
        let snapshots = cp.snapshots();
        let config = put(&cp, "orders").await.unwrap();
        assert_eq!(config.revision, 1);
        assert_eq!(snapshots.serving(), 1);
        assert_eq!(snapshots.load().apis.len(), 1);
    }

    #[tokio::test]
    async fn an_invalid_change_is_a_model_error_and_changes_nothing() {
        let cp = control().await;
        let mut tx = cp.begin().await;
        tx.put(Record {
            body: "{not json".into(),
            ..api("orders", 1)
        });
        let error = tx.commit().await.unwrap_err();
        assert!(matches!(error, ControlError::Model(_)), "{error:?}");
        assert_eq!(cp.config().revision, 0);
        assert_eq!(cp.snapshots().load().apis.len(), 0);
    }

    #[tokio::test]
    async fn a_gateway_that_fails_to_take_a_commit_is_reported_not_hidden() {
        let cp = control().await;
        let snapshots = cp.snapshots();
        snapshots.on_publish(Box::new(|s| {
            assert!(s.revision != 1, "the gateway cannot take revision 1");
        }));
        let error = put(&cp, "orders").await.unwrap_err();
        let ControlError::NotPublished(e) = &error else {
            panic!("{error:?}");
        };
        assert_eq!((e.revision, e.serving), (1, 0));
        assert_eq!(snapshots.serving(), 0);
        assert!(snapshots.failure().is_some());

        // The lock the panic ran under is not poisoned for good: the next change is served.
        put(&cp, "billing").await.unwrap();
        assert_eq!(snapshots.serving(), 2);
        assert!(snapshots.failure().is_none());
    }
}
