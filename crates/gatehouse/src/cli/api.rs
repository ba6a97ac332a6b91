//! `gatehouse api ...`: APIs, their operations, and the credentials an API presents to its
//! back end (`api credentials`, an edit of the API policy made by the server).

use serde_json::{Map, Value, json};

use super::error::Failure;
use super::http::seg;
use super::render::{self, Table};
use super::{Ctx, IfMatch, input};

/// The order `api show` lists properties in.
const API_ORDER: &[&str] = &[
    "displayName",
    "path",
    "serviceUrl",
    "protocols",
    "description",
];
/// The order `api operation show` lists properties in.
const OPERATION_ORDER: &[&str] = &["displayName", "method", "urlTemplate", "description"];
/// The order credentials are listed in.
const CREDENTIALS_ORDER: &[&str] = &["type", "certificateId", "subject", "thumbprint", "username"];

/// `gatehouse api ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ApiCommand {
    /// Create an API, or replace the one of that id.
    Create(CreateArgs),
    /// Show an API.
    Show {
        /// API id.
        id: String,
    },
    /// List APIs.
    List,
    /// Delete an API with its operations and policies.
    Delete {
        /// API id.
        id: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// An API's operations.
    Operation {
        /// What to do.
        #[command(subcommand)]
        command: OperationCommand,
    },
    /// Show the credentials an API presents to its back end, or set them with one flag.
    Credentials(CredentialsArgs),
}

/// Flags of `gatehouse api create`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// API id (1 to 80 of A-Z a-z 0-9 . _ -, starting with a letter or digit).
    id: String,
    /// URL suffix the gateway serves the API under (`echo` serves /echo/...).
    #[arg(long, value_name = "P")]
    path: String,
    /// Where the gateway forwards the API's calls.
    #[arg(long, value_name = "URL")]
    service_url: String,
    /// Name for people.
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

/// `gatehouse api operation ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum OperationCommand {
    /// Add an operation to an API, or replace the one of that id.
    Add {
        /// API id.
        api: String,
        /// Operation id.
        op: String,
        /// HTTP method, or `*` for any.
        #[arg(long, value_name = "M")]
        method: String,
        /// URL template under the API's path, e.g. `/users/{id}` or `/*`.
        #[arg(long, value_name = "T")]
        template: String,
        /// Name for people.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// List an API's operations.
    List {
        /// API id.
        api: String,
    },
    /// Show an operation.
    Show {
        /// API id.
        api: String,
        /// Operation id.
        op: String,
    },
    /// Delete an operation with its policy.
    Delete {
        /// API id.
        api: String,
        /// Operation id.
        op: String,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
}

/// Flags of `gatehouse api credentials`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("kind").args(["certificate", "basic", "none"]))]
pub(crate) struct CredentialsArgs {
    /// API id.
    id: String,
    /// Present this client certificate to the back end in mutual TLS.
    #[arg(long, value_name = "CID")]
    certificate: Option<String>,
    /// Send HTTP Basic credentials with this user name to the back end; the password comes
    /// from stdin (--password-stdin), never from the command line.
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    basic: Option<String>,
    /// Read the Basic password from the first line of stdin (an empty line is an empty
    /// password).
    #[arg(long, requires = "basic")]
    password_stdin: bool,
    /// Present nothing: removes the credentials element from the API policy.
    #[arg(long)]
    none: bool,
}

/// Runs `gatehouse api ...`.
pub(super) async fn run(command: ApiCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |id: &str| format!("/apis/{}", seg(id));
    match command {
        ApiCommand::Create(args) => {
            let mut props = Map::new();
            props.insert("path".into(), json!(args.path));
            props.insert("serviceUrl".into(), json!(args.service_url));
            if let Some(name) = args.display_name {
                props.insert("displayName".into(), json!(name));
            }
            if let Some(description) = args.description {
                props.insert("description".into(), json!(description));
            }
            let value = ctx.http.put(&path(&args.id), Value::Object(props)).await?;
            Ok(ctx.emit(&value, |v| render::show(v, API_ORDER)))
        }
        ApiCommand::Show { id } => ctx.show(&path(&id), API_ORDER).await,
        ApiCommand::List => {
            let value = ctx.http.get("/apis").await?;
            Ok(ctx.emit(&value, api_table))
        }
        ApiCommand::Delete { id, if_match } => {
            ctx.delete(&path(&id), &if_match.if_match, &format!("API '{id}'"))
                .await
        }
        ApiCommand::Operation { command } => operation(command, ctx).await,
        ApiCommand::Credentials(args) => credentials(args, ctx).await,
    }
}

/// Runs `gatehouse api operation ...`.
async fn operation(command: OperationCommand, ctx: &Ctx) -> Result<String, Failure> {
    let path = |api: &str, op: &str| format!("/apis/{}/operations/{}", seg(api), seg(op));
    match command {
        OperationCommand::Add {
            api,
            op,
            method,
            template,
            display_name,
            description,
        } => {
            let mut props = Map::new();
            props.insert("method".into(), json!(method));
            props.insert("urlTemplate".into(), json!(template));
            if let Some(name) = display_name {
                props.insert("displayName".into(), json!(name));
            }
            if let Some(description) = description {
                props.insert("description".into(), json!(description));
            }
            let value = ctx.http.put(&path(&api, &op), Value::Object(props)).await?;
            Ok(ctx.emit(&value, |v| render::show(v, OPERATION_ORDER)))
        }
        OperationCommand::List { api } => {
            let value = ctx
                .http
                .get(&format!("/apis/{}/operations", seg(&api)))
                .await?;
            Ok(ctx.emit(&value, |v| operation_table(v, &api)))
        }
        OperationCommand::Show { api, op } => ctx.show(&path(&api, &op), OPERATION_ORDER).await,
        OperationCommand::Delete { api, op, if_match } => {
            let what = format!("operation '{op}' of API '{api}'");
            ctx.delete(&path(&api, &op), &if_match.if_match, &what)
                .await
        }
    }
}

/// With no flag, reads the credentials; with one, sets them (`PUT .../gatewayCredentials`).
async fn credentials(args: CredentialsArgs, ctx: &Ctx) -> Result<String, Failure> {
    let path = format!("/apis/{}/gatewayCredentials", seg(&args.id));
    let props = if let Some(certificate) = args.certificate {
        json!({"type": "clientCertificate", "certificateId": certificate})
    } else if let Some(username) = args.basic {
        let password = if args.password_stdin {
            input::password_from_stdin()?
        } else {
            Default::default()
        };
        json!({"type": "basic", "username": username, "password": password.as_str()})
    } else if args.none {
        json!({"type": "none"})
    } else {
        let value = ctx.http.get(&path).await?;
        return Ok(ctx.emit(&value, |v| render::show_properties(v, CREDENTIALS_ORDER)));
    };
    let value = ctx.http.put(&path, props).await?;
    Ok(ctx.emit(&value, |v| render::show_properties(v, CREDENTIALS_ORDER)))
}

/// APIs as a table: where the gateway serves them and where they forward.
fn api_table(list: &Value) -> String {
    let mut table = Table::new(&["ID", "PATH", "SERVICE URL", "DISPLAY NAME"]);
    for a in render::items(list) {
        let p = &a["properties"];
        table.row(vec![
            render::text(&a["name"]),
            render::text(&p["path"]),
            render::text(&p["serviceUrl"]),
            render::text(&p["displayName"]),
        ]);
    }
    table.render("no APIs")
}

/// An API's operations as a table.
fn operation_table(list: &Value, api: &str) -> String {
    let mut table = Table::new(&["ID", "METHOD", "TEMPLATE", "DISPLAY NAME"]);
    for o in render::items(list) {
        let p = &o["properties"];
        table.row(vec![
            render::text(&o["name"]),
            render::text(&p["method"]),
            render::text(&p["urlTemplate"]),
            render::text(&p["displayName"]),
        ]);
    }
    table.render(&format!("API '{api}' has no operations"))
}
