//! `gatehouse token ...`: named management tokens with a role (needs an admin token). A new
//! token's value is printed once, by `create`; the server keeps only its hash.

use serde_json::{Value, json};

use super::error::Failure;
use super::http::seg;
use super::render::{self, Table};
use super::{Ctx, IfMatch, Output};

/// The order `token show` lists properties in.
const ORDER: &[&str] = &["role", "created", "createdBy", "expiresAt", "bootstrap"];

/// What a token may do.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Role {
    /// Reads everything; secrets stay masked.
    Reader,
    /// Also changes certificates, back ends, APIs, operations and policies.
    Operator,
    /// Also manages tokens and hostname configurations.
    Admin,
}

/// `gatehouse token ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token; its value is printed this once.
    Create {
        /// The token's name: its id, and its name in the audit trail.
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: Role,
        /// When it stops working (RFC 3339, e.g. 2027-06-30T00:00:00Z); never by default.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Show a token (never its value).
    Show {
        /// Token name.
        name: String,
    },
    /// Revoke a token: refused from the next request on, its portal sessions end.
    Delete {
        /// Token name.
        name: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
}

/// Runs `gatehouse token ...`.
pub(super) async fn run(command: TokenCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |name: &str| format!("/tokens/{}", seg(name));
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
        } => {
            let role = match role {
                Role::Reader => "reader",
                Role::Operator => "operator",
                Role::Admin => "admin",
            };
            let mut properties = json!({"name": name, "role": role});
            if let Some(expires) = expires {
                properties["expiresAt"] = json!(expires);
            }
            let value = ctx
                .http
                .post("/tokens", Some(json!({ "properties": properties })))
                .await?;
            Ok(ctx.emit(&value, |v| {
                format!(
                    "token '{}' ({}) made; its value, shown this once:\n{}\n",
                    render::text(&v["name"]),
                    render::text(&v["properties"]["role"]),
                    render::text(&v["properties"]["value"])
                )
            }))
        }
        TokenCommand::List => {
            let value = ctx.http.get("/tokens").await?;
            if ctx.output == Output::Json {
                return Ok(render::json(&value));
            }
            Ok(table(&value))
        }
        TokenCommand::Show { name } => ctx.show(&path(&name), ORDER).await,
        TokenCommand::Delete { name, if_match } => {
            let what = format!("token '{name}'");
            ctx.delete(&path(&name), &if_match.if_match, &what).await
        }
    }
}

fn table(list: &Value) -> String {
    let mut table = Table::new(&["NAME", "ROLE", "MADE", "BY", "EXPIRES"]);
    for t in render::items(list) {
        let p = &t["properties"];
        let or = |v: &Value, default: &str| {
            if v.is_null() {
                default.to_string()
            } else {
                render::text(v)
            }
        };
        table.row(vec![
            render::text(&t["name"]),
            render::text(&p["role"]),
            or(&p["created"], "at start"),
            render::text(&p["createdBy"]),
            or(&p["expiresAt"], "never"),
        ]);
    }
    table.render("no tokens")
}
