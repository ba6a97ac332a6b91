//! Exit codes and error reports: usage errors, tokens, refusals, unreachable and failing
//! servers.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use super::{Cli, output};
use crate::support::server::{Options, TOKEN, start};

#[tokio::test]
async fn tokens_usage_errors_and_unreachable_servers_exit_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let cli = Cli::new(&server);

    // Usage errors: 64, before any request.
    for line in [
        "cert upload x",
        "cert frobnicate",
        "cert list --output yaml",
    ] {
        assert_eq!(cli.run(line).expect(64).stdout, "", "{line}");
    }
    let unreadable = cli
        .run("cert upload x --file /nonexistent/client.pfx")
        .expect(64);
    assert_eq!(
        unreadable.stderr,
        "gatehouse: cannot read the .pfx file /nonexistent/client.pfx: \
         No such file or directory (os error 2)\n"
    );
    let mut bad_url = cli.bare("cert list --admin-url ftp://x");
    let bad_url = output(bad_url.env("GATEHOUSE_ADMIN_TOKEN", TOKEN), None).expect(64);
    assert!(
        bad_url.stderr.contains("not an http:// or https:// URL"),
        "{}",
        bad_url.stderr
    );

    // No token anywhere.
    let admin = format!("--admin-url {}", cli.admin);
    let no_token = output(&mut cli.bare(&format!("cert list {admin}")), None).expect(64);
    assert!(
        no_token.stderr.starts_with("gatehouse: no admin token"),
        "{}",
        no_token.stderr
    );
    // A token file, named or where `serve` writes it; and GATEHOUSE_ADMIN_URL.
    let token_file = cli.cwd.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let named = format!("cert list {admin} --token-file {}", token_file.display());
    output(&mut cli.bare(&named), None).ok();
    let missing = format!("cert list {admin} --token-file /nonexistent/token");
    output(&mut cli.bare(&missing), None).expect(64);
    // A named file wins over the variable: a wrong one is an error even with the variable set.
    cli.run("cert list --token-file /nonexistent/token")
        .expect(64);
    std::fs::create_dir(cli.cwd.path().join("gatehouse-data")).unwrap();
    std::fs::write(cli.cwd.path().join("gatehouse-data/admin-token"), TOKEN).unwrap();
    let mut by_default = cli.bare("cert list");
    output(by_default.env("GATEHOUSE_ADMIN_URL", &cli.admin), None).ok();

    // A wrong token: the server refuses; we say where the token came from, not what it is.
    let mut wrong = cli.bare(&format!("cert list {admin}"));
    let wrong = output(
        wrong.env("GATEHOUSE_ADMIN_TOKEN", "wrong-token-0123456789"),
        None,
    )
    .refused("Unauthorized");
    assert!(
        wrong.stderr.contains("GATEHOUSE_ADMIN_TOKEN"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("wrong-token"), "{}", wrong.stderr);

    // Ids the server rejects, and unknown ones.
    cli.run("cert show 'bad id!'")
        .expect(65)
        .assert_clean_stderr();
    cli.run("backend usages nope").refused("ResourceNotFound");

    // Nobody listening: 69.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = Cli::at(&format!("http://127.0.0.1:{port}"))
        .run("cert list")
        .expect(69);
    assert_eq!(down.stdout, "");
    let expected =
        format!("gatehouse: cannot reach the management API at http://127.0.0.1:{port}: ");
    assert!(down.stderr.starts_with(&expected), "{}", down.stderr);
    assert_eq!(down.stderr.lines().count(), 1, "{}", down.stderr);
}

/// Serves one canned HTTP answer on a local port; returns its URL.
fn one_answer(status: &str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let _ = stream.write_all(response.as_bytes());
    });
    format!("http://{addr}")
}

#[test]
fn server_failures_exit_69_and_foreign_refusals_65() {
    let failed = one_answer(
        "503 Service Unavailable",
        r#"{"error":{"code":"StoreUnavailable","message":"the store failed","details":[]}}"#,
    );
    let run = Cli::at(&failed).run("cert list").expect(69);
    assert_eq!(
        run.stderr,
        "gatehouse: StoreUnavailable: the store failed\n"
    );

    let proxy = one_answer("404 Not Found", "no such host here");
    let run = Cli::at(&proxy).run("api list").expect(65);
    assert_eq!(run.stderr, "gatehouse: HTTP 404: no such host here\n");
}
