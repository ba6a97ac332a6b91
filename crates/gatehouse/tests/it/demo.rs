//! `gatehouse demo`: the real binary, run as a newcomer would, up to the point where the back
//! end reports the certificate the gateway presented; then Ctrl-C.

use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::server::Api;

/// A running `gatehouse demo` whose output is collected by reader threads, killed if a test
/// fails before stopping it.
struct Demo {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The `TMPDIR` it was given, so the test sees everything it creates there.
    tmp: tempfile::TempDir,
}

impl Demo {
    /// Starts `gatehouse demo` with `args`, its temporary directory inside a fresh one.
    fn start(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("demo")
            .args(args)
            .env("TMPDIR", tmp.path())
            .env_remove("GATEHOUSE_ADMIN_TOKEN")
            .env_remove("GATEHOUSE_MASTER_KEY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gatehouse demo");
        let collect = |stream: Box<dyn Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            stdout,
            stderr,
            tmp,
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// Waits (without blocking the test's runtime) until stdout holds a line containing
    /// `needle`, and returns stdout; panics with the output if the demo exits or takes too
    /// long.
    async fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let lines = self.stdout.lock().unwrap().clone();
            if lines.iter().any(|l| l.contains(needle)) {
                return lines;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "the demo exited ({status}) before printing {needle:?}; {}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within 60s; {}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `limit` for the exit.
    async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads catch the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Whatever the demo left in its `TMPDIR`.
    fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of the first `      label:   value` detail line.
fn detail<'a>(lines: &'a [String], label: &str) -> &'a str {
    let prefix = format!("{label}:");
    lines
        .iter()
        .map(|l| l.trim_start())
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", lines.join("\n")))
}

#[tokio::test]
async fn the_demo_shows_the_uploaded_certificate_reaching_the_backend_and_stops_on_sigint() {
    let mut demo = Demo::start(&[
        "--admin-listen",
        "127.0.0.1:0",
        "--gateway-listen",
        "127.0.0.1:0",
    ]);
    // The ready block comes after the back end's report, and holds the portal and token.
    let lines = demo.wait_for("Press Ctrl-C").await;
    let output = demo.output();
    for n in 1..=8 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("[{n}/8] "))),
            "step {n} missing; {output}"
        );
    }

    // Without gateway credentials, the back end refused the gateway.
    assert!(
        detail(&lines, "no credentials").contains("502 Bad Gateway (ClientCertificateRejected)"),
        "{output}"
    );

    // What the back end saw: the demo's certificate, by subject and thumbprint.
    let seen_at = lines.iter().position(|l| l.starts_with("[8/8] ")).unwrap();
    assert!(lines[seen_at].contains("200 OK"), "{output}");
    let seen = &lines[seen_at..];
    assert_eq!(
        detail(seen, "subject"),
        "CN=gatehouse-demo-client, O=Gatehouse Demo"
    );
    let thumbprint = detail(seen, "thumbprint")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(thumbprint.len(), 40, "{output}");
    assert!(
        thumbprint
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "{thumbprint} is not upper-case hex"
    );

    // The same thumbprint as the management API reports for the uploaded certificate.
    let portal = detail(&lines, "portal");
    let admin: SocketAddr = portal
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("portal URL {portal:?}"));
    let token = detail(&lines, "admin token").to_string();
    let listed = Api::new(admin, Some(token.clone()))
        .get("/certificates")
        .await
        .expect(200)
        .json();
    let uploaded: Vec<_> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["properties"]["thumbprint"] == thumbprint.as_str())
        .collect();
    assert_eq!(uploaded.len(), 1, "{listed}");
    assert_eq!(uploaded[0]["name"], "demo-client");
    // The token is required: the demo does not open the management API to anyone.
    Api::new(admin, None).get("/certificates").await.expect(401);

    // The data directory: under TMPDIR, owner-only while running.
    let data_dir = PathBuf::from(
        detail(&lines, "data directory")
            .strip_suffix(" (removed on exit)")
            .unwrap(),
    );
    assert!(data_dir.starts_with(demo.tmp.path()), "{output}");
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(data_dir.join("gatehouse.db").exists());

    // Ctrl-C: a graceful stop, exit 0, the directory gone.
    let pid = demo.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = demo.wait_exit(Duration::from_secs(10)).await;
    let output = demo.output();
    assert!(status.is_some_and(|s| s.success()), "{status:?}; {output}");
    assert!(
        !data_dir.exists(),
        "{} is left; {output}",
        data_dir.display()
    );
    assert!(demo.leftovers().is_empty(), "{:?}", demo.leftovers());
    assert!(
        output.contains(&format!("Stopped. Removed {}.", data_dir.display())),
        "{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
}

#[tokio::test]
async fn a_failed_step_prints_one_line_exits_non_zero_and_leaves_nothing() {
    // The gateway's address is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut demo = Demo::start(&["--admin-listen", "127.0.0.1:0", "--gateway-listen", &addr]);
    let status = demo
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("the demo kept running; {}", demo.output()));
    let output = demo.output();
    assert_eq!(status.code(), Some(1), "{output}");
    let stderr = demo.stderr.lock().unwrap().clone();
    assert_eq!(stderr.len(), 1, "{output}");
    assert!(stderr[0].starts_with("gatehouse demo: "), "{output}");
    assert!(stderr[0].contains(&addr), "{output}");
    assert!(stderr[0].contains("--gateway-listen"), "{output}");
    assert!(demo.leftovers().is_empty(), "{:?}", demo.leftovers());
}

#[tokio::test]
async fn a_closed_terminal_stops_the_demo_cleanly_too() {
    // SIGHUP (the terminal closed) and SIGQUIT must not leave the master key and the sealed
    // keys behind in the temporary directory.
    for signal in ["-HUP", "-QUIT"] {
        let mut demo = Demo::start(&[
            "--admin-listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
        ]);
        demo.wait_for("Press Ctrl-C").await;
        let pid = demo.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = demo.wait_exit(Duration::from_secs(10)).await;
        let output = demo.output();
        assert!(
            status.is_some_and(|s| s.success()),
            "{signal}: {status:?}; {output}"
        );
        assert!(
            demo.leftovers().is_empty(),
            "{signal}: {:?}",
            demo.leftovers()
        );
    }
}
