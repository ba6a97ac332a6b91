//! The refresher: a writer of the control plane that is not an HTTP request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_control::{ControlError, ControlPlane};
use gatehouse_model::ModelError;
use gatehouse_model::entity::certificate::{
    CertificateRecord, CheckedUpload, RefreshStatus, SecretReference,
};
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::{FetchError, SecretStores, file};

/// How often mounted files are looked at (a `stat` each): a replaced file is read within this.
const FILE_CHECK: Duration = Duration::from_secs(2);

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store held another certificate: this is its new version.
    NewVersion(u64),
    /// The store holds what was fetched last; nothing was written (or only a recovered status).
    Unchanged,
    /// The fetch or the check failed; the last good version keeps serving.
    Failed {
        /// `lastStatus.code`.
        code: String,
        /// `lastStatus.message`.
        message: String,
    },
    /// The certificate is not referenced (uploaded, or gone).
    NotReferenced,
}

/// Fetches referenced certificates and commits what changed.
pub struct Refresher {
    cp: Arc<ControlPlane>,
    stores: Arc<SecretStores>,
    /// The files' identity (inode, mtime, length) per certificate, as last looked at.
    stamps: Mutex<HashMap<String, file::Stamp>>,
    /// Failed refreshes per certificate, for `/metrics`.
    failures: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher").finish_non_exhaustive()
    }
}

impl Refresher {
    /// A refresher writing through `cp`.
    pub fn new(cp: Arc<ControlPlane>, stores: Arc<SecretStores>) -> Arc<Self> {
        Arc::new(Self {
            cp,
            stores,
            stamps: Mutex::new(HashMap::new()),
            failures: Mutex::new(BTreeMap::new()),
        })
    }

    /// Fetches what `reference` names and checks it exactly as an upload is checked.
    ///
    /// # Errors
    /// The fetch's failure, or the check's (`PasswordIncorrect`, `CertificateExpired`, ...).
    pub async fn check(
        &self,
        reference: &SecretReference,
        allow_expired: bool,
    ) -> Result<CheckedUpload, FetchError> {
        let material = self.stores.fetch(reference).await?;
        let limits = self.cp.limits().pki;
        let target = match reference {
            SecretReference::KeyVault(_) => "properties.keyVault",
            SecretReference::File(_) => "properties.file",
        };
        // Key derivation is deliberately slow: off the async workers.
        tokio::task::spawn_blocking(move || {
            CheckedUpload::from_material(
                &material,
                allow_expired,
                target,
                &limits,
                OffsetDateTime::now_utc(),
            )
        })
        .await
        .map_err(|_| FetchError::new("InternalError", "the check did not finish"))?
        .map_err(|e: ModelError| FetchError {
            code: e.code().to_owned(),
            message: e.to_string(),
        })
    }

    /// Refreshes certificate `id` now.
    ///
    /// # Errors
    /// The commit's failure (the store away, a concurrent change); a failed fetch is not an
    /// error but an [`Outcome::Failed`], recorded in `lastStatus`.
    pub async fn refresh(&self, id: &str) -> Result<Outcome, ControlError> {
        // On demand, the change is the caller's (`refreshSecret`); on its own, the refresher's.
        if gatehouse_model::audit::ACTOR.try_with(|_| ()).is_ok() {
            return self.refresh_now(id).await;
        }
        let actor = gatehouse_model::audit::Actor {
            name: "secret refresher".into(),
            via: "refresher".into(),
            address: None,
        };
        gatehouse_model::audit::ACTOR
            .scope(actor, self.refresh_now(id))
            .await
    }

    async fn refresh_now(&self, id: &str) -> Result<Outcome, ControlError> {
        let Some(reference) = self
            .cp
            .config()
            .certificates
            .get(id)
            .and_then(|c| c.value.reference.clone())
        else {
            return Ok(Outcome::NotReferenced);
        };
        let fetched = self.check(&reference, false).await;
        let mut tx = self.cp.begin().await;
        let Some(current) = tx.config().certificates.get(id).map(|c| c.value.clone()) else {
            return Ok(Outcome::NotReferenced);
        };
        if current.reference.as_ref() != Some(&reference) {
            // Changed while we fetched: the next refresh reads the new reference.
            return Ok(Outcome::Unchanged);
        }
        let now = OffsetDateTime::now_utc();
        let (record, outcome) = match fetched {
            Ok(upload) if current.fetched.as_deref() == Some(upload.thumbprint()) => {
                if current
                    .last_status
                    .as_ref()
                    .is_some_and(|s| s.code == "Success")
                {
                    return Ok(Outcome::Unchanged);
                }
                tracing::info!(certificate = %id, "the secret store answers again");
                let mut record = (*current).clone();
                record.last_status = Some(success(now));
                (record, Outcome::Unchanged)
            }
            Ok(upload) => {
                let mut record =
                    CertificateRecord::seal(&upload, id, tx.revision(), self.cp.master(), now)?
                        .succeeding(Some(&*current), self.cp.limits().certificate_versions);
                record.source = reference.source();
                record.fetched = Some(upload.thumbprint().to_owned());
                record.reference = Some(reference);
                record.last_status = Some(success(now));
                tracing::info!(
                    certificate = %id,
                    version = record.version,
                    thumbprint = %record.metadata.thumbprint,
                    "a new version of the certificate was fetched from its secret store"
                );
                let version = record.version;
                (record, Outcome::NewVersion(version))
            }
            Err(error) => {
                *self.failures.lock().entry(id.to_owned()).or_default() += 1;
                tracing::warn!(
                    certificate = %id,
                    code = %error.code,
                    "refreshing the certificate failed; the last good version keeps serving: {}",
                    error.message
                );
                let outcome = Outcome::Failed {
                    code: error.code.clone(),
                    message: error.message.clone(),
                };
                if current
                    .last_status
                    .as_ref()
                    .is_some_and(|s| s.code == error.code && s.message == error.message)
                {
                    return Ok(outcome);
                }
                let mut record = (*current).clone();
                record.last_status = Some(RefreshStatus {
                    code: error.code,
                    message: error.message,
                    time_stamp_utc: now,
                });
                (record, outcome)
            }
        };
        tx.put(record.to_record(id, tx.revision())?);
        tx.commit().await?;
        Ok(outcome)
    }

    /// Refreshes every referenced certificate every `interval`, and a file-referenced one as
    /// soon as its files change; runs until the process ends.
    pub fn run(self: &Arc<Self>, interval: Duration) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut full = tokio::time::interval(interval);
            full.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut files = tokio::time::interval(FILE_CHECK);
            files.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = full.tick() => this.refresh_all(|_| true).await,
                    _ = files.tick() => {
                        let changed = this.changed_files();
                        if !changed.is_empty() {
                            this.refresh_all(|id| changed.iter().any(|c| c == id)).await;
                        }
                    }
                }
            }
        });
    }

    async fn refresh_all(&self, pick: impl Fn(&str) -> bool) {
        let ids: Vec<String> = self
            .cp
            .config()
            .certificates
            .iter()
            .filter(|(id, c)| c.value.reference.is_some() && pick(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if let Err(error) = self.refresh(&id).await {
                tracing::warn!(certificate = %id, %error, "cannot record the certificate's refresh");
            }
        }
    }

    /// File-referenced certificates whose files changed since last looked at (or that were
    /// never looked at).
    fn changed_files(&self) -> Vec<String> {
        let config = self.cp.config();
        let mut stamps = self.stamps.lock();
        let mut changed = Vec::new();
        for (id, c) in &config.certificates {
            let Some(SecretReference::File(file)) = &c.value.reference else {
                continue;
            };
            let now = file::stamp(file);
            // A certificate seen for the first time is read once more: its files may have
            // changed between its save and this first look.
            if stamps
                .insert(id.clone(), now.clone())
                .is_none_or(|before| before != now)
            {
                changed.push(id.clone());
            }
        }
        stamps.retain(|id, _| config.certificates.contains_key(id));
        changed
    }

    /// Prometheus text: failed refreshes per certificate.
    pub fn render_metrics(&self) -> String {
        let failures = self.failures.lock();
        let mut out = String::from(
            "# HELP gatehouse_certificate_refresh_failures_total Refreshes of a referenced certificate that failed (the last good version kept serving).\n\
             # TYPE gatehouse_certificate_refresh_failures_total counter\n",
        );
        for (id, n) in failures.iter() {
            out.push_str(&format!(
                "gatehouse_certificate_refresh_failures_total{{certificate=\"{id}\"}} {n}\n"
            ));
        }
        out
    }
}

fn success(now: OffsetDateTime) -> RefreshStatus {
    RefreshStatus {
        code: "Success".into(),
        message: "the certificate was fetched and checked".into(),
        time_stamp_utc: now,
    }
}
