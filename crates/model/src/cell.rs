//! Where the current snapshot lives. The control plane owns the [`SnapshotCell`] and is the
//! only one that can publish; everyone else (the gateway, the portal, metrics) holds a
//! [`Snapshots`] handle that reads and subscribes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use crate::snapshot::Snapshot;

/// Called with every published snapshot, before `publish` returns.
pub type PublishHook = Box<dyn Fn(&Arc<Snapshot>) + Send + Sync>;

/// A published snapshot that a subscriber failed to take.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "revision {revision} was published, but a subscriber failed on it ({reason}); this node serves revision {serving}"
)]
pub struct PublishError {
    /// The revision that was published.
    pub revision: u64,
    /// The revision every subscriber last took.
    pub serving: u64,
    /// What failed.
    pub reason: String,
}

/// Where the current snapshot lives; the control plane stores, the data plane loads.
///
/// Hooks run synchronously inside [`SnapshotCell::publish`], so a subscriber that derives its
/// own tables (the gateway's routes and connection pools) has them in place before the
/// management call that caused the change answers: the next request sees the change.
pub struct SnapshotCell {
    current: ArcSwap<Snapshot>,
    changed: tokio::sync::watch::Sender<u64>,
    hooks: Mutex<Vec<PublishHook>>,
    /// The newest revision every hook took: what the node serves.
    serving: AtomicU64,
    /// Why the newest publish was not taken, until one is.
    failure: Mutex<Option<PublishError>>,
}

impl SnapshotCell {
    /// A cell holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        let revision = initial.revision;
        Self {
            current: ArcSwap::from_pointee(initial),
            changed: tokio::sync::watch::Sender::new(revision),
            hooks: Mutex::new(Vec::new()),
            serving: AtomicU64::new(revision),
            failure: Mutex::new(None),
        }
    }

    /// A read-only handle on this cell.
    pub fn reader(self: &Arc<Self>) -> Snapshots {
        Snapshots(Arc::clone(self))
    }

    /// Replaces the snapshot; later loads see the new one, and every hook has run with it
    /// before this returns.
    ///
    /// A hook that panics does not stop the others or later publishes (its panic is caught,
    /// the lock it held is recovered), but this publish reports it: the caller must not say
    /// the change is in effect when the gateway did not take it.
    ///
    /// # Errors
    /// A hook panicked; the snapshot is stored all the same and the next publish calls every
    /// hook again.
    pub fn publish(&self, snapshot: Snapshot) -> Result<(), PublishError> {
        let revision = snapshot.revision;
        let snapshot = Arc::new(snapshot);
        // Hooks first, under the hook lock: a subscriber never sees revisions out of order.
        let failed = {
            let hooks = lock(&self.hooks);
            hooks
                .iter()
                .filter_map(|hook| catch_unwind(AssertUnwindSafe(|| hook(&snapshot))).err())
                .map(|panic| panic_text(panic.as_ref()))
                .next()
        };
        self.current.store(snapshot);
        self.changed.send_replace(revision);
        let mut failure = lock(&self.failure);
        match failed {
            None => {
                self.serving.store(revision, Ordering::Release);
                *failure = None;
                Ok(())
            }
            Some(reason) => {
                let error = PublishError {
                    revision,
                    serving: self.serving.load(Ordering::Acquire),
                    reason,
                };
                tracing::error!(%error, "a snapshot subscriber panicked");
                *failure = Some(error.clone());
                Err(error)
            }
        }
    }
}

/// A read-only handle on the current snapshot: load it, follow it, see what is served.
#[derive(Clone)]
pub struct Snapshots(Arc<SnapshotCell>);

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("serving", &self.serving())
            .finish_non_exhaustive()
    }
}

impl Snapshots {
    /// The current snapshot (lock-free).
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.current.load_full()
    }

    /// Registers `hook` and calls it at once with the current snapshot.
    pub fn on_publish(&self, hook: PublishHook) {
        let mut hooks = lock(&self.0.hooks);
        hook(&self.load());
        hooks.push(hook);
    }

    /// Notifies of every published revision (for pool retirement and metrics).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.changed.subscribe()
    }

    /// The newest revision every subscriber took: what this node serves.
    pub fn serving(&self) -> u64 {
        self.0.serving.load(Ordering::Acquire)
    }

    /// Why the newest published revision is not served, if it is not.
    pub fn failure(&self) -> Option<PublishError> {
        lock(&self.0.failure).clone()
    }
}

/// The cell's locks guard plain lists and values that a caught panic cannot leave
/// half-written, so a poisoned lock is taken over instead of skipped: skipping once made
/// every later publish miss the gateway while the API answered 2xx.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(revision: u64) -> Snapshot {
        Snapshot {
            revision,
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_cell_publishes_new_snapshots() {
        let cell = Arc::new(SnapshotCell::new(Snapshot::default()));
        let reader = cell.reader();
        let mut changes = reader.subscribe();
        let before = reader.load();
        cell.publish(at(5)).unwrap();
        assert_eq!(before.revision, 0);
        assert_eq!(reader.load().revision, 5);
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), 5);

        // A hook sees the current snapshot at once, then every publish before it returns.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        reader.on_publish(Box::new(move |s| log.lock().unwrap().push(s.revision)));
        cell.publish(at(6)).unwrap();
        assert_eq!(*seen.lock().unwrap(), [5, 6]);
        assert_eq!(reader.serving(), 6);
    }

    #[test]
    fn a_panicking_hook_is_reported_and_later_publishes_still_reach_every_hook() {
        let cell = Arc::new(SnapshotCell::new(at(1)));
        let reader = cell.reader();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        reader.on_publish(Box::new(move |s| {
            // Panics while holding its own lock, as a buggy subscriber might.
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            log.push(s.revision);
            assert!(s.revision != 2, "cannot build a table for revision 2");
        }));
        let error = cell.publish(at(2)).unwrap_err();
        assert_eq!((error.revision, error.serving), (2, 1));
        assert!(error.reason.contains("cannot build a table"), "{error}");
        assert_eq!(reader.serving(), 1);
        assert_eq!(reader.failure().map(|f| f.revision), Some(2));

        cell.publish(at(3)).unwrap();
        assert_eq!(
            *seen.lock().unwrap_or_else(PoisonError::into_inner),
            [1, 2, 3]
        );
        assert_eq!(reader.serving(), 3);
        assert!(reader.failure().is_none());
    }
}
