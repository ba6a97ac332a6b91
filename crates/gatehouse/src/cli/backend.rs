//! `gatehouse backend ...`: back ends, with their TLS trust settings and credentials.

use serde_json::{Map, Value, json};

use super::error::Failure;
use super::http::seg;
use super::render::{self, Table};
use super::{Ctx, IfMatch};

/// The order `backend show` lists settings in.
const ORDER: &[&str] = &[
    "url",
    "title",
    "description",
    "protocol",
    "tls",
    "credentials",
];

/// `gatehouse backend ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BackendCommand {
    /// Create a back end, or replace the one of that id.
    Create(Box<CreateArgs>),
    /// Show a back end (secrets read back as ******).
    Show {
        /// Back-end id.
        id: String,
    },
    /// List back ends.
    List,
    /// Delete a back end (refused while a policy names it).
    Delete {
        /// Back-end id.
        id: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// List the policies and APIs that use a back end.
    Usages {
        /// Back-end id.
        id: String,
    },
}

/// Flags of `gatehouse backend create`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Back-end id (1 to 80 of A-Z a-z 0-9 . _ -, starting with a letter or digit).
    id: String,
    /// Base URL of the service; APIs whose service URL starts with it use this back end.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Check that the back end's certificate chains to a trusted root [default: true].
    #[arg(long, value_name = "true|false")]
    validate_chain: Option<bool>,
    /// Check that the back end's certificate names its host [default: true].
    #[arg(long, value_name = "true|false")]
    validate_name: Option<bool>,
    /// Trust this uploaded CA certificate instead of the system roots (repeatable).
    #[arg(long = "ca", value_name = "ID")]
    cas: Vec<String>,
    /// Accept a back-end certificate with this SHA-1 thumbprint (repeatable).
    #[arg(long = "pin", value_name = "THUMBPRINT")]
    pins: Vec<String>,
    /// Present this client certificate in the TLS handshake (repeatable).
    #[arg(long = "certificate", value_name = "CID")]
    certificates: Vec<String>,
    /// Add this header to every request to the back end (repeatable; values are stored
    /// encrypted and read back as ******). A VALUE of @FILE is read from FILE, which keeps the
    /// secret out of the command line and `ps`.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send `Authorization: SCHEME PARAM` to the back end (PARAM is stored encrypted; a PARAM
    /// of @FILE is read from FILE).
    #[arg(long, value_name = "SCHEME PARAM", value_parser = parse_authorization)]
    authorization: Option<(String, String)>,
    /// Short name for people.
    #[arg(long)]
    title: Option<String>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
    /// Idle connections kept open to the back end; 0 opens one per request [default: 256].
    #[arg(long, value_name = "N")]
    max_idle_connections: Option<u32>,
    /// Seconds an idle connection is kept [default: 90].
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u32>,
}

/// Runs `gatehouse backend ...`.
pub(super) async fn run(command: BackendCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |id: &str| format!("/backends/{}", seg(id));
    match command {
        BackendCommand::Create(args) => {
            let value = ctx.http.put(&path(&args.id), properties(&args)?).await?;
            Ok(ctx.emit(&value, |v| render::show(v, ORDER)))
        }
        BackendCommand::Show { id } => ctx.show(&path(&id), ORDER).await,
        BackendCommand::List => {
            let value = ctx.http.get("/backends").await?;
            Ok(ctx.emit(&value, table))
        }
        BackendCommand::Delete { id, if_match } => {
            let what = format!("back end '{id}'");
            ctx.delete(&path(&id), &if_match.if_match, &what).await
        }
        BackendCommand::Usages { id } => ctx.usages(&path(&id), &format!("back end '{id}'")).await,
    }
}

/// The back end's `properties`: what the flags say, the server's defaults for the rest.
fn properties(args: &CreateArgs) -> Result<Value, Failure> {
    let mut props = Map::new();
    props.insert("url".into(), json!(args.url));
    if let Some(title) = &args.title {
        props.insert("title".into(), json!(title));
    }
    if let Some(description) = &args.description {
        props.insert("description".into(), json!(description));
    }
    let mut tls = Map::new();
    if let Some(v) = args.validate_chain {
        tls.insert("validateCertificateChain".into(), json!(v));
    }
    if let Some(v) = args.validate_name {
        tls.insert("validateCertificateName".into(), json!(v));
    }
    if !args.cas.is_empty() {
        tls.insert("caCertificateIds".into(), json!(args.cas));
    }
    if !args.pins.is_empty() {
        tls.insert("serverCertificateThumbprints".into(), json!(args.pins));
    }
    if !tls.is_empty() {
        props.insert("tls".into(), Value::Object(tls));
    }
    let mut credentials = Map::new();
    if !args.certificates.is_empty() {
        credentials.insert("certificateIds".into(), json!(args.certificates));
    }
    if !args.headers.is_empty() {
        let mut header: Map<String, Value> = Map::new();
        for (name, value) in &args.headers {
            let value = secret(value)?;
            match header.get_mut(name).and_then(Value::as_array_mut) {
                Some(values) => values.push(json!(value.as_str())),
                None => {
                    header.insert(name.clone(), json!([value.as_str()]));
                }
            }
        }
        credentials.insert("header".into(), Value::Object(header));
    }
    if let Some((scheme, parameter)) = &args.authorization {
        credentials.insert(
            "authorization".into(),
            json!({"scheme": scheme, "parameter": secret(parameter)?.as_str()}),
        );
    }
    if !credentials.is_empty() {
        props.insert("credentials".into(), Value::Object(credentials));
    }
    let mut pool = Map::new();
    if let Some(n) = args.max_idle_connections {
        pool.insert("maxIdleConnections".into(), json!(n));
    }
    if let Some(s) = args.idle_timeout {
        pool.insert("idleTimeoutSeconds".into(), json!(s));
    }
    if !pool.is_empty() {
        props.insert("pool".into(), Value::Object(pool));
    }
    Ok(Value::Object(props))
}

/// A secret given on the command line: `@FILE` reads it from FILE (one trailing line ending
/// dropped), anything else is the value itself.
fn secret(value: &str) -> Result<zeroize::Zeroizing<String>, Failure> {
    match value.strip_prefix('@') {
        Some(file) => {
            let mut text = super::input::read_text(std::path::Path::new(file), "the secret file")?;
            let end = text.trim_end_matches('\n').trim_end_matches('\r').len();
            text.truncate(end);
            Ok(text)
        }
        None => Ok(zeroize::Zeroizing::new(value.to_string())),
    }
}

/// `NAME=VALUE`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err("expected NAME=VALUE, e.g. X-Api-Key=abc".to_string()),
    }
}

/// `SCHEME PARAM`.
fn parse_authorization(s: &str) -> Result<(String, String), String> {
    match s.trim().split_once(char::is_whitespace) {
        Some((scheme, parameter)) if !parameter.trim().is_empty() => {
            Ok((scheme.to_string(), parameter.trim().to_string()))
        }
        _ => Err("expected \"SCHEME PARAM\", e.g. \"Bearer abc\"".to_string()),
    }
}

/// Back ends as a table: where they are and how they are trusted.
fn table(list: &Value) -> String {
    let mut table = Table::new(&[
        "ID",
        "URL",
        "VALIDATE CHAIN",
        "VALIDATE NAME",
        "TRUSTED CAS",
        "PINS",
        "CERTIFICATES",
    ]);
    for b in render::items(list) {
        let p = &b["properties"];
        // Absent means the default, which is to validate.
        let check = |v: &Value| render::yes_no(&Value::Bool(v.as_bool().unwrap_or(true)));
        table.row(vec![
            render::text(&b["name"]),
            render::text(&p["url"]),
            check(&p["tls"]["validateCertificateChain"]),
            check(&p["tls"]["validateCertificateName"]),
            render::text(&p["tls"]["caCertificateIds"]),
            render::text(&p["tls"]["serverCertificateThumbprints"]),
            render::text(&p["credentials"]["certificateIds"]),
        ]);
    }
    table.render("no back ends")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        assert_eq!(
            parse_header("X-Key=a=b").unwrap(),
            ("X-Key".to_string(), "a=b".to_string())
        );
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=v").is_err());
        assert_eq!(
            parse_authorization("Bearer  tok en").unwrap(),
            ("Bearer".to_string(), "tok en".to_string())
        );
        assert!(parse_authorization("Bearer").is_err());
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret value\n").unwrap();
        assert_eq!(
            secret(&format!("@{}", file.display())).unwrap().as_str(),
            "s3cret value"
        );
        assert_eq!(secret("plain").unwrap().as_str(), "plain");
        assert!(secret("@/nonexistent/secret").is_err());
    }
}
