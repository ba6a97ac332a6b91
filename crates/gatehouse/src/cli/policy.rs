//! `gatehouse policy get|set|delete`: the policy XML of the global, API or operation scope.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::error::Failure;
use super::http::seg;
use super::{Ctx, IfMatch, Output, input};

/// `gatehouse policy ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print a policy's XML (passwords read back as ******).
    Get(Scope),
    /// Set a policy from --file or stdin; the XML is validated before anything changes.
    Set {
        /// Which policy.
        #[command(flatten)]
        scope: Scope,
        /// The XML file; without it (or with `-`) the XML is read from stdin.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Remove a policy.
    Delete {
        /// Which policy.
        #[command(flatten)]
        scope: Scope,
        /// Which version.
        #[command(flatten)]
        if_match: IfMatch,
    },
}

/// Which policy: global without flags, an API's with `--api`, an operation's with both.
#[derive(Debug, clap::Args)]
pub(crate) struct Scope {
    /// The policy of this API.
    #[arg(long, value_name = "ID")]
    api: Option<String>,
    /// The policy of this operation of the --api.
    #[arg(long, value_name = "ID", requires = "api")]
    operation: Option<String>,
}

impl Scope {
    /// The management path of this policy.
    fn path(&self) -> String {
        match (&self.api, &self.operation) {
            (Some(api), Some(op)) => {
                format!("/apis/{}/operations/{}/policies/policy", seg(api), seg(op))
            }
            (Some(api), None) => format!("/apis/{}/policies/policy", seg(api)),
            _ => "/policies/policy".to_string(),
        }
    }

    /// This policy in words.
    fn describe(&self) -> String {
        match (&self.api, &self.operation) {
            (Some(api), Some(op)) => format!("the policy of operation '{op}' of API '{api}'"),
            (Some(api), None) => format!("the policy of API '{api}'"),
            _ => "the global policy".to_string(),
        }
    }
}

/// Runs `gatehouse policy ...`.
pub(super) async fn run(command: PolicyCommand, ctx: &Ctx) -> Result<String, Failure> {
    match command {
        PolicyCommand::Get(scope) => {
            let value = ctx.http.get(&scope.path()).await?;
            match ctx.output {
                Output::Json => Ok(super::render::json(&value)),
                Output::Table => xml(&value),
            }
        }
        PolicyCommand::Set { scope, file } => {
            let text = input::document(file.as_deref(), "policy XML")?;
            let props = json!({"format": "rawxml", "value": text});
            let value = ctx.http.put(&scope.path(), props).await?;
            Ok(ctx.emit(&value, |_| format!("set {}\n", scope.describe())))
        }
        PolicyCommand::Delete { scope, if_match } => {
            ctx.delete(&scope.path(), &if_match.if_match, &scope.describe())
                .await
        }
    }
}

/// The policy's XML as stored, ending with a newline so the shell prompt starts on its own
/// line. (It is printed as is: it is the operator's own document.)
fn xml(policy: &Value) -> Result<String, Failure> {
    let Some(text) = policy["properties"]["value"].as_str() else {
        return Err(Failure::Unavailable(
            "the server's answer holds no policy XML (properties.value)".to_string(),
        ));
    };
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}
