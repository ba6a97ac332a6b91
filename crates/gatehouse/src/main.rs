//! The `gatehouse` binary: command line, wiring and logging.
//!
//! `gatehouse serve` opens the data directory (store, master key, admin token), starts the
//! management API and serves until SIGTERM or SIGINT. Library crates do the work; this crate
//! only parses flags, wires the parts together and reports errors once.

mod admin_tls;
mod bootstrap;
mod cli;
mod demo;
mod logging;

/// mimalloc keeps allocations of each size class apart. With the system allocator, the small
/// state of each parked client connection landed inside the freed buffers of its last request
/// and pinned them: 5 KiB per idle connection instead of 1. mimalloc's v2 line: both lines
/// defer returning freed pages to the system (v3 by a second, v2 by 10 ms, each checked only
/// when the allocator runs again), and after a burst of new clients that went idle the
/// benchmark's M4, run alone, measured 21-23 MiB per 10,000 idle clients with v3 against 18-19
/// with v2 (inside a full run: 19.5 against 19.0).
#[cfg(not(feature = "count-allocations"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark's allocation count (`--features count-allocations`, never in a release for
/// use): the system allocator instrumented, since allocations per request do not depend on
/// which allocator serves them.
#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Allocations made so far, when the build counts them.
pub(crate) fn allocations() -> Option<u64> {
    #[cfg(feature = "count-allocations")]
    {
        u64::try_from(ALLOCATOR.stats().allocations).ok()
    }
    #[cfg(not(feature = "count-allocations"))]
    {
        None
    }
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-hosted API gateway with back-end client certificate authentication.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway, its management API and the web portal.
    Serve(Box<ServeArgs>),
    /// Show the whole story on a temporary data directory: a back end that requires a client
    /// certificate, a certificate, an API, a call through the gateway; then keep the portal up.
    Demo(demo::DemoArgs),
    /// Print a shell completion script.
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
}

/// Flags of `gatehouse serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where the configuration database, the generated master key and the admin token live.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub(crate) data_dir: PathBuf,

    /// Address of the management API (keep it private: it holds every secret's controls).
    #[arg(long, env = "GATEHOUSE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    pub(crate) admin_listen: SocketAddr,

    /// Host names (comma separated) the management API and portal answer to, besides IP
    /// addresses and localhost; a request for any other name gets 421, so that no web site
    /// can reach them through DNS rebinding.
    #[arg(
        long,
        env = "GATEHOUSE_ADMIN_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub(crate) admin_allowed_hosts: Vec<String>,

    /// Serve the management API and portal over HTTPS with this PEM certificate chain (leaf
    /// first); needs --admin-tls-key. The session cookie is then `Secure`.
    #[arg(
        long,
        env = "GATEHOUSE_ADMIN_TLS_CERT",
        value_name = "FILE",
        requires = "admin_tls_key",
        conflicts_with = "admin_tls_hostname"
    )]
    pub(crate) admin_tls_cert: Option<PathBuf>,

    /// The PEM private key of --admin-tls-cert (PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(
        long,
        env = "GATEHOUSE_ADMIN_TLS_KEY",
        value_name = "FILE",
        requires = "admin_tls_cert"
    )]
    pub(crate) admin_tls_key: Option<PathBuf>,

    /// Serve the management API and portal over HTTPS with the certificate of this gateway
    /// hostname configuration (by id), following its rotations. The session cookie is then
    /// `Secure`.
    #[arg(long, env = "GATEHOUSE_ADMIN_TLS_HOSTNAME", value_name = "ID")]
    pub(crate) admin_tls_hostname: Option<String>,

    /// Address of the gateway's plain listener (HTTP/1.1, and HTTP/2 with prior knowledge);
    /// `none` turns it off.
    #[arg(long, env = "GATEHOUSE_GATEWAY_LISTEN", default_value = "0.0.0.0:8000")]
    pub(crate) gateway_listen: Listen,

    /// Address of the gateway's TLS listener, which serves the host names of
    /// /hostnameConfigurations (none by default).
    #[arg(long, env = "GATEHOUSE_GATEWAY_TLS_LISTEN")]
    pub(crate) gateway_tls_listen: Option<SocketAddr>,

    /// Days the audit trail keeps an event.
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub(crate) audit_retention_days: u32,

    /// Earlier versions kept per certificate, for rollback (0 to 50).
    #[arg(long, env = "GATEHOUSE_CERTIFICATE_VERSIONS", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=50))]
    pub(crate) certificate_versions: u8,

    /// Seconds between fetches of certificates referenced from a secret store (Key Vault, or
    /// a mounted file, which is also read as soon as it changes).
    #[arg(long, env = "GATEHOUSE_SECRET_REFRESH_INTERVAL", default_value_t = 300)]
    pub(crate) secret_refresh_interval: u64,

    /// PostgreSQL database shared by several gateway nodes
    /// (postgres://USER:PASS@HOST:PORT/DB); without it, SQLite in the data directory. Every
    /// node needs the same master key (GATEHOUSE_MASTER_KEY or --master-key-file).
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// File holding the master key (base64 of 32 bytes) that encrypts private keys and
    /// passwords at rest. GATEHOUSE_MASTER_KEY (the key itself) takes precedence.
    #[arg(long, env = "GATEHOUSE_MASTER_KEY_FILE")]
    pub(crate) master_key_file: Option<PathBuf>,

    /// Largest management request body, in bytes (certificate uploads included).
    #[arg(long, default_value_t = 256 * 1024)]
    pub(crate) max_body_bytes: usize,

    /// Log format.
    #[arg(long, value_enum, default_value_t = logging::Format::Text)]
    pub(crate) log_format: logging::Format,

    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT.
    #[arg(long, default_value_t = 30)]
    pub(crate) shutdown_grace: u64,

    /// Seconds a back end may take to answer before the caller gets 504 (APIM's default).
    #[arg(long, default_value_t = 300)]
    pub(crate) backend_timeout: u64,

    /// Seconds a back-end TCP connect plus TLS handshake may take.
    #[arg(long, default_value_t = 10)]
    pub(crate) connect_timeout: u64,

    /// Seconds a client has to send a whole request head, counted from its first byte (for
    /// a new connection, from the accept); never reset by further bytes.
    #[arg(long, env = "GATEHOUSE_HEADER_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) header_timeout: u64,

    /// Seconds an idle keep-alive client connection (HTTP/1.1, or HTTP/2 with no open
    /// stream) stays open.
    #[arg(long, env = "GATEHOUSE_KEEP_ALIVE_TIMEOUT", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) keep_alive_timeout: u64,

    /// Client connections the gateway serves at once; more wait in the listen backlog.
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(crate) max_connections: u64,

    /// Longest request line (HTTP/1.1) or request target (HTTP/2), in bytes; longer gets 414.
    #[arg(long, default_value_t = 8192,
          value_parser = clap::value_parser!(u64).range(256..=1_048_576))]
    pub(crate) max_request_line: u64,

    /// Largest set of request header fields, in bytes (HTTP/2: the header list); larger
    /// gets 431.
    #[arg(long, default_value_t = 32_768,
          value_parser = clap::value_parser!(u64).range(1024..=4_194_304))]
    pub(crate) max_header_bytes: u64,

    /// Most header fields in a request; more gets 431.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(8..=10_000))]
    pub(crate) max_headers: u64,

    /// Seconds a request body may go without a byte arriving; longer gets 408.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) body_timeout: u64,

    /// Streams an HTTP/2 client may have open at once.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) h2_max_streams: u32,

    /// Remember back-end certificate chains that verified, so a back end presenting the same
    /// chain is not verified in full on every new connection (handshake signatures are always
    /// checked; an entry ends when a certificate of the chain expires).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) backend_chain_cache: bool,

    /// What serves HTTP/1.1 callers: `gatehouse`, the gateway's own relay built for proxying
    /// (hyper still serves what it does not cover), or `hyper` for every request.
    #[arg(long, env = "GATEHOUSE_HTTP1_ENGINE", value_enum, default_value_t = Http1Engine::Gatehouse)]
    pub(crate) http1_engine: Http1Engine,

    /// Peers whose X-Forwarded-*, Forwarded and X-Real-IP headers are believed: addresses or
    /// CIDR ranges, comma separated (e.g. 10.0.0.0/8,192.0.2.7). From anyone else they are
    /// replaced by what the gateway saw; X-Forwarded-For is always appended to.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub(crate) trusted_proxies: Vec<gatehouse_proxy::Cidr>,

    /// Worker threads of the async runtime (default: one per core).
    #[arg(long, env = "GATEHOUSE_WORKER_THREADS")]
    pub(crate) worker_threads: Option<usize>,
}

/// A listen address, or `none` for a listener that is off.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listen(pub(crate) Option<SocketAddr>);

/// `--http1-engine`: the proxy's choice, as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Http1Engine {
    /// The gateway's own HTTP/1.1 relay.
    Gatehouse,
    /// hyper's server and client.
    Hyper,
}

impl From<Http1Engine> for gatehouse_proxy::Http1Engine {
    fn from(engine: Http1Engine) -> Self {
        match engine {
            Http1Engine::Gatehouse => Self::Gatehouse,
            Http1Engine::Hyper => Self::Hyper,
        }
    }
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("none") {
            return Ok(Self(None));
        }
        text.parse().map(|a| Self(Some(a))).map_err(|e| {
            format!("'{text}' is not an address such as 0.0.0.0:8000, nor 'none': {e}")
        })
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 64 (EX_USAGE), so scripts can tell them from a server's refusal.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "gatehouse", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Client(command) => cli::run(command),
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => {
            logging::init(args.log_format);
            // One worker: a current-thread runtime does the same work without the
            // work-stealing scheduler's cross-thread bookkeeping.
            let mut builder = match args.worker_threads {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                Some(n) => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(n.max(1));
                    b
                }
                None => tokio::runtime::Builder::new_multi_thread(),
            };
            let runtime = match builder.enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(bootstrap::serve(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("gatehouse: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
