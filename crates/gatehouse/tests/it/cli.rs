//! The command line client: the real `gatehouse` binary against a real server, every command,
//! its tables and JSON, its error reports and exit codes. This module holds the harness (run
//! the binary, read its tables); the tests are in its submodules.

mod certificates;
mod configuration;
mod failures;
mod hostnames;
mod tokens;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::server::{Server, TOKEN};

/// Runs the CLI against one server, from an empty working directory (so no stray
/// `./gatehouse-data/admin-token` is picked up).
struct Cli {
    admin: String,
    cwd: tempfile::TempDir,
}

/// What one run printed, and how it exited.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code; {self:#?}");
        self
    }

    #[track_caller]
    fn ok(self) -> Self {
        let run = self.expect(0);
        assert_eq!(run.stderr, "", "a successful run printed to stderr");
        run
    }

    /// A refusal: exit 65, one `gatehouse: CODE: ...` report, nothing on stdout.
    #[track_caller]
    fn refused(self, code: &str) -> Self {
        let run = self.expect(65);
        assert_eq!(run.stdout, "", "a refused run printed to stdout");
        let prefix = format!("gatehouse: {code}: ");
        assert!(run.stderr.starts_with(&prefix), "{}", run.stderr);
        run.assert_clean_stderr();
        run
    }

    /// One unindented `gatehouse: ` line, then indented details; no Rust debug output.
    #[track_caller]
    fn assert_clean_stderr(&self) {
        for noise in ["Error {", "Failure", "panicked", "RUST_BACKTRACE", "Some("] {
            assert!(!self.stderr.contains(noise), "debug noise: {}", self.stderr);
        }
        let mut lines = self.stderr.lines();
        let first = lines.next().unwrap_or("");
        assert!(first.starts_with("gatehouse: "), "{}", self.stderr);
        assert!(lines.all(|l| l.starts_with("  ")), "{}", self.stderr);
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// `key: value` lines (as `show` prints them) as a map.
    fn fields(&self) -> BTreeMap<String, String> {
        let pair = |l: &str| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("not key: value: {l}"));
            (k.to_string(), v.trim().to_string())
        };
        self.stdout.lines().map(pair).collect()
    }
}

/// A command line split as a shell would: on spaces, with '...' grouping words.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

impl Cli {
    fn new(server: &Server) -> Self {
        Self::at(&format!("http://{}", server.admin))
    }

    fn at(admin: &str) -> Self {
        Self {
            admin: admin.to_string(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    /// `gatehouse LINE`, with no gatehouse environment of the test runner's leaking in.
    fn bare(&self, line: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.current_dir(self.cwd.path())
            .env_remove("GATEHOUSE_ADMIN_TOKEN")
            .env_remove("GATEHOUSE_ADMIN_URL")
            .env_remove("GATEHOUSE_TOKEN_FILE")
            .env_remove("RUST_BACKTRACE")
            .args(words(line));
        cmd
    }

    /// `gatehouse LINE --admin-url ...` with the test token.
    fn command(&self, line: &str) -> Command {
        let mut cmd = self.bare(line);
        cmd.env("GATEHOUSE_ADMIN_TOKEN", TOKEN)
            .args(["--admin-url", &self.admin]);
        cmd
    }

    fn run(&self, line: &str) -> Run {
        output(&mut self.command(line), None)
    }

    fn run_stdin(&self, line: &str, stdin: &str) -> Run {
        output(&mut self.command(line), Some(stdin))
    }
}

fn output(cmd: &mut Command, stdin: Option<&str>) -> Run {
    let input = if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    cmd.stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn gatehouse");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The line of a table whose first column is `id`.
#[track_caller]
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in:\n{table}"))
}

/// The cells of a table row (columns are at least two spaces apart).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Where `needle` starts in `line`, in characters (tables align by characters).
#[track_caller]
fn column(line: &str, needle: &str) -> usize {
    let at = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {line}"));
    line[..at].chars().count()
}

#[test]
fn completions_include_the_client_commands() {
    let cli = Cli::at("http://127.0.0.1:1");
    let bash = output(&mut cli.bare("completions bash"), None).ok().stdout;
    for word in [
        "cert",
        "backend",
        "credentials",
        "--password-stdin",
        "--admin-url",
        "hostname",
        "--negotiate-client-certificate",
        "--no-http2",
    ] {
        assert!(bash.contains(word), "{word} missing from the bash script");
    }
    for shell in ["zsh", "fish"] {
        let script = output(&mut cli.bare(&format!("completions {shell}")), None)
            .ok()
            .stdout;
        assert!(script.contains("cert"), "{shell}");
    }
}

#[test]
fn words_split_like_a_shell() {
    assert_eq!(words("a  'b c' d''"), ["a", "b c", "d"]);
    assert_eq!(words("x ''"), ["x", ""]);
}
