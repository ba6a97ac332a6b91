//! The command line client of the management API
//! (`gatehouse cert|ca|backend|api|policy|hostname ...`).
//!
//! This module owns the command tree's top level, the options every client command shares
//! (where the server is, who we are, how to print), and the one place a command's outcome
//! becomes output and an exit code. Each resource family has its own submodule; they only
//! build requests and choose how to show answers.
//!
//! Exit codes follow `sysexits.h` so scripts can tell failures apart: 0 success, 64 a usage
//! error (bad flags, unreadable file, no token), 65 the server refused the request (4xx),
//! 69 the server could not be reached or failed (5xx).

mod api;
mod backend;
mod cert;
mod connect;
mod error;
mod hostname;
mod http;
mod input;
mod policy;
mod render;
mod token;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use self::error::Failure;
use self::http::{Http, Token};

/// Commands that talk to a running server's management API.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// Client certificates the gateway presents to back ends (.pfx or PEM, with their keys).
    Cert {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: cert::CertCommand,
    },
    /// CA certificates back ends may be trusted by (certificates only, no keys).
    Ca {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: cert::CaCommand,
    },
    /// Back ends: a service URL with its TLS trust settings and credentials.
    Backend {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: backend::BackendCommand,
    },
    /// APIs, their operations and their gateway credentials.
    Api {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: api::ApiCommand,
    },
    /// Policy XML at global, API or operation scope.
    Policy {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Host names the gateway's TLS listener answers for (SNI), each with its certificate.
    Hostname {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: hostname::HostnameCommand,
    },
    /// Named management tokens with a role: reader, operator or admin (needs an admin token).
    Token {
        /// Where the server is, who we are, how to print.
        #[command(flatten)]
        global: GlobalArgs,
        /// What to do.
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

/// Options every client command takes, before or after its subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Base URL of the management API.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ADMIN_URL",
        default_value = "http://127.0.0.1:8001",
        value_name = "URL"
    )]
    admin_url: String,

    /// File holding the admin token; it takes precedence over GATEHOUSE_ADMIN_TOKEN
    /// [default: GATEHOUSE_ADMIN_TOKEN, else ./gatehouse-data/admin-token when it exists].
    #[arg(long, global = true, env = "GATEHOUSE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// How to print answers: aligned tables for people, or the server's JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// How answers are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Tables and `key: value` lines.
    Table,
    /// The server's JSON, pretty-printed.
    Json,
}

/// The token's source when nothing says otherwise: where `gatehouse serve` writes it on first
/// start when run from the same directory.
const DEFAULT_TOKEN_FILE: &str = "./gatehouse-data/admin-token";

/// What a command needs while it runs: the connection and the output format.
pub(super) struct Ctx {
    /// The management API.
    http: Http,
    /// How to print.
    output: Output,
}

impl Ctx {
    /// `value` as the server's JSON, or as `people` renders it.
    fn emit(&self, value: &Value, people: impl FnOnce(&Value) -> String) -> String {
        match self.output {
            Output::Json => render::json(value),
            Output::Table => people(value),
        }
    }

    /// `GET path`, shown as `key: value` lines with `first` properties on top.
    async fn show(&self, path: &str, first: &[&str]) -> Result<String, Failure> {
        let value = self.http.get(path).await?;
        Ok(self.emit(&value, |v| render::show(v, first)))
    }

    /// `GET path/usages` as a table.
    async fn usages(&self, path: &str, what: &str) -> Result<String, Failure> {
        let value = self.http.get(&format!("{path}/usages")).await?;
        Ok(self.emit(&value, |v| render::usages(v, what)))
    }

    /// `DELETE path` with `If-Match`; a line for people, nothing for scripts (204 has no body).
    async fn delete(&self, path: &str, if_match: &str, what: &str) -> Result<String, Failure> {
        self.http.delete(path, if_match).await?;
        Ok(match self.output {
            Output::Json => String::new(),
            Output::Table => format!("deleted {what}\n"),
        })
    }
}

/// The `--if-match` every delete takes.
#[derive(Debug, clap::Args)]
pub(crate) struct IfMatch {
    /// Delete only this version (the ETag a read returned); `*` deletes whatever is current.
    #[arg(long, value_name = "ETAG", default_value = "*")]
    if_match: String,
}

/// Runs a client command.
pub(crate) fn run(command: ClientCommand) -> ExitCode {
    match execute(command) {
        Ok(out) => write_stdout(&out),
        Err(failure) => {
            // One report, on stderr, so stdout holds only what a script asked for.
            let _ = std::io::stderr().write_all(failure.report().as_bytes());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Prints a command's output; returns the exit code.
fn write_stdout(out: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // `gatehouse cert list | head -1` is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gatehouse: cannot write the output: {e}");
            ExitCode::from(error::EX_IOERR)
        }
    }
}

/// Resolves the token, starts the runtime and runs the command: its stdout text, or why it
/// failed.
fn execute(command: ClientCommand) -> Result<String, Failure> {
    let (global, action) = match command {
        ClientCommand::Cert { global, command } => (global, Action::Cert(command)),
        ClientCommand::Ca { global, command } => (global, Action::Ca(command)),
        ClientCommand::Backend { global, command } => (global, Action::Backend(command)),
        ClientCommand::Api { global, command } => (global, Action::Api(command)),
        ClientCommand::Policy { global, command } => (global, Action::Policy(command)),
        ClientCommand::Hostname { global, command } => (global, Action::Hostname(command)),
        ClientCommand::Token { global, command } => (global, Action::Token(command)),
    };
    let token = resolve_token(global.token_file.as_deref())?;
    // The CLI runs before any runtime exists, and does one request at a time: a
    // current-thread runtime is all it needs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unavailable(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let ctx = Ctx {
            http: Http::new(&global.admin_url, token)?,
            output: global.output,
        };
        match action {
            Action::Cert(c) => cert::run_cert(c, &ctx).await,
            Action::Ca(c) => cert::run_ca(c, &ctx).await,
            Action::Backend(c) => backend::run(c, &ctx).await,
            Action::Api(c) => api::run(c, &ctx).await,
            Action::Policy(c) => policy::run(c, &ctx).await,
            Action::Hostname(c) => hostname::run(c, &ctx).await,
            Action::Token(c) => token::run(c, &ctx).await,
        }
    })
}

/// A client command without its global options.
enum Action {
    /// `gatehouse cert ...`
    Cert(cert::CertCommand),
    /// `gatehouse ca ...`
    Ca(cert::CaCommand),
    /// `gatehouse backend ...`
    Backend(backend::BackendCommand),
    /// `gatehouse api ...`
    Api(api::ApiCommand),
    /// `gatehouse policy ...`
    Policy(policy::PolicyCommand),
    /// `gatehouse hostname ...`
    Hostname(hostname::HostnameCommand),
    /// `gatehouse token ...`
    Token(token::TokenCommand),
}

/// The admin token: the token file named (flag or `GATEHOUSE_TOKEN_FILE`), else
/// `GATEHOUSE_ADMIN_TOKEN`, else the default file. What is named most specifically wins.
///
/// The token is never a flag: arguments end up in shell history and `ps`.
fn resolve_token(token_file: Option<&Path>) -> Result<Token, Failure> {
    if token_file.is_none()
        && let Some(value) = std::env::var_os("GATEHOUSE_ADMIN_TOKEN")
        && !value.is_empty()
    {
        let value = value
            .into_string()
            .map_err(|_| Failure::Usage("GATEHOUSE_ADMIN_TOKEN is not valid UTF-8".to_string()))?;
        return Token::new(value, "GATEHOUSE_ADMIN_TOKEN".to_string());
    }
    let (path, explicit) = match token_file {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_TOKEN_FILE), false),
    };
    if !explicit && !path.exists() {
        return Err(Failure::Usage(format!(
            "no admin token: set GATEHOUSE_ADMIN_TOKEN or pass --token-file FILE (gatehouse \
             serve writes DATA_DIR/admin-token on first start; {DEFAULT_TOKEN_FILE} is read \
             when it exists)"
        )));
    }
    let text = input::read_text(&path, "the token file")?;
    Token::new(text, path.display().to_string())
}
