//! Warnings in the log as certificates near their end: at 30, 14, 7 and 1 days left, and once
//! expired; each threshold once per certificate version.

use std::collections::HashMap;

use gatehouse_model::Config;
use time::OffsetDateTime;

/// Days-left thresholds, largest first.
const THRESHOLDS: [i64; 4] = [30, 14, 7, 1];

/// What has been said already: (kind, id, thumbprint) -> the smallest threshold warned about
/// (0 once expired).
#[derive(Debug, Default)]
pub(crate) struct Warned(HashMap<(&'static str, String, String), i64>);

/// A warning to log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Warning {
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) thumbprint: String,
    pub(crate) days_left: i64,
    pub(crate) expired: bool,
}

/// The warnings due at `now` that have not been given yet.
pub(crate) fn due(config: &Config, now: OffsetDateTime, warned: &mut Warned) -> Vec<Warning> {
    let client = config.certificates.iter().map(|(id, c)| {
        (
            "client certificate",
            id,
            &c.value.metadata.thumbprint,
            c.value.metadata.expiration_date,
        )
    });
    let ca = config.ca_certificates.iter().map(|(id, c)| {
        (
            "CA certificate",
            id,
            &c.value.metadata.thumbprint,
            c.value.metadata.expiration_date,
        )
    });
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (kind, id, thumbprint, not_after) in client.chain(ca) {
        let key = (kind, id.clone(), thumbprint.clone());
        seen.push(key.clone());
        let left = not_after - now;
        let (level, expired) = if left.is_negative() {
            (0, true)
        } else {
            match THRESHOLDS.iter().rev().find(|t| left.whole_days() < **t) {
                Some(t) => (*t, false),
                None => continue,
            }
        };
        let before = warned.0.get(&key).copied();
        if before.is_some_and(|b| b <= level) {
            continue;
        }
        warned.0.insert(key, level);
        out.push(Warning {
            kind,
            id: id.clone(),
            thumbprint: thumbprint.clone(),
            days_left: left.whole_days().max(0),
            expired,
        });
    }
    warned.0.retain(|k, _| seen.contains(k));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(not_after: OffsetDateTime) -> Config {
        use gatehouse_model::entity::certificate::{CaCertificateRecord, CertificateMetadata};
        let mut config = Config::default();
        let metadata = CertificateMetadata {
            subject: "CN=ca".into(),
            issuer: "CN=ca".into(),
            thumbprint: "AB".repeat(20),
            serial_number: "01".into(),
            not_before: not_after - time::Duration::days(365),
            expiration_date: not_after,
            key_algorithm: "ECDSA P-256".into(),
            self_signed: true,
            subject_alternative_names: Vec::new(),
        };
        config.ca_certificates.insert(
            "root".into(),
            gatehouse_model::Stored {
                revision: 1,
                value: std::sync::Arc::new(CaCertificateRecord {
                    metadata,
                    is_ca: true,
                    uploaded: not_after,
                    der: Vec::new(),
                }),
            },
        );
        config
    }

    #[test]
    fn each_threshold_is_said_once_and_expiry_once() {
        let now = OffsetDateTime::now_utc();
        let config = config_with(now + time::Duration::days(20) + time::Duration::hours(1));
        let mut warned = Warned::default();
        let first = due(&config, now, &mut warned);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].days_left, first[0].expired), (20, false));
        assert!(due(&config, now, &mut warned).is_empty(), "said once");
        // Six days later it crosses 14: said again; at 7 and 1 likewise; then expired.
        for (later, left) in [(7, 13), (14, 6), (20, 0)] {
            let warnings = due(&config, now + time::Duration::days(later), &mut warned);
            assert_eq!(warnings.len(), 1, "day {later}");
            assert_eq!(warnings[0].days_left, left);
        }
        let expired = due(&config, now + time::Duration::days(21), &mut warned);
        assert!(expired[0].expired);
        assert!(due(&config, now + time::Duration::days(22), &mut warned).is_empty());
        // Far from expiry: nothing.
        let far = config_with(now + time::Duration::days(90));
        assert!(due(&far, now, &mut Warned::default()).is_empty());
    }
}
