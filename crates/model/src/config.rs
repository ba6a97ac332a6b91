//! The whole configuration in memory, rebuilt from store records.
//!
//! Record keys: certificates, CA certificates, back ends and APIs by id; operations by
//! `{apiId}/{operationId}`; policies by [`PolicyScope::key`].

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_pki::MasterKey;
use gatehouse_policy::{CertificateRef, ReferenceKind};
use serde::Serialize;

use crate::entity::api::{ApiProperties, OperationProperties};
use crate::entity::backend::BackendProperties;
use crate::entity::certificate::{CaCertificateRecord, CertificateRecord};
use crate::entity::hostname::HostnameProperties;
use crate::entity::policy::{PolicyRecord, PolicyScope, policy_details};
use crate::entity::token::TokenRecord;
use crate::entity::{Change, Record};
use crate::url::ServiceUrl;
use crate::{Detail, Kind, ModelError};

/// An entity with the revision that last wrote it (its ETag derives from that).
#[derive(Debug)]
pub struct Stored<T> {
    /// Configuration revision of the last write.
    pub revision: u64,
    /// The entity.
    pub value: Arc<T>,
}

impl<T> Clone for Stored<T> {
    fn clone(&self) -> Self {
        Self {
            revision: self.revision,
            value: Arc::clone(&self.value),
        }
    }
}

/// Every entity, by id. Cloning is cheap (entities are shared), which is how a change is tried
/// on a copy and thrown away when it does not validate.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Revision of the last committed change (0 for an empty store).
    pub revision: u64,
    /// Client certificates.
    pub certificates: BTreeMap<String, Stored<CertificateRecord>>,
    /// CA certificates.
    pub ca_certificates: BTreeMap<String, Stored<CaCertificateRecord>>,
    /// Back ends.
    pub backends: BTreeMap<String, Stored<BackendProperties>>,
    /// APIs.
    pub apis: BTreeMap<String, Stored<ApiProperties>>,
    /// Operations by (API id, operation id).
    pub operations: BTreeMap<(String, String), Stored<OperationProperties>>,
    /// Policies by scope.
    pub policies: BTreeMap<PolicyScope, Stored<PolicyRecord>>,
    /// Hostname configurations of the TLS listener.
    pub hostnames: BTreeMap<String, Stored<HostnameProperties>>,
    /// Named management tokens, by name.
    pub tokens: BTreeMap<String, Stored<TokenRecord>>,
}

/// How an entity refers to another: one entry of a usages answer or a 409's details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// `globalPolicy`, `apiPolicy`, `operationPolicy`, `backend`, or `api` (an API that uses
    /// the entity through its back end).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Management path of the referring resource.
    pub id: String,
    /// The API concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The operation concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The back end concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_id: Option<String>,
    /// The policy element, when the reference is in a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The reference in words.
    pub description: String,
    /// Whether this reference stops a delete (indirect uses are listed but do not).
    #[serde(skip)]
    pub blocking: bool,
}

impl Config {
    /// Builds the configuration from every stored record.
    ///
    /// # Errors
    /// When a record does not decode or its secrets do not open (wrong master key).
    pub fn load(
        records: impl IntoIterator<Item = Record>,
        revision: u64,
        master: &MasterKey,
    ) -> Result<Self, ModelError> {
        let mut config = Config {
            revision,
            ..Config::default()
        };
        for record in records {
            config.apply(&Change::Put(record), master)?;
        }
        Ok(config)
    }

    /// Applies one change: the same decoding the store's reload uses.
    ///
    /// # Errors
    /// When a record does not decode.
    pub fn apply(&mut self, change: &Change, master: &MasterKey) -> Result<(), ModelError> {
        match change {
            Change::Put(r) => {
                let rev = r.revision;
                match r.kind {
                    Kind::Certificate => {
                        let v = CertificateRecord::from_record(r)?;
                        self.certificates.insert(r.key.clone(), stored(rev, v));
                    }
                    Kind::CaCertificate => {
                        let v = CaCertificateRecord::from_record(r)?;
                        self.ca_certificates.insert(r.key.clone(), stored(rev, v));
                    }
                    Kind::Backend => {
                        let v = BackendProperties::from_record(r, master)?;
                        self.backends.insert(r.key.clone(), stored(rev, v));
                    }
                    Kind::Api => {
                        let v = ApiProperties::from_record(r)?;
                        self.apis.insert(r.key.clone(), stored(rev, v));
                    }
                    Kind::Operation => {
                        let v = OperationProperties::from_record(r)?;
                        self.operations
                            .insert(operation_key(&r.key)?, stored(rev, v));
                    }
                    Kind::Policy => {
                        let v = PolicyRecord::from_record(r, master)?;
                        self.policies.insert(policy_scope(&r.key)?, stored(rev, v));
                    }
                    Kind::Hostname => {
                        let v = HostnameProperties::from_record(r)?;
                        self.hostnames.insert(r.key.clone(), stored(rev, v));
                    }
                    Kind::Token => {
                        let v = TokenRecord::from_record(r)?;
                        self.tokens.insert(r.key.clone(), stored(rev, v));
                    }
                }
            }
            Change::Delete { kind, key } => match kind {
                Kind::Certificate => drop(self.certificates.remove(key)),
                Kind::CaCertificate => drop(self.ca_certificates.remove(key)),
                Kind::Backend => drop(self.backends.remove(key)),
                Kind::Api => drop(self.apis.remove(key)),
                Kind::Operation => drop(self.operations.remove(&operation_key(key)?)),
                Kind::Policy => drop(self.policies.remove(&policy_scope(key)?)),
                Kind::Hostname => drop(self.hostnames.remove(key)),
                Kind::Token => drop(self.tokens.remove(key)),
            },
        }
        Ok(())
    }

    /// Stored settings that ask for behaviour the gateway does not have: values saved before
    /// Gatehouse refused them. They load, and the gateway serves them as it always did (an API
    /// open to every caller, redirects returned to the caller); the server warns about each
    /// at start. Targets name the entity: `/apis/orders: properties.subscriptionRequired`.
    pub fn unsupported_settings(&self) -> Vec<Detail> {
        let mut out = Vec::new();
        for (id, api) in &self.apis {
            for d in api.value.unsupported_settings() {
                out.push(Detail::new(
                    d.code,
                    format!("/apis/{id}: {}", d.target),
                    d.message,
                ));
            }
        }
        for (scope, policy) in &self.policies {
            for d in policy_details(&policy.value.document.unsupported()) {
                out.push(Detail::new(
                    d.code,
                    format!("{}: {}", scope.resource_id(), d.target),
                    d.message,
                ));
            }
        }
        out
    }

    /// The operations of one API.
    pub fn operations_of<'a>(
        &'a self,
        api_id: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Stored<OperationProperties>)> + 'a {
        self.operations
            .range((api_id.to_string(), String::new())..)
            .take_while(move |((a, _), _)| a == api_id)
            .map(|((_, o), v)| (o.as_str(), v))
    }

    /// The API already using `path` (ignoring case), other than `except`.
    pub fn api_with_path(&self, path: &str, except: &str) -> Option<&str> {
        self.apis
            .iter()
            .find(|(id, api)| id.as_str() != except && api.value.path.eq_ignore_ascii_case(path))
            .map(|(id, _)| id.as_str())
    }

    /// The back end entity that applies to a service URL: the one whose URL is its longest
    /// prefix (APIM's rule for back ends that are not named by `set-backend-service`).
    pub fn backend_for_url(&self, url: &ServiceUrl) -> Option<(&str, &Stored<BackendProperties>)> {
        self.backends
            .iter()
            .filter_map(|(id, b)| {
                let bu = b.value.service_url().ok()?;
                url.starts_with(&bu)
                    .then_some((id.as_str(), b, bu.base_path.len()))
            })
            .max_by_key(|(_, _, len)| *len)
            .map(|(id, b, _)| (id, b))
    }

    /// Every place that refers to client certificate `id`.
    pub fn certificate_usages(&self, id: &str) -> Vec<Usage> {
        let Some(cert) = self.certificates.get(id) else {
            return Vec::new();
        };
        let thumbprint = &cert.value.metadata.thumbprint;
        // A thumbprint reference stays satisfied while another upload has the same thumbprint.
        let twin = self.certificates.iter().any(|(other, c)| {
            other != id && c.value.metadata.thumbprint.eq_ignore_ascii_case(thumbprint)
        });
        let mut usages = self.policy_usages(|kind| match kind {
            ReferenceKind::CertificateId(r) => (r == id).then_some(true),
            ReferenceKind::CertificateThumbprint(t) => {
                t.eq_ignore_ascii_case(thumbprint).then_some(!twin)
            }
            ReferenceKind::BackendId(_) | ReferenceKind::CaCertificateId(_) => None,
        });
        for (hid, h) in &self.hostnames {
            if h.value.certificate_id == id {
                usages.push(Usage {
                    kind: "hostnameConfiguration",
                    id: format!("/hostnameConfigurations/{hid}"),
                    api_id: None,
                    operation_id: None,
                    backend_id: None,
                    location: Some("properties.certificateId".into()),
                    description: format!(
                        "hostname configuration '{hid}' ({}) presents it to callers",
                        h.value.hostname
                    ),
                    blocking: true,
                });
            }
        }
        let backends: Vec<&str> = self
            .backends
            .iter()
            .filter(|(_, b)| b.value.credentials.certificate_ids.iter().any(|c| c == id))
            .map(|(bid, _)| bid.as_str())
            .collect();
        for bid in &backends {
            usages.push(Usage {
                kind: "backend",
                id: format!("/backends/{bid}"),
                api_id: None,
                operation_id: None,
                backend_id: Some((*bid).to_string()),
                location: Some("properties.credentials.certificateIds".into()),
                description: format!("backend '{bid}' presents it (credentials.certificateIds)"),
                blocking: true,
            });
        }
        usages.extend(self.apis_using_backends(&backends));
        usages
    }

    /// Every back end that trusts CA certificate `id`, and every policy identity that names it
    /// as a caller certificate's issuer.
    pub fn ca_certificate_usages(&self, id: &str) -> Vec<Usage> {
        let backends: Vec<&str> = self
            .backends
            .iter()
            .filter(|(_, b)| b.value.tls.ca_certificate_ids.iter().any(|c| c == id))
            .map(|(bid, _)| bid.as_str())
            .collect();
        let mut usages = self.policy_usages(|kind| match kind {
            ReferenceKind::CaCertificateId(c) => (c == id).then_some(true),
            _ => None,
        });
        usages.extend(backends.iter().map(|bid| Usage {
            kind: "backend",
            id: format!("/backends/{bid}"),
            api_id: None,
            operation_id: None,
            backend_id: Some((*bid).to_string()),
            location: Some("properties.tls.caCertificateIds".into()),
            description: format!("backend '{bid}' trusts it (tls.caCertificateIds)"),
            blocking: true,
        }));
        usages.extend(self.apis_using_backends(&backends));
        usages
    }

    /// Every policy that names back end `id`, and the APIs it serves.
    pub fn backend_usages(&self, id: &str) -> Vec<Usage> {
        let mut usages = self.policy_usages(|kind| match kind {
            ReferenceKind::BackendId(b) => (b == id).then_some(true),
            _ => None,
        });
        usages.extend(self.apis_using_backends(&[id]));
        usages
    }

    /// Policy references selected by `select`, which returns whether a match blocks deletes.
    fn policy_usages(&self, select: impl Fn(&ReferenceKind) -> Option<bool>) -> Vec<Usage> {
        let mut usages = Vec::new();
        for (scope, policy) in &self.policies {
            for reference in policy.value.document.references() {
                let Some(blocking) = select(&reference.kind) else {
                    continue;
                };
                let (kind, api_id, operation_id) = match scope {
                    PolicyScope::Global => ("globalPolicy", None, None),
                    PolicyScope::Api(a) => ("apiPolicy", Some(a.clone()), None),
                    PolicyScope::Operation(a, o) => {
                        ("operationPolicy", Some(a.clone()), Some(o.clone()))
                    }
                };
                usages.push(Usage {
                    kind,
                    id: scope.resource_id(),
                    api_id,
                    operation_id,
                    backend_id: None,
                    location: Some(reference.location.to_string()),
                    description: format!("{} at {}", scope.describe(), reference.location),
                    blocking,
                });
            }
        }
        usages
    }

    /// APIs that reach one of `backends` by service URL or `set-backend-service`: listed so
    /// the operator sees which APIs a delete would affect; the back end itself blocks it.
    fn apis_using_backends(&self, backends: &[&str]) -> Vec<Usage> {
        let mut usages = Vec::new();
        if backends.is_empty() {
            return usages;
        }
        for (api_id, api) in &self.apis {
            let by_url = api
                .value
                .service_url
                .as_deref()
                .and_then(|u| ServiceUrl::parse(u).ok())
                .and_then(|u| self.backend_for_url(&u).map(|(b, _)| b.to_string()));
            let by_policy = self.policies.iter().flat_map(|(scope, p)| {
                let applies = match scope {
                    PolicyScope::Global => true,
                    PolicyScope::Api(a) | PolicyScope::Operation(a, _) => a == api_id,
                };
                p.value
                    .document
                    .references()
                    .into_iter()
                    .filter(move |_| applies)
                    .filter_map(|r| match r.kind {
                        ReferenceKind::BackendId(b) => Some(b),
                        _ => None,
                    })
            });
            let by_url = by_url.filter(|b| backends.contains(&b.as_str()));
            let mut via: Vec<String> = by_policy.collect();
            via.retain(|b| backends.contains(&b.as_str()) && Some(b) != by_url.as_ref());
            via.sort();
            via.dedup();
            if let Some(bid) = by_url {
                // The API gets this back end's TLS and credentials through its service URL;
                // deleting a back end that sets any would silently change how it is secured.
                let blocking = self
                    .backends
                    .get(&bid)
                    .is_some_and(|b| b.value.shapes_traffic());
                usages.push(Usage {
                    kind: "api",
                    id: format!("/apis/{api_id}"),
                    api_id: Some(api_id.clone()),
                    operation_id: None,
                    backend_id: Some(bid.clone()),
                    location: Some("properties.serviceUrl".into()),
                    description: format!(
                        "API '{api_id}' reaches it through its service URL{}",
                        if blocking {
                            " and gets its TLS settings and credentials"
                        } else {
                            ""
                        }
                    ),
                    blocking,
                });
            }
            for bid in via {
                usages.push(Usage {
                    kind: "api",
                    id: format!("/apis/{api_id}"),
                    api_id: Some(api_id.clone()),
                    operation_id: None,
                    backend_id: Some(bid.clone()),
                    location: None,
                    description: format!("API '{api_id}' uses it through backend '{bid}'"),
                    blocking: false,
                });
            }
        }
        usages
    }

    /// The certificate an [`CertificateRef`] names: by id, or the first with that thumbprint.
    pub fn resolve_certificate(&self, reference: &CertificateRef) -> Option<&str> {
        match reference {
            CertificateRef::Id(id) => self.certificates.get_key_value(id).map(|(k, _)| k.as_str()),
            CertificateRef::Thumbprint(t) => self
                .certificates
                .iter()
                .find(|(_, c)| c.value.metadata.thumbprint.eq_ignore_ascii_case(t))
                .map(|(k, _)| k.as_str()),
        }
    }
}

fn stored<T>(revision: u64, value: T) -> Stored<T> {
    Stored {
        revision,
        value: Arc::new(value),
    }
}

fn operation_key(key: &str) -> Result<(String, String), ModelError> {
    key.split_once('/')
        .map(|(a, o)| (a.to_string(), o.to_string()))
        .ok_or_else(|| ModelError::internal(format!("bad operation key '{key}'")))
}

fn policy_scope(key: &str) -> Result<PolicyScope, ModelError> {
    PolicyScope::from_key(key)
        .ok_or_else(|| ModelError::internal(format!("bad policy key '{key}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(kind: Kind, key: &str, body: serde_json::Value) -> Record {
        Record {
            kind,
            key: key.into(),
            revision: 1,
            body: body.to_string(),
            sealed: None,
        }
    }

    #[test]
    fn settings_stored_before_they_were_refused_load_and_are_reported() {
        let master = MasterKey::from_bytes(&[9u8; 32]).unwrap();
        let xml = "<policies>\n    <backend>\n        <forward-request follow-redirects=\"true\" />\n    </backend>\n</policies>";
        let records = [
            record(
                Kind::Api,
                "orders",
                json!({"path": "orders", "protocols": ["https"], "subscriptionRequired": true,
                    "serviceUrl": "https://backend.example"}),
            ),
            record(
                Kind::Api,
                "plain",
                json!({"path": "plain", "protocols": ["https"], "subscriptionRequired": false}),
            ),
            record(
                Kind::Policy,
                "global",
                json!({"format": "rawxml", "value": xml}),
            ),
        ];
        let config = Config::load(records, 1, &master).unwrap();
        let found: Vec<(String, String)> = config
            .unsupported_settings()
            .into_iter()
            .map(|d| (d.code, d.target))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "NotSupported".to_string(),
                    "/apis/orders: properties.subscriptionRequired".to_string()
                ),
                (
                    "NotSupported".to_string(),
                    "/policies/policy: policies/backend/forward-request[1] (line 3, column 9)"
                        .to_string()
                ),
            ]
        );
    }
}
