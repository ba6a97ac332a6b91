//! Client certificates (with private keys) and CA certificates (without).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_pki::{CertificateInfo, Limits, MasterKey, PkiError, SourceFormat};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Record, decode_body, encode_body, seal_context};
use crate::{Kind, ModelError};

mod lifecycle;

pub use lifecycle::{FileReference, KeyVaultReference, RefreshStatus, SecretReference, Source};

/// What a certificate response shows: public facts about the leaf and the upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateMetadata {
    /// Subject, most specific RDN first (`CN=gatehouse-client, O=Bars`).
    pub subject: String,
    /// Issuer, in the same form.
    pub issuer: String,
    /// SHA-1 of the leaf's DER, 40 upper-case hex digits.
    pub thumbprint: String,
    /// Serial number, upper-case hex.
    pub serial_number: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity (APIM's name).
    #[serde(with = "time::serde::rfc3339")]
    pub expiration_date: OffsetDateTime,
    /// e.g. `RSA 2048`, `ECDSA P-256`.
    pub key_algorithm: String,
    /// Whether the certificate signed itself.
    pub self_signed: bool,
    /// Subject alternative names (`DNS:...`, `IP:...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alternative_names: Vec<String>,
}

impl From<&CertificateInfo> for CertificateMetadata {
    fn from(info: &CertificateInfo) -> Self {
        Self {
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            thumbprint: info.thumbprint.clone(),
            serial_number: info.serial_number.clone(),
            not_before: info.not_before,
            expiration_date: info.not_after,
            key_algorithm: info.key_algorithm.clone(),
            self_signed: info.self_signed,
            subject_alternative_names: info.subject_alternative_names.clone(),
        }
    }
}

/// A stored client certificate: metadata, the chain, and the sealed private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRecord {
    /// The configuration revision of the upload: grows with every replacement, never repeats;
    /// the key's seal is bound to it.
    pub version: u64,
    /// Facts about the leaf.
    #[serde(flatten)]
    pub metadata: CertificateMetadata,
    /// `pkcs12` or `pem`.
    pub format: String,
    /// How the uploaded PKCS#12 file was encrypted (absent for PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// Whether that encryption is legacy (RC2, 3DES, SHA-1 MAC).
    #[serde(default)]
    pub legacy_encryption: bool,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded: OffsetDateTime,
    /// Leaf first, then the chain from the upload; DER, base64 in the record body.
    #[serde(with = "der_list")]
    pub chain: Vec<Vec<u8>>,
    /// The PKCS#8 private key, sealed; never in the body.
    #[serde(skip)]
    pub sealed_key: Vec<u8>,
    /// Where this version came from.
    #[serde(default)]
    pub source: Source,
    /// Earlier versions, newest first, at most [`KEPT_VERSIONS`]: what a rollback can restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<PastVersion>,
    /// The secret-store reference the certificate is refreshed from, if it is not uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<SecretReference>,
    /// How the last refresh from `reference` went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<RefreshStatus>,
    /// The thumbprint last fetched through `reference`: a refresh makes a new version only when
    /// the store holds something else, so a rollback stays until the secret itself changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<String>,
}

/// How many earlier versions of a certificate are kept for rollback, unless configured.
pub const KEPT_VERSIONS: usize = 5;

/// An earlier version of a certificate, kept whole (its key sealed to its own version).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PastVersion {
    /// Its version.
    pub version: u64,
    /// Facts about its leaf.
    #[serde(flatten)]
    pub metadata: CertificateMetadata,
    /// `pkcs12` or `pem`.
    pub format: String,
    /// The PKCS#12 encryption, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// Whether that encryption is legacy.
    #[serde(default)]
    pub legacy_encryption: bool,
    /// When it became active.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded: OffsetDateTime,
    /// Where it came from.
    #[serde(default)]
    pub source: Source,
    /// Its chain, DER.
    #[serde(with = "der_list")]
    pub chain: Vec<Vec<u8>>,
    /// Its key, sealed with the context of its own version (ciphertext, never a key in clear).
    #[serde(with = "der_one")]
    pub sealed_key: Vec<u8>,
}

impl fmt::Debug for PastVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PastVersion")
            .field("version", &self.version)
            .field("thumbprint", &self.metadata.thumbprint)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CertificateRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateRecord")
            .field("version", &self.version)
            .field("subject", &self.metadata.subject)
            .field("thumbprint", &self.metadata.thumbprint)
            .finish_non_exhaustive()
    }
}

/// Upload body of `PUT /certificates/{id}`: APIM's `data` + `password`, or our `pem`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateInput {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    pem: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    allow_expired: bool,
    #[serde(default)]
    key_vault: Option<KeyVaultReference>,
    #[serde(default)]
    file: Option<FileReference>,
}

impl Drop for CertificateInput {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        // The password and the PEM hold secrets; the base64 PKCS#12 is encrypted but wiped too.
        for text in [&mut self.password, &mut self.pem, &mut self.data]
            .into_iter()
            .flatten()
        {
            text.zeroize();
        }
    }
}

/// Maps a PKI refusal to a 400 carrying its stable code and its actionable message.
pub fn pki_error(target: &str, error: &PkiError) -> ModelError {
    ModelError::invalid_field(error.code(), target, error.to_string())
}

/// What a `PUT /certificates/{id}` asks for: certificate material to check now, or a
/// reference to fetch it from.
#[derive(Debug)]
pub enum CertificateRequest {
    /// `data` or `pem`, checked.
    Upload(Box<CheckedUpload>),
    /// `keyVault` or `file`: fetched, then checked like an upload.
    Reference {
        /// Where the certificate lives.
        reference: SecretReference,
        /// Accept an expired certificate from it.
        allow_expired: bool,
    },
}

/// Certificate material as a secret store holds it.
pub enum Material {
    /// A PKCS#12 file and its password.
    Pkcs12(Zeroizing<Vec<u8>>, Option<Zeroizing<String>>),
    /// PEM text (certificate, chain and key) and the key's password.
    Pem(Zeroizing<String>, Option<Zeroizing<String>>),
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pkcs12(..) => "Material::Pkcs12",
            Self::Pem(..) => "Material::Pem",
        })
    }
}

/// A checked upload, not yet sealed: parsing is the slow part (key derivation), so it runs
/// before the writer lock is taken; sealing runs under it, bound to the commit's revision.
pub struct CheckedUpload {
    certificate: gatehouse_pki::ClientCertificate,
}

impl fmt::Debug for CheckedUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedUpload")
            .field("thumbprint", &self.certificate.info.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CheckedUpload {
    /// Parses and checks the `properties` of a `PUT /certificates/{id}`.
    ///
    /// # Errors
    /// One 400 per way the upload can be wrong, with the PKI layer's code (`PasswordIncorrect`,
    /// `NotPkcs12`, `KeyMismatch`, `CertificateExpired`, ...).
    pub fn parse(
        properties: serde_json::Value,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        match CertificateRequest::parse(properties, limits, now)? {
            CertificateRequest::Upload(upload) => Ok(*upload),
            CertificateRequest::Reference { .. } => Err(ModelError::invalid_field(
                "InvalidProperty",
                "properties",
                "a reference is fetched, not uploaded",
            )),
        }
    }

    /// Checks material fetched from a secret store exactly as an upload is checked.
    ///
    /// # Errors
    /// The PKI layer's codes, with `target` naming where the material came from.
    pub fn from_material(
        material: &Material,
        allow_expired: bool,
        target: &str,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        let certificate = match material {
            Material::Pkcs12(der, password) => {
                gatehouse_pki::parse_pkcs12(der, password.as_deref().map(String::as_str), limits)
            }
            Material::Pem(pem, password) => {
                gatehouse_pki::parse_pem(pem, password.as_deref().map(String::as_str), limits)
            }
        }
        .map_err(|e| pki_error(target, &e))?;
        Self::checked(certificate, allow_expired, now)
    }

    fn checked(
        certificate: gatehouse_pki::ClientCertificate,
        allow_expired: bool,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        if !allow_expired {
            gatehouse_pki::check_validity(&certificate.info, now)
                .map_err(|e| pki_error("properties", &e))?;
        }
        // Proves now, not on the first request, that the gateway can sign with this key.
        gatehouse_pki::signing_key(&certificate.key).map_err(|e| pki_error("properties", &e))?;
        Ok(Self { certificate })
    }

    /// The leaf's SHA-1 thumbprint.
    pub fn thumbprint(&self) -> &str {
        &self.certificate.info.thumbprint
    }
}

impl CertificateRequest {
    /// Parses the `properties` of a `PUT /certificates/{id}`: an upload is checked now; a
    /// reference is returned for the caller to fetch.
    ///
    /// # Errors
    /// One 400 per way the request can be wrong.
    pub fn parse(
        properties: serde_json::Value,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        let input: CertificateInput = super::from_properties(properties)?;
        let password = input.password.as_deref();
        let given = [
            input.data.is_some(),
            input.pem.is_some(),
            input.key_vault.is_some(),
            input.file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ModelError::invalid_field(
                "InvalidProperty",
                "properties",
                "send one of data (base64 PKCS#12), pem, keyVault or file",
            ));
        }
        if let Some(key_vault) = &input.key_vault {
            check_secret_identifier(&key_vault.secret_identifier)?;
            return Ok(Self::Reference {
                reference: SecretReference::KeyVault(key_vault.clone()),
                allow_expired: input.allow_expired,
            });
        }
        if let Some(file) = &input.file {
            for (path, target) in [
                (Some(&file.path), "properties.file.path"),
                (file.key_path.as_ref(), "properties.file.keyPath"),
                (file.password_file.as_ref(), "properties.file.passwordFile"),
            ] {
                if let Some(path) = path
                    && !path.starts_with('/')
                {
                    return Err(ModelError::invalid_field(
                        "InvalidProperty",
                        target,
                        "must be an absolute path",
                    ));
                }
            }
            if input.password.is_some() {
                return Err(ModelError::invalid_field(
                    "InvalidProperty",
                    "properties.password",
                    "a file reference reads its password from properties.file.passwordFile",
                ));
            }
            return Ok(Self::Reference {
                reference: SecretReference::File(file.clone()),
                allow_expired: input.allow_expired,
            });
        }
        let certificate = match (&input.data, &input.pem) {
            (Some(data), None) => {
                let der = Zeroizing::new(decode_pkcs12_base64(data, limits)?);
                gatehouse_pki::parse_pkcs12(&der, password, limits)
                    .map_err(|e| pki_error("properties.data", &e))?
            }
            (None, Some(pem)) => gatehouse_pki::parse_pem(pem, password, limits)
                .map_err(|e| pki_error("properties.pem", &e))?,
            _ => {
                return Err(ModelError::invalid_field(
                    "InvalidProperty",
                    "properties.data",
                    "is required: the base64 of a .pfx file (or send properties.pem, \
                     properties.keyVault or properties.file)",
                ));
            }
        };
        Ok(Self::Upload(Box::new(CheckedUpload::checked(
            certificate,
            input.allow_expired,
            now,
        )?)))
    }
}

/// `https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`: https, a host, `secrets`, a name.
fn check_secret_identifier(identifier: &str) -> Result<(), ModelError> {
    let bad = |why: &str| {
        ModelError::invalid_field(
            "InvalidSecretIdentifier",
            "properties.keyVault.secretIdentifier",
            format!(
                "{why}: expected https://VAULT/secrets/NAME or https://VAULT/secrets/NAME/VERSION"
            ),
        )
    };
    let rest = identifier
        .strip_prefix("https://")
        .ok_or_else(|| bad("must be an https URL"))?;
    let mut parts = rest.split('/');
    let host = parts.next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("has no vault host"));
    }
    if parts.next() != Some("secrets") {
        return Err(bad("is not a secret URL"));
    }
    let name = parts.next().unwrap_or_default();
    let version = parts.next();
    if name.is_empty() || version == Some("") || parts.next().is_some() || rest.contains(['?', '#'])
    {
        return Err(bad("has no secret name, or too many parts"));
    }
    Ok(())
}

impl CertificateRecord {
    /// Seals a checked upload as certificate `id` written at configuration `revision`. The
    /// revision is the certificate's version: it never repeats, even after a delete and a new
    /// upload under the same id, so an old sealed key can never open as the current one.
    ///
    /// # Errors
    /// An internal error when sealing fails.
    pub fn seal(
        upload: &CheckedUpload,
        id: &str,
        revision: u64,
        master: &MasterKey,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        let parsed = &upload.certificate;
        let (format, encryption, legacy) = match &parsed.source {
            SourceFormat::Pkcs12 { encryption } => (
                "pkcs12",
                Some(encryption.description.clone()),
                encryption.legacy,
            ),
            SourceFormat::Pem { .. } => ("pem", None, false),
        };
        let sealed_key = master
            .seal(&parsed.key, &seal_context(Kind::Certificate, id, revision))
            .map_err(|e| ModelError::internal(e.to_string()))?;
        Ok(Self {
            version: revision,
            metadata: CertificateMetadata::from(&parsed.info),
            format: format.to_string(),
            encryption,
            legacy_encryption: legacy,
            uploaded: now,
            chain: parsed.chain.iter().map(|c| c.as_ref().to_vec()).collect(),
            sealed_key,
            source: Source::Upload,
            previous: Vec::new(),
            reference: None,
            last_status: None,
            fetched: None,
        })
    }

    /// This version as an earlier one.
    fn as_past(&self) -> PastVersion {
        PastVersion {
            version: self.version,
            metadata: self.metadata.clone(),
            format: self.format.clone(),
            encryption: self.encryption.clone(),
            legacy_encryption: self.legacy_encryption,
            uploaded: self.uploaded,
            source: self.source,
            chain: self.chain.clone(),
            sealed_key: self.sealed_key.clone(),
        }
    }

    /// Makes `self` the version after `current`, which joins the earlier versions (the oldest
    /// beyond `keep` are dropped).
    #[must_use]
    pub fn succeeding(mut self, current: Option<&CertificateRecord>, keep: usize) -> Self {
        if let Some(current) = current {
            self.previous = std::iter::once(current.as_past())
                .chain(current.previous.iter().cloned())
                .take(keep)
                .collect();
        }
        self
    }

    /// A new current version, `revision`, with the content of earlier version `version`: its key
    /// is opened and sealed again for the new version, so pools roll over as on an upload.
    ///
    /// # Errors
    /// `VersionNotFound` when `version` is not kept; an internal error when the key does not
    /// open.
    pub fn rollback(
        &self,
        id: &str,
        version: u64,
        revision: u64,
        master: &MasterKey,
        now: OffsetDateTime,
        keep: usize,
    ) -> Result<Self, ModelError> {
        let past = self
            .previous
            .iter()
            .find(|p| p.version == version)
            .ok_or_else(|| {
                let kept: Vec<String> = self
                    .previous
                    .iter()
                    .map(|p| p.version.to_string())
                    .collect();
                ModelError::invalid_field(
                    "VersionNotFound",
                    "version",
                    format!(
                        "certificate '{id}' keeps no version {version} (current {}, earlier: {})",
                        self.version,
                        if kept.is_empty() {
                            "none".to_owned()
                        } else {
                            kept.join(", ")
                        }
                    ),
                )
            })?;
        let key = master
            .open(
                &past.sealed_key,
                &seal_context(Kind::Certificate, id, past.version),
            )
            .map_err(|e| ModelError::internal(format!("version {version} does not open: {e}")))?;
        let sealed_key = master
            .seal(&key, &seal_context(Kind::Certificate, id, revision))
            .map_err(|e| ModelError::internal(e.to_string()))?;
        let restored = Self {
            version: revision,
            metadata: past.metadata.clone(),
            format: past.format.clone(),
            encryption: past.encryption.clone(),
            legacy_encryption: past.legacy_encryption,
            uploaded: now,
            chain: past.chain.clone(),
            sealed_key,
            source: Source::Rollback,
            previous: Vec::new(),
            reference: self.reference.clone(),
            last_status: self.last_status.clone(),
            fetched: self.fetched.clone(),
        };
        Ok(restored.succeeding(Some(self), keep))
    }

    /// Opens the private key (PKCS#8 DER).
    ///
    /// # Errors
    /// When the master key is not the one the key was sealed with, or the row was altered.
    pub fn open_key(&self, id: &str, master: &MasterKey) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        master.open(
            &self.sealed_key,
            &seal_context(Kind::Certificate, id, self.version),
        )
    }

    /// The stored form.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, id: &str, revision: u64) -> Result<Record, ModelError> {
        Ok(Record {
            kind: Kind::Certificate,
            key: id.to_string(),
            revision,
            body: encode_body(self)?,
            sealed: Some(self.sealed_key.clone()),
        })
    }

    /// Reads a certificate back from its record (the key stays sealed).
    ///
    /// # Errors
    /// an internal error when the row is not a certificate or has no key.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        let mut cert: CertificateRecord = decode_body(record)?;
        cert.sealed_key = record.sealed.clone().ok_or_else(|| {
            ModelError::internal(format!(
                "certificate {}: the stored row has no key",
                record.key
            ))
        })?;
        Ok(cert)
    }
}

/// A CA certificate back ends may trust; no key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificateRecord {
    /// Facts about the certificate.
    #[serde(flatten)]
    pub metadata: CertificateMetadata,
    /// Whether it says it is a CA (a self-signed server certificate trusted directly is not).
    pub is_ca: bool,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded: OffsetDateTime,
    /// The certificate, DER (base64 in the body).
    #[serde(with = "der_one")]
    pub der: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CaInput {
    data: String,
    #[serde(default)]
    allow_expired: bool,
}

impl CaCertificateRecord {
    /// Parses `{"data": "<base64 DER or PEM, or PEM text>"}`.
    ///
    /// # Errors
    /// `InvalidBase64`, the PKI layer's codes (`UnexpectedPrivateKey`, `MultipleCertificates`,
    /// `InvalidCertificate`), `CertificateExpired` unless `allowExpired`.
    pub fn from_upload(
        properties: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Self, ModelError> {
        let input: CaInput = super::from_properties(properties)?;
        let bytes = if input.data.trim_start().starts_with("-----BEGIN") {
            input.data.clone().into_bytes()
        } else {
            decode_base64(&input.data, "properties.data")?
        };
        let (der, info) = gatehouse_pki::parse_ca_certificate(&bytes)
            .map_err(|e| pki_error("properties.data", &e))?;
        if !input.allow_expired {
            gatehouse_pki::check_validity(&info, now).map_err(|e| pki_error("properties", &e))?;
        }
        Ok(Self {
            metadata: CertificateMetadata::from(&info),
            is_ca: info.is_ca,
            uploaded: now,
            der: der.as_ref().to_vec(),
        })
    }

    /// The stored form.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, id: &str, revision: u64) -> Result<Record, ModelError> {
        super::plain_record(Kind::CaCertificate, id, revision, self)
    }

    /// Reads a CA certificate back from its record.
    ///
    /// # Errors
    /// an internal error when the row is not a CA certificate.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

/// Decodes base64 as people paste it: standard alphabet, line breaks and spaces ignored.
fn decode_base64(text: &str, target: &str) -> Result<Vec<u8>, ModelError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ModelError::invalid_field("InvalidBase64", target, "is not valid base64"))
}

/// Decodes `properties.data`; PEM text sent there gets the PKI layer's `NotPkcs12` answer
/// (send it in `pem`), the same as base64 of PEM does.
fn decode_pkcs12_base64(text: &str, limits: &Limits) -> Result<Vec<u8>, ModelError> {
    if text.trim_start().starts_with("-----BEGIN") {
        return gatehouse_pki::parse_pkcs12(text.as_bytes(), None, limits)
            .map(|_| Vec::new())
            .map_err(|e| pki_error("properties.data", &e));
    }
    decode_base64(text, "properties.data")
}

mod der_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|d| STANDARD.encode(d)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

mod der_one {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(der: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(der))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD
            .decode(String::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}
