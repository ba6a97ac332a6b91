//! `hostname`: create, replace, list, show and delete hostname configurations; refusals the
//! server makes (a missing certificate, a certificate that does not name the host, a second
//! default binding) exit 65 with the server's code.

use serde_json::json;

use super::{Cli, cells, output, row};
use crate::support::pki::{Pki, TestCa};
use crate::support::server::{Options, start};
use crate::support::tls::s_client;

#[tokio::test]
async fn hostnames_are_created_listed_shown_replaced_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec!["--gateway-tls-listen".into(), "127.0.0.1:0".into()];
    let server = start(options);
    let api = server.api();
    let cli = Cli::new(&server);
    let pki = Pki::new();
    let ca = TestCa::new("CLI Hostname CA");
    let pem = pki.write("api.pem", ca.server_pem(&["api.example.test"]).as_bytes());
    cli.run(&format!("cert upload api-cert --pem {}", pem.display()))
        .ok();
    let wild = pki.write("wild.pem", ca.server_pem(&["*.example.test"]).as_bytes());
    cli.run(&format!("cert upload wild-cert --pem {}", wild.display()))
        .ok();

    assert_eq!(
        cli.run("hostname list").ok().stdout,
        "no hostname configurations\n"
    );

    // Defaults: no client certificates asked for, HTTP/2 offered, not the default binding.
    let created = cli
        .run("hostname create api --hostname API.Example.Test --certificate api-cert")
        .ok()
        .fields();
    assert_eq!(created["id"], "api");
    assert_eq!(created["hostName"], "api.example.test");
    assert_eq!(created["certificateId"], "api-cert");
    assert_eq!(created["negotiateClientCertificate"], "false");
    assert_eq!(created["http2Enabled"], "true");
    assert_eq!(created["defaultSslBinding"], "false");
    let stored = api.get("/hostnameConfigurations/api").await.expect(200);
    assert_eq!(
        stored.json()["properties"]["hostName"],
        json!("api.example.test")
    );

    // It is served at once.
    let tls = server.gateway_tls.unwrap();
    let served = s_client(tls, &["-servername", "api.example.test"]).await;
    assert!(
        served.contains("CN=api.example.test") || served.contains("CN = api.example.test"),
        "{served}"
    );

    // Every flag, on a wildcard.
    cli.run(
        "hostname create wild --hostname *.example.test --certificate wild-cert \
         --negotiate-client-certificate --no-http2 --default",
    )
    .ok();
    let list = cli.run("hostname list").ok().stdout;
    assert_eq!(
        cells(list.lines().next().unwrap()),
        [
            "ID",
            "HOST NAME",
            "CERTIFICATE",
            "CERT EXPIRES",
            "CLIENT CERTS",
            "HTTP/2",
            "DEFAULT"
        ]
    );
    let expires = api.get("/certificates/api-cert").await.json()["properties"]["expirationDate"]
        .as_str()
        .unwrap()[..10]
        .to_string();
    let api_row = cells(row(&list, "api"));
    assert_eq!(api_row[..3], ["api", "api.example.test", "api-cert"]);
    // Issued for 30 days: flagged as expiring soon.
    assert!(api_row[3].starts_with(&expires), "{api_row:?}");
    assert!(api_row[3].contains("days"), "{api_row:?}");
    assert_eq!(api_row[4..], ["no", "yes", "no"]);
    assert_eq!(
        cells(row(&list, "wild"))[4..],
        ["yes", "no", "yes"],
        "{list}"
    );

    // JSON is the server's own.
    let listed = cli.run("hostname list --output json").ok().json();
    assert_eq!(listed, api.get("/hostnameConfigurations").await.json());
    assert_eq!(listed["count"], json!(2));
    let shown = cli.run("hostname show wild --output json").ok().json();
    assert_eq!(shown, api.get("/hostnameConfigurations/wild").await.json());
    let fields = cli.run("hostname show wild").ok().fields();
    assert_eq!(fields["hostName"], "*.example.test");
    assert_eq!(fields["negotiateClientCertificate"], "true");
    assert_eq!(fields["http2Enabled"], "false");

    // Creating over an existing id replaces it, as `backend create` and `api create` do; flags
    // left out go back to their defaults.
    let replaced = cli
        .run("hostname create wild --hostname *.example.test --certificate wild-cert")
        .ok()
        .fields();
    assert_eq!(replaced["negotiateClientCertificate"], "false");
    assert_eq!(replaced["http2Enabled"], "true");
    assert_eq!(replaced["defaultSslBinding"], "false");

    // A certificate a configuration presents cannot be deleted; the configuration can.
    cli.run("cert delete api-cert").refused("CertificateInUse");
    assert_eq!(
        cli.run("hostname delete api").ok().stdout,
        "deleted hostname configuration 'api'\n"
    );
    api.get("/hostnameConfigurations/api").await.expect(404);
    cli.run("hostname show api").refused("ResourceNotFound");
    cli.run("hostname delete api").refused("ResourceNotFound");
    assert_eq!(
        cli.run("hostname delete wild --output json").ok().stdout,
        ""
    );
    cli.run("cert delete api-cert").ok();
}

#[tokio::test]
async fn hostname_refusals_exit_65_with_the_servers_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cli = Cli::new(&server);
    let pki = Pki::new();
    let ca = TestCa::new("CLI Hostname CA");

    // A certificate that was never uploaded.
    let missing = cli
        .run("hostname create api --hostname api.example.test --certificate nope")
        .refused("CertificateNotFound");
    assert!(missing.stderr.contains("'nope'"), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("properties.certificateId"),
        "{}",
        missing.stderr
    );
    api.get("/hostnameConfigurations/api").await.expect(404);

    // One that does not name the host.
    let pem = pki.write(
        "other.pem",
        ca.server_pem(&["other.example.test"]).as_bytes(),
    );
    cli.run(&format!("cert upload other --pem {}", pem.display()))
        .ok();
    cli.run("hostname create api --hostname api.example.test --certificate other")
        .refused("HostnameNotInCertificate");
    // A name that is not one.
    let bad = cli
        .run("hostname create api --hostname 'a b.example' --certificate other")
        .refused("InvalidProperty");
    assert!(bad.stderr.contains("properties.hostName"), "{}", bad.stderr);
    // A second default binding.
    cli.run("hostname create one --hostname other.example.test --certificate other --default")
        .ok();
    let pem2 = pki.write("two.pem", ca.server_pem(&["two.example.test"]).as_bytes());
    cli.run(&format!("cert upload two --pem {}", pem2.display()))
        .ok();
    cli.run("hostname create two --hostname two.example.test --certificate two --default")
        .refused("DefaultSslBindingInUse");
    assert_eq!(
        api.get("/hostnameConfigurations").await.json()["count"],
        json!(1)
    );

    // Flags the command does not have, or lacks: usage errors before any request.
    cli.run("hostname create x --hostname a.example").expect(64);
    cli.run("hostname create x --certificate c").expect(64);
    cli.run("hostname create x --hostname a.example --certificate c --http2 false")
        .expect(64);
    let help = output(&mut cli.bare("hostname create --help"), None)
        .ok()
        .stdout;
    for flag in [
        "--hostname <H>",
        "--certificate <CID>",
        "--negotiate-client-certificate",
        "--no-http2",
        "--default",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
