//! A throwaway PostgreSQL server for tests (feature `testing`): Debian's `initdb` and
//! `pg_ctl` on a free port in a temporary directory, with trust authentication on the
//! loopback only. When the tests run as root, the server runs as `nobody` (PostgreSQL refuses
//! root). No mock: the tests talk to a real server.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The unprivileged user a server started by root runs as.
const NOBODY: u32 = 65534;

/// A PostgreSQL server that lives as long as this value.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_nobody: bool,
}

impl TempPostgres {
    /// Initialises and starts a server.
    ///
    /// # Panics
    /// When PostgreSQL is not installed (the README's test command installs it) or does not
    /// start; the message says which.
    pub fn start() -> Self {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb was not found on the PATH or in /usr/lib/postgresql/*/bin; \
                 install Debian's postgresql package (scripts/test does)"
            )
        });
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let as_nobody = is_root();
        if as_nobody {
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY))
                .expect("give the server's directory to nobody");
        }
        let server = Self {
            dir,
            bin,
            port: 0,
            as_nobody,
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let mut server = server;
        server.port = free_port();
        server.resume();
        server
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    ///
    /// # Panics
    /// When the server does not answer.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        self.url(name)
    }

    /// Stops the server (fast: connections are cut), keeping its data.
    pub fn pause(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts the server again on the same port, with the same data.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.pg_ctl(&["-o", &options, "-w", "-t", "30", "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut all: Vec<&std::ffi::OsStr> = vec![
            "-D".as_ref(),
            data.as_os_str(),
            "-l".as_ref(),
            log.as_os_str(),
        ];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        self.run("pg_ctl", &all);
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let mut command = Command::new(self.bin.join(program));
        command.args(args).current_dir(&self.dir);
        if self.as_nobody {
            command.uid(NOBODY).gid(NOBODY);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!(
                "{program} failed: {}\n{}\n{log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let mut command = Command::new(self.bin.join("pg_ctl"));
        command
            .args(["-D".as_ref(), data.as_os_str()])
            .args(["stop", "-m", "immediate"]);
        if self.as_nobody {
            command.uid(NOBODY).gid(NOBODY);
        }
        let _ = command.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        // Debian links /usr/local/bin/initdb and friends to one version's directory; use it
        // whole, so initdb finds its postgres.
        let resolved = std::fs::canonicalize(dir.join("initdb")).ok()?;
        return resolved.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // The owner of a file this process just created is its effective user.
    let probe = std::env::temp_dir().join(format!("gatehouse-uid-{}", std::process::id()));
    let uid = std::fs::write(&probe, b"")
        .and_then(|()| std::fs::metadata(&probe))
        .map(|m| m.uid())
        .unwrap_or(1);
    let _ = std::fs::remove_file(&probe);
    uid == 0
}
