//! `gatehouse cert ...` (client certificates, with their keys) and `gatehouse ca ...` (CA
//! certificates back ends are trusted by).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::error::Failure;
use super::http::seg;
use super::render::{self, Table};
use super::{Ctx, IfMatch, input};

/// The order `cert show` and `ca show` list facts in: what identifies a certificate first.
const CERT_ORDER: &[&str] = &[
    "subject",
    "issuer",
    "thumbprint",
    "expirationDate",
    "notBefore",
    "serialNumber",
    "keyAlgorithm",
    "subjectAlternativeNames",
    "selfSigned",
    "isCa",
    "format",
    "encryption",
    "legacyEncryption",
    "chainLength",
    "version",
    "source",
    "uploaded",
    "versionsKept",
    "keyVault",
    "file",
];

/// `gatehouse cert ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CertCommand {
    /// Upload a client certificate with its private key, from a .pfx (PKCS#12) or a PEM file;
    /// replaces the certificate of that id. The password is checked now.
    Upload(UploadArgs),
    /// List client certificates.
    List,
    /// Show a client certificate.
    Show {
        /// Certificate id.
        id: String,
    },
    /// List what uses a client certificate: API and operation policies, back ends.
    Usages {
        /// Certificate id.
        id: String,
    },
    /// Delete a client certificate (refused while anything uses it; see `cert usages`).
    Delete {
        /// Certificate id.
        id: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Reference a certificate in a secret store instead of uploading it: an Azure Key Vault
    /// secret or a mounted file. It is fetched and checked now, and refreshed from then on.
    Reference(ReferenceArgs),
    /// Fetch a referenced certificate from its secret store now.
    Refresh {
        /// Certificate id.
        id: String,
    },
    /// List a certificate's versions: the current one and the earlier ones kept.
    Versions {
        /// Certificate id.
        id: String,
    },
    /// Make an earlier version current again (as a new version: the next call presents it).
    Rollback {
        /// Certificate id.
        id: String,
        /// The version to restore (see `cert versions`).
        version: u64,
    },
}

/// Flags of `gatehouse cert reference`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("store").required(true).args(["key_vault", "file"]))]
pub(crate) struct ReferenceArgs {
    /// Certificate id.
    id: String,
    /// A Key Vault secret: https://VAULT.vault.azure.net/secrets/NAME (latest version) or
    /// .../NAME/VERSION.
    #[arg(long, value_name = "URL")]
    key_vault: Option<String>,
    /// The client id of a user-assigned managed identity to read the vault with.
    #[arg(long, requires = "key_vault")]
    identity_client_id: Option<String>,
    /// A mounted file: a .pfx/.p12, or PEM with the certificate (and its key unless
    /// --key-file). Absolute path, as the server sees it.
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
    /// The PEM key in its own file (tls.key beside tls.crt).
    #[arg(long, value_name = "PATH", requires = "file")]
    key_file: Option<String>,
    /// A file whose first line is the password of the .pfx or the key.
    #[arg(long, value_name = "PATH", requires = "file")]
    password_file: Option<String>,
    /// Accept a certificate that has expired or is not yet valid.
    #[arg(long)]
    allow_expired: bool,
}

/// Flags of `gatehouse cert upload`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["file", "pem"]))]
pub(crate) struct UploadArgs {
    /// Certificate id (1 to 80 of A-Z a-z 0-9 . _ -, starting with a letter or digit).
    id: String,
    /// A .pfx / .p12 file (PKCS#12) holding the certificate, its chain and its key.
    #[arg(long, value_name = "FILE.pfx")]
    file: Option<PathBuf>,
    /// A PEM file holding the certificate (and chain) and its private key.
    #[arg(long, value_name = "FILE.pem")]
    pem: Option<PathBuf>,
    /// Read the password of the .pfx (or of an encrypted PEM key) from the first line of
    /// stdin. Without it the file must have no password.
    #[arg(long)]
    password_stdin: bool,
    /// Accept a certificate that has expired or is not yet valid.
    #[arg(long)]
    allow_expired: bool,
}

/// `gatehouse ca ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CaCommand {
    /// Upload a CA certificate (DER or PEM, no key); replaces the one of that id.
    Upload {
        /// CA certificate id (1 to 80 of A-Z a-z 0-9 . _ -, starting with a letter or digit).
        id: String,
        /// The certificate file, DER or PEM.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Accept a certificate that has expired or is not yet valid.
        #[arg(long)]
        allow_expired: bool,
    },
    /// List CA certificates.
    List,
    /// Show a CA certificate.
    Show {
        /// CA certificate id.
        id: String,
    },
    /// List the back ends that trust a CA certificate.
    Usages {
        /// CA certificate id.
        id: String,
    },
    /// Delete a CA certificate (refused while a back end trusts it).
    Delete {
        /// CA certificate id.
        id: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
}

/// Runs `gatehouse cert ...`.
pub(super) async fn run_cert(command: CertCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |id: &str| format!("/certificates/{}", seg(id));
    match command {
        CertCommand::Upload(args) => {
            let props = upload_properties(&args)?;
            let value = ctx
                .http
                .put(&path(&args.id), Value::Object(props))
                .await
                .map_err(|f| password_hint(f, args.password_stdin))?;
            Ok(ctx.emit(&value, |v| render::show(v, CERT_ORDER)))
        }
        CertCommand::List => {
            let value = ctx.http.get("/certificates").await?;
            Ok(ctx.emit(&value, |v| table(v, "LEGACY", "legacyEncryption")))
        }
        CertCommand::Show { id } => ctx.show(&path(&id), CERT_ORDER).await,
        CertCommand::Usages { id } => ctx.usages(&path(&id), &format!("certificate '{id}'")).await,
        CertCommand::Delete { id, if_match } => {
            let what = format!("certificate '{id}'");
            ctx.delete(&path(&id), &if_match.if_match, &what).await
        }
        CertCommand::Reference(args) => {
            let mut props = Map::new();
            if let Some(url) = &args.key_vault {
                let mut kv = Map::new();
                kv.insert("secretIdentifier".into(), Value::String(url.clone()));
                if let Some(client) = &args.identity_client_id {
                    kv.insert("identityClientId".into(), Value::String(client.clone()));
                }
                props.insert("keyVault".into(), Value::Object(kv));
            }
            if let Some(file) = &args.file {
                let mut f = Map::new();
                f.insert("path".into(), Value::String(file.clone()));
                if let Some(key) = &args.key_file {
                    f.insert("keyPath".into(), Value::String(key.clone()));
                }
                if let Some(password) = &args.password_file {
                    f.insert("passwordFile".into(), Value::String(password.clone()));
                }
                props.insert("file".into(), Value::Object(f));
            }
            if args.allow_expired {
                props.insert("allowExpired".into(), Value::Bool(true));
            }
            let value = ctx.http.put(&path(&args.id), Value::Object(props)).await?;
            Ok(ctx.emit(&value, |v| render::show(v, CERT_ORDER)))
        }
        CertCommand::Refresh { id } => {
            let value = ctx
                .http
                .post(&format!("{}/refreshSecret", path(&id)), None)
                .await?;
            Ok(ctx.emit(&value, |v| render::show(v, CERT_ORDER)))
        }
        CertCommand::Versions { id } => {
            let value = ctx.http.get(&format!("{}/versions", path(&id))).await?;
            Ok(ctx.emit(&value, versions_table))
        }
        CertCommand::Rollback { id, version } => {
            let value = ctx
                .http
                .post(
                    &format!("{}/rollback", path(&id)),
                    Some(serde_json::json!({ "version": version })),
                )
                .await?;
            Ok(ctx.emit(&value, |v| render::show(v, CERT_ORDER)))
        }
    }
}

/// A certificate's versions: VERSION, THUMBPRINT, SUBJECT, EXPIRES, SOURCE, ACTIVE SINCE.
fn versions_table(list: &Value) -> String {
    let now = OffsetDateTime::now_utc();
    let mut table = Table::new(&[
        "VERSION",
        "THUMBPRINT",
        "SUBJECT",
        "EXPIRES",
        "SOURCE",
        "ACTIVE SINCE",
    ]);
    for v in render::items(list) {
        let current = if v["current"].as_bool() == Some(true) {
            " (current)"
        } else {
            ""
        };
        table.row(vec![
            format!("{}{current}", v["version"]),
            render::thumbprint(&v["thumbprint"]),
            render::text(&v["subject"]),
            render::expires(&v["expirationDate"], now),
            render::text(&v["source"]),
            render::text(&v["activated"]),
        ]);
    }
    table.render("no versions")
}

/// Runs `gatehouse ca ...`.
pub(super) async fn run_ca(command: CaCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |id: &str| format!("/caCertificates/{}", seg(id));
    match command {
        CaCommand::Upload {
            id,
            file,
            allow_expired,
        } => {
            let bytes = input::read_bytes(&file, "the certificate file")?;
            let mut props = Map::new();
            props.insert("data".into(), Value::String(ca_data(&bytes)));
            if allow_expired {
                props.insert("allowExpired".into(), Value::Bool(true));
            }
            let value = ctx.http.put(&path(&id), Value::Object(props)).await?;
            Ok(ctx.emit(&value, |v| render::show(v, CERT_ORDER)))
        }
        CaCommand::List => {
            let value = ctx.http.get("/caCertificates").await?;
            Ok(ctx.emit(&value, |v| table(v, "CA", "isCa")))
        }
        CaCommand::Show { id } => ctx.show(&path(&id), CERT_ORDER).await,
        CaCommand::Usages { id } => {
            ctx.usages(&path(&id), &format!("CA certificate '{id}'"))
                .await
        }
        CaCommand::Delete { id, if_match } => {
            let what = format!("CA certificate '{id}'");
            ctx.delete(&path(&id), &if_match.if_match, &what).await
        }
    }
}

/// `properties` of a certificate upload: `data` (base64 of the .pfx) and `password`, or `pem`.
fn upload_properties(args: &UploadArgs) -> Result<Map<String, Value>, Failure> {
    let mut props = Map::new();
    match (&args.file, &args.pem) {
        (Some(file), None) => {
            let bytes = input::read_bytes(file, "the .pfx file")?;
            let data = Zeroizing::new(STANDARD.encode(&*bytes));
            props.insert("data".into(), Value::String(data.as_str().to_string()));
        }
        (None, Some(pem)) => {
            let text = input::read_text(pem, "the PEM file")?;
            props.insert("pem".into(), Value::String(text.as_str().to_string()));
        }
        // clap's group makes exactly one of them present.
        _ => return Err(Failure::Usage("give either --file or --pem".to_string())),
    }
    if args.password_stdin {
        let password = input::password_from_stdin()?;
        props.insert(
            "password".into(),
            Value::String(password.as_str().to_string()),
        );
    }
    if args.allow_expired {
        props.insert("allowExpired".into(), Value::Bool(true));
    }
    Ok(props)
}

/// The server asks for `properties.password`; the operator needs to hear about the flag.
fn password_hint(failure: Failure, sent: bool) -> Failure {
    match failure {
        Failure::Refused(mut e) if !sent && e.code == "PasswordRequired" => {
            e.hint = Some("the file has a password: pipe it in with --password-stdin".to_string());
            Failure::Refused(e)
        }
        other => other,
    }
}

/// `data` of a CA upload: PEM text as it is, DER as base64.
fn ca_data(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => text.to_string(),
        _ => STANDARD.encode(bytes),
    }
}

/// A certificate list: ID, SUBJECT, THUMBPRINT, EXPIRES and one flag column.
fn table(list: &Value, flag: &'static str, flag_key: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let mut table = Table::new(&["ID", "SUBJECT", "THUMBPRINT", "EXPIRES", flag]);
    for c in render::items(list) {
        let p = &c["properties"];
        table.row(vec![
            render::text(&c["name"]),
            render::text(&p["subject"]),
            render::thumbprint(&p["thumbprint"]),
            render::expires(&p["expirationDate"], now),
            render::yes_no(&p[flag_key]),
        ]);
    }
    table.render("no certificates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_data_keeps_pem_and_encodes_der() {
        let pem = "\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(ca_data(pem.as_bytes()), pem);
        assert_eq!(ca_data(&[0x30, 0x82, 0x01]), "MIIB");
    }
}
