//! `token`: make a token (its value printed once), list, show, use it, revoke it; a token
//! below admin is refused with the server's code.

use super::Cli;
use crate::support::server::{Options, start};

#[tokio::test]
async fn tokens_are_made_listed_used_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let cli = Cli::new(&server);

    let made = cli.run("token create ci --role reader").ok().stdout;
    let value = made.lines().last().unwrap().to_string();
    assert!(made.starts_with("token 'ci' (reader) made"), "{made}");
    assert!(value.starts_with("ghk_"), "{made}");

    let list = cli.run("token list").ok().stdout;
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[1].starts_with("bootstrap"),
        "{list}"
    );
    assert!(
        lines[2].starts_with("ci ") && lines[2].contains("reader"),
        "{list}"
    );
    assert!(!list.contains(&value));
    let shown = cli.run("token show ci").ok().fields();
    assert_eq!(shown["role"], "reader");
    assert_eq!(shown["createdBy"], "admin token");

    // The reader reads, and may not make tokens.
    let reader = |line: &str| {
        let mut cmd = cli.bare(line);
        cmd.env("GATEHOUSE_ADMIN_TOKEN", &value)
            .args(["--admin-url", &cli.admin]);
        super::output(&mut cmd, None)
    };
    reader("api list").ok();
    reader("token create sneak --role admin").refused("Forbidden");

    cli.run("token delete ci").ok();
    let after = reader("api list").expect(65);
    assert!(
        after.stderr.starts_with("gatehouse: Unauthorized"),
        "{}",
        after.stderr
    );
    cli.run("token delete bootstrap").refused("BootstrapToken");
}
