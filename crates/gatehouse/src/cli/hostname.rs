//! `gatehouse hostname ...`: the host names the gateway's TLS listener answers for (by SNI),
//! each with the uploaded certificate it presents there.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::error::Failure;
use super::http::seg;
use super::render::{self, Table};
use super::{Ctx, IfMatch, Output};

/// The order `hostname show` lists properties in.
const ORDER: &[&str] = &[
    "hostName",
    "certificateId",
    "negotiateClientCertificate",
    "http2Enabled",
    "defaultSslBinding",
    "type",
];

/// `gatehouse hostname ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum HostnameCommand {
    /// Create a hostname configuration, or replace the one of that id. Served from the next
    /// TLS handshake.
    Create(CreateArgs),
    /// List hostname configurations, with their certificates' expiry.
    List,
    /// Show a hostname configuration.
    Show {
        /// Hostname configuration id.
        id: String,
    },
    /// Delete a hostname configuration: handshakes for that name stop at once, open
    /// connections finish.
    Delete {
        /// Hostname configuration id.
        id: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
}

/// Flags of `gatehouse hostname create`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Hostname configuration id (1 to 80 of A-Z a-z 0-9 . _ -, starting with a letter or
    /// digit).
    id: String,
    /// The host name clients send as SNI: exact (api.example.com) or a wildcard of one
    /// leftmost label (*.example.com). The certificate must name it.
    #[arg(long, value_name = "H")]
    hostname: String,
    /// The uploaded certificate (with its private key) presented for this name; see
    /// `gatehouse cert upload`.
    #[arg(long, value_name = "CID")]
    certificate: String,
    /// Ask callers for a client certificate in the handshake (optional at the TLS level;
    /// `validate-client-certificate` decides per API).
    #[arg(long)]
    negotiate_client_certificate: bool,
    /// Offer HTTP/1.1 only (HTTP/2 is offered by ALPN unless this is given).
    #[arg(long)]
    no_http2: bool,
    /// Make this the default binding: it answers clients that send no server name, or one no
    /// configuration matches. At most one configuration may be.
    #[arg(long)]
    default: bool,
}

/// Runs `gatehouse hostname ...`.
pub(super) async fn run(command: HostnameCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |id: &str| format!("/hostnameConfigurations/{}", seg(id));
    match command {
        HostnameCommand::Create(args) => {
            let value = ctx.http.put(&path(&args.id), properties(&args)).await?;
            Ok(ctx.emit(&value, |v| render::show(v, ORDER)))
        }
        HostnameCommand::List => {
            let value = ctx.http.get("/hostnameConfigurations").await?;
            if ctx.output == Output::Json {
                return Ok(render::json(&value));
            }
            // Only people get the expiry column, so only they pay for the second request.
            let certificates = ctx.http.get("/certificates").await?;
            Ok(table(&value, &certificates, OffsetDateTime::now_utc()))
        }
        HostnameCommand::Show { id } => ctx.show(&path(&id), ORDER).await,
        HostnameCommand::Delete { id, if_match } => {
            let what = format!("hostname configuration '{id}'");
            ctx.delete(&path(&id), &if_match.if_match, &what).await
        }
    }
}

/// The configuration's `properties`: every field, so a replacement never keeps an old value.
fn properties(args: &CreateArgs) -> Value {
    let mut props = Map::new();
    props.insert("hostName".into(), json!(args.hostname));
    props.insert("certificateId".into(), json!(args.certificate));
    props.insert(
        "negotiateClientCertificate".into(),
        json!(args.negotiate_client_certificate),
    );
    props.insert("http2Enabled".into(), json!(!args.no_http2));
    props.insert("defaultSslBinding".into(), json!(args.default));
    Value::Object(props)
}

/// Hostname configurations as a table, each certificate's expiry looked up in `certificates`
/// (a `/certificates` list).
fn table(list: &Value, certificates: &Value, now: OffsetDateTime) -> String {
    let mut table = Table::new(&[
        "ID",
        "HOST NAME",
        "CERTIFICATE",
        "CERT EXPIRES",
        "CLIENT CERTS",
        "HTTP/2",
        "DEFAULT",
    ]);
    for h in render::items(list) {
        let p = &h["properties"];
        let expires = render::items(certificates)
            .iter()
            .find(|c| c["name"] == p["certificateId"])
            .map_or_else(
                || "-".to_string(),
                |c| render::expires(&c["properties"]["expirationDate"], now),
            );
        table.row(vec![
            render::text(&h["name"]),
            render::text(&p["hostName"]),
            render::text(&p["certificateId"]),
            expires,
            render::yes_no(&p["negotiateClientCertificate"]),
            render::yes_no(&p["http2Enabled"]),
            render::yes_no(&p["defaultSslBinding"]),
        ]);
    }
    table.render("no hostname configurations")
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_table_shows_each_certificates_expiry() {
        let list = json!({"value": [
            {"name": "api", "properties": {"hostName": "api.example.com", "certificateId": "c1",
             "negotiateClientCertificate": true, "http2Enabled": false, "defaultSslBinding": false}},
            {"name": "gone", "properties": {"hostName": "*.example.com", "certificateId": "c2",
             "negotiateClientCertificate": false, "http2Enabled": true, "defaultSslBinding": true}}
        ], "count": 2});
        let certs = json!({"value": [
            {"name": "c1", "properties": {"expirationDate": "2026-01-11T00:00:00Z"}}
        ]});
        let out = table(&list, &certs, datetime!(2026-01-01 00:00 UTC));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "ID    HOST NAME        CERTIFICATE  CERT EXPIRES             CLIENT CERTS  HTTP/2  DEFAULT",
                "api   api.example.com  c1           2026-01-11 (in 10 days)  yes           no      no",
                "gone  *.example.com    c2           -                        no            yes     yes",
            ]
        );
        assert_eq!(
            table(
                &json!({"value": []}),
                &certs,
                datetime!(2026-01-01 00:00 UTC)
            ),
            "no hostname configurations\n"
        );
    }
}
