//! The node's local copy of the configuration it serves: every record at one revision, sealed
//! with the master key and written atomically after each publish. A node (re)started while a
//! shared database is away serves from it; opening it is also the master-key check then.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_model::{Kind, Record};
use gatehouse_pki::MasterKey;
use serde_json::{Value, json};

/// Binds the sealed file to its purpose: no other sealed value can be swapped in.
const AAD: &[u8] = b"gatehouse:local-snapshot:v1";

/// What the local snapshot holds.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) revision: u64,
    pub(crate) epoch: String,
    pub(crate) records: Vec<Record>,
}

/// Why the local snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file does not open with this master key, or is damaged.
    #[error(
        "{0} does not open with this master key (another key, or a damaged file); start with \
         the key the cluster uses"
    )]
    Sealed(String),
}

/// Where the local snapshot lives.
#[derive(Debug, Clone)]
pub(crate) struct LocalSnapshot {
    path: PathBuf,
}

impl LocalSnapshot {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub(crate) fn exists(&self) -> bool {
        self.path.exists()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `records` at `revision`: a temporary file, synced, renamed over the old one, so
    /// a crash leaves the old snapshot or the new one, never half of one.
    pub(crate) fn save<'a>(
        &self,
        master: &MasterKey,
        revision: u64,
        epoch: &str,
        records: impl Iterator<Item = &'a Record>,
    ) -> Result<(), LocalError> {
        let records: Vec<Value> = records
            .map(|r| {
                json!({
                    "kind": r.kind.as_str(),
                    "key": r.key,
                    "revision": r.revision,
                    "body": r.body,
                    "sealed": r.sealed.as_ref().map(|s| STANDARD.encode(s)),
                })
            })
            .collect();
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&json!({"revision": revision, "epoch": epoch, "records": records}))
                .map_err(|e| LocalError::Sealed(e.to_string()))?,
        );
        let sealed = master
            .seal(&plain, AAD)
            .map_err(|e| LocalError::Sealed(e.to_string()))?;
        let io = |source| LocalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let tmp = self.path.with_extension("tmp");
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            file.write_all(&sealed).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Reads and opens the snapshot.
    pub(crate) fn load(&self, master: &MasterKey) -> Result<Saved, LocalError> {
        let shown = self.path.display().to_string();
        let sealed = std::fs::read(&self.path).map_err(|source| LocalError::Io {
            path: shown.clone(),
            source,
        })?;
        let plain = zeroize::Zeroizing::new(
            master
                .open(&sealed, AAD)
                .map_err(|_| LocalError::Sealed(shown.clone()))?,
        );
        let damaged = || LocalError::Sealed(shown.clone());
        let value: Value = serde_json::from_slice(&plain).map_err(|_| damaged())?;
        let mut records = Vec::new();
        for r in value["records"].as_array().ok_or_else(damaged)? {
            let kind = r["kind"]
                .as_str()
                .and_then(Kind::parse)
                .ok_or_else(damaged)?;
            let sealed = match &r["sealed"] {
                Value::Null => None,
                Value::String(s) => Some(STANDARD.decode(s).map_err(|_| damaged())?),
                _ => return Err(damaged()),
            };
            records.push(Record {
                kind,
                key: r["key"].as_str().ok_or_else(damaged)?.to_owned(),
                revision: r["revision"].as_u64().ok_or_else(damaged)?,
                body: r["body"].as_str().ok_or_else(damaged)?.to_owned(),
                sealed,
            });
        }
        Ok(Saved {
            revision: value["revision"].as_u64().ok_or_else(damaged)?,
            epoch: value["epoch"].as_str().ok_or_else(damaged)?.to_owned(),
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, key: &str, sealed: Option<Vec<u8>>) -> Record {
        Record {
            kind,
            key: key.into(),
            revision: 3,
            body: r#"{"path":"orders"}"#.into(),
            sealed,
        }
    }

    #[test]
    fn the_snapshot_round_trips_sealed_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalSnapshot::new(dir.path().join("config-snapshot.sealed"));
        let master = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        let records = [
            record(Kind::Api, "orders", None),
            record(Kind::Certificate, "client", Some(vec![0, 1, 2, 255])),
        ];
        local.save(&master, 3, "e1", records.iter()).unwrap();

        // Sealed: neither the bodies nor the sealed bytes appear in the file.
        let file = std::fs::read(local.path()).unwrap();
        assert!(!file.windows(6).any(|w| w == b"orders"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(local.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let saved = local.load(&master).unwrap();
        assert_eq!((saved.revision, saved.epoch.as_str()), (3, "e1"));
        assert_eq!(saved.records, records);

        let other = MasterKey::from_bytes(&[2u8; 32]).unwrap();
        assert!(matches!(local.load(&other), Err(LocalError::Sealed(_))));

        // A newer save replaces it whole.
        local.save(&master, 4, "e1", records[..1].iter()).unwrap();
        assert_eq!(local.load(&master).unwrap().records.len(), 1);
        assert!(!dir.path().join("config-snapshot.tmp").exists());
    }
}
