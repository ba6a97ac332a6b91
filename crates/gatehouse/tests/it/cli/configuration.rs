//! `policy`, `api`, `api operation` and `api credentials`: XML round trips through files and
//! stdin, entities in tables and JSON, Basic credentials from stdin.

use serde_json::json;

use super::{Cli, cells, row};
use crate::support::pki::Pki;
use crate::support::server::{Options, start};

const GLOBAL_XML: &str = r#"<policies>
    <inbound>
        <!-- set from a file by the CLI test -->
        <set-header name="X-From-Cli" exists-action="override">
            <value>global</value>
        </set-header>
    </inbound>
    <outbound />
</policies>
"#;

#[tokio::test]
async fn policies_round_trip_through_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cli = Cli::new(&server);
    let pki = Pki::new();

    let file = pki.write("global.xml", GLOBAL_XML.as_bytes());
    let set = cli
        .run(&format!("policy set --file {}", file.display()))
        .ok();
    assert_eq!(set.stdout, "set the global policy\n");
    assert_eq!(cli.run("policy get").ok().stdout, GLOBAL_XML);
    let stored = api.get("/policies/policy").await.expect(200).json();
    assert_eq!(stored["properties"]["value"], json!(GLOBAL_XML));
    assert_eq!(cli.run("policy get --output json").ok().json(), stored);

    cli.run("api create echo --path echo --service-url http://127.0.0.1:9")
        .ok();
    cli.run("api operation add echo all --method * --template /*")
        .ok();
    // From stdin, without a trailing newline: printed back with one.
    let api_xml = "<policies><inbound><base /><set-header name=\"X-Api\" exists-action=\"skip\">\
                   <value>a</value></set-header></inbound><outbound><base /></outbound></policies>";
    cli.run_stdin("policy set --api echo", api_xml).ok();
    assert_eq!(
        cli.run("policy get --api echo").ok().stdout,
        format!("{api_xml}\n")
    );

    let op_xml = "<policies>\n  <inbound>\n    <base />\n  </inbound>\n</policies>\n";
    let op_file = pki.write("op.xml", op_xml.as_bytes());
    let set = cli
        .run(&format!(
            "policy set --api echo --operation all --file {}",
            op_file.display()
        ))
        .ok();
    assert_eq!(
        set.stdout,
        "set the policy of operation 'all' of API 'echo'\n"
    );
    let got = cli.run("policy get --api echo --operation all").ok().stdout;
    assert_eq!(got, op_xml);
    let stored = api
        .get("/apis/echo/operations/all/policies/policy")
        .await
        .json();
    assert_eq!(stored["properties"]["value"], json!(op_xml));

    // Invalid XML: refused, nothing changed.
    let broken = pki.write(
        "broken.xml",
        b"<policies><inbound><set-header name=\"x\"></inbound>",
    );
    let refused = cli
        .run(&format!(
            "policy set --api echo --file {}",
            broken.display()
        ))
        .expect(65);
    assert_eq!(refused.stdout, "");
    refused.assert_clean_stderr();
    assert_eq!(
        cli.run("policy get --api echo").ok().stdout,
        format!("{api_xml}\n")
    );

    cli.run("policy delete --api echo --operation all").ok();
    cli.run("policy get --api echo --operation all")
        .refused("ResourceNotFound");
    cli.run("policy delete").ok();
    api.get("/policies/policy").await.expect(404);

    // --operation needs --api; a missing file is ours to report, not the server's.
    cli.run("policy get --operation all").expect(64);
    let missing = cli.run("policy set --file /nonexistent/p.xml").expect(64);
    assert!(
        missing.stderr.starts_with("gatehouse: cannot read"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
}

#[tokio::test]
async fn apis_operations_and_basic_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cli = Cli::new(&server);

    assert_eq!(cli.run("api list").ok().stdout, "no APIs\n");
    let created = cli
        .run("api create echo --path echo --service-url http://127.0.0.1:9/base --display-name 'Echo API'")
        .ok();
    assert_eq!(created.fields()["displayName"], "Echo API");
    let shown = cli.run("api show echo").ok().fields();
    assert_eq!(shown["path"], "echo");
    assert_eq!(shown["serviceUrl"], "http://127.0.0.1:9/base");
    let list = cli.run("api list").ok().stdout;
    let header = list.lines().next().unwrap();
    assert_eq!(cells(header), ["ID", "PATH", "SERVICE URL", "DISPLAY NAME"]);
    assert_eq!(
        cells(row(&list, "echo")),
        ["echo", "echo", "http://127.0.0.1:9/base", "Echo API"]
    );
    let listed = cli.run("api list --output json").ok().json();
    assert_eq!(listed, api.get("/apis").await.json());
    assert_eq!(
        listed["value"][0]["properties"]["displayName"],
        json!("Echo API")
    );

    cli.run("api operation add echo get-user --method GET --template /users/{id} --display-name 'Get user'")
        .ok();
    let ops = cli.run("api operation list echo").ok().stdout;
    assert_eq!(
        cells(row(&ops, "get-user")),
        ["get-user", "GET", "/users/{id}", "Get user"]
    );
    let op = cli
        .run("api operation show echo get-user --output json")
        .ok()
        .json();
    assert_eq!(op, api.get("/apis/echo/operations/get-user").await.json());
    assert_eq!(op["properties"]["urlTemplate"], json!("/users/{id}"));

    // Basic credentials: the password from stdin, never printed, masked in the policy.
    let creds = cli
        .run_stdin(
            "api credentials echo --basic alice --password-stdin",
            "s3cret-Pw\n",
        )
        .ok();
    assert!(!creds.stdout.contains("s3cret-Pw"), "{}", creds.stdout);
    assert_eq!(creds.fields()["type"], "basic");
    assert_eq!(creds.fields()["username"], "alice");
    let policy = cli.run("policy get --api echo").ok().stdout;
    assert!(
        policy.contains("<authentication-basic username=\"alice\""),
        "{policy}"
    );
    assert!(!policy.contains("s3cret-Pw"), "{policy}");
    let json_creds = cli.run("api credentials echo --output json").ok().json();
    assert_eq!(
        json_creds,
        api.get("/apis/echo/gatewayCredentials").await.json()
    );
    assert_eq!(json_creds["properties"]["type"], json!("basic"));

    // The flags are alternatives; --password-stdin belongs to --basic, and needs a line.
    cli.run("api credentials echo --none --basic bob")
        .expect(64);
    cli.run("api credentials echo --password-stdin").expect(64);
    // A Basic password never comes from the command line, and is never silently empty.
    cli.run("api credentials echo --basic bob").expect(64);
    let empty = cli
        .run("api credentials echo --basic bob --password-stdin")
        .expect(64);
    assert!(empty.stderr.contains("stdin is empty"), "{}", empty.stderr);
    let missing = cli
        .run("api credentials echo --certificate nope")
        .refused("CertificateNotFound");
    assert!(missing.stderr.contains("'nope'"), "{}", missing.stderr);

    let deleted = cli.run("api operation delete echo get-user").ok();
    assert_eq!(
        deleted.stdout,
        "deleted operation 'get-user' of API 'echo'\n"
    );
    let none = cli.run("api operation list echo").ok().stdout;
    assert_eq!(none, "API 'echo' has no operations\n");
    cli.run("api operation list nope")
        .refused("ResourceNotFound");

    assert_eq!(
        cli.run("api delete echo").ok().stdout,
        "deleted API 'echo'\n"
    );
    api.get("/apis/echo").await.expect(404);
    cli.run("api show echo").refused("ResourceNotFound");
}
