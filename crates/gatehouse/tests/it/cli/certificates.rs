//! `cert`, `ca` and `backend`: uploads, tables, JSON, usages, refused and allowed deletes, the
//! TLS switches read back.

use serde_json::json;

use super::{Cli, cells, column, row};
use crate::support::backend::thumbprint;
use crate::support::pki::{KeyKind, Pki, TestCa};
use crate::support::server::{Options, start};

const PASSWORD: &str = "Pfx-Passw0rd!";

#[tokio::test]
async fn certificates_upload_list_show_and_delete_once_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cli = Cli::new(&server);
    let pki = Pki::new();
    let rsa = pki.self_signed("client", "/O=Bars/CN=gatehouse-client", KeyKind::Rsa);
    let pfx = pki.write("client.pfx", &pki.pfx(&rsa, PASSWORD, false));
    let thumb = pki.thumbprint(&rsa.cert);
    let expires = pki.not_after(&rsa.cert)[..10].to_string();

    // A wrong password: refused, said once, nothing on stdout, the password never echoed.
    let upload = format!(
        "cert upload client-a --file {} --password-stdin",
        pfx.display()
    );
    let wrong = cli
        .run_stdin(&upload, "not-the-Passw0rd\n")
        .refused("PasswordIncorrect");
    assert!(
        wrong.stderr.contains("password is incorrect"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("not-the-Passw0rd"));
    assert_eq!(
        api.get("/certificates").await.expect(200).json()["count"],
        json!(0)
    );
    let no_password = cli
        .run(&format!("cert upload client-a --file {}", pfx.display()))
        .refused("PasswordRequired");
    assert!(
        no_password.stderr.contains("--password-stdin"),
        "{}",
        no_password.stderr
    );

    let uploaded = cli.run_stdin(&upload, &format!("{PASSWORD}\n")).ok();
    assert_eq!(uploaded.fields()["id"], "client-a");
    assert_eq!(uploaded.fields()["thumbprint"], thumb);
    assert!(!uploaded.stdout.contains(PASSWORD));

    // PEM: certificate and key in one file, no password.
    let ec = pki.self_signed("ec", "/O=Bars/CN=gatehouse-ec", KeyKind::EcP256);
    let pem = pki.write("ec.pem", &[pki.read(&ec.cert), pki.read(&ec.key)].concat());
    let pem_up = cli
        .run(&format!("cert upload client-pem --pem {}", pem.display()))
        .ok();
    assert_eq!(pem_up.fields()["thumbprint"], pki.thumbprint(&ec.cert));
    assert_eq!(pem_up.fields()["format"], "pem");

    // The table: subject, thumbprint with its last four set apart, expiry date, legacy.
    let list = cli.run("cert list").ok().stdout;
    let header = list.lines().next().unwrap();
    assert_eq!(
        cells(header),
        ["ID", "SUBJECT", "THUMBPRINT", "EXPIRES", "LEGACY"]
    );
    let line = row(&list, "client-a");
    let short = format!("{}…{}", &thumb[..8], &thumb[36..]);
    assert_eq!(
        cells(line),
        [
            "client-a",
            "CN=gatehouse-client, O=Bars",
            &short,
            &expires,
            "no"
        ],
        "{list}"
    );
    for (title, cell) in [
        ("SUBJECT", "CN=gatehouse-client"),
        ("THUMBPRINT", &thumb[..8]),
    ] {
        assert_eq!(
            column(header, title),
            column(line, cell),
            "{title}:\n{list}"
        );
    }
    assert_eq!(column(header, "EXPIRES"), column(line, &expires), "{list}");
    assert!(row(&list, "client-pem").contains("CN=gatehouse-ec, O=Bars"));

    // JSON for scripts: the server's document, fields as it reports them.
    let listed = cli.run("cert list --output json").ok().json();
    assert_eq!(listed, api.get("/certificates").await.expect(200).json());
    assert_eq!(listed["count"], json!(2));
    let items = listed["value"].as_array().unwrap();
    let item = items.iter().find(|c| c["name"] == "client-a").unwrap();
    assert_eq!(item["properties"]["thumbprint"], json!(thumb));

    let fields = cli.run("cert show client-a").ok().fields();
    assert_eq!(fields["subject"], "CN=gatehouse-client, O=Bars");
    assert_eq!(fields["thumbprint"], thumb);
    assert_eq!(fields["legacyEncryption"], "false");
    assert!(fields["expirationDate"].starts_with(&expires));
    // Global options also go between the command and its subcommand.
    let shown = cli.run("cert --output json show client-a").ok().json();
    assert_eq!(shown, api.get("/certificates/client-a").await.json());

    let unused = cli.run("cert usages client-a").ok();
    assert_eq!(unused.stdout, "certificate 'client-a' is not used\n");

    // Use it: an API whose gateway credentials are the certificate.
    cli.run("api create echo --path echo --service-url https://backend.internal")
        .ok();
    cli.run("api operation add echo all --method * --template /*")
        .ok();
    let creds = cli.run("api credentials echo --certificate client-a").ok();
    assert_eq!(creds.fields()["type"], "clientCertificate");
    assert_eq!(creds.fields()["certificateId"], "client-a");
    assert_eq!(creds.fields()["thumbprint"], thumb);
    assert_eq!(cli.run("api credentials echo").ok().stdout, creds.stdout);
    let policy = cli.run("policy get --api echo").ok().stdout;
    let element = r#"<authentication-certificate certificate-id="client-a" />"#;
    assert!(policy.contains(element), "{policy}");

    let usages = cli.run("cert usages client-a").ok().stdout;
    assert!(
        row(&usages, "apiPolicy").contains("/apis/echo/policies/policy"),
        "{usages}"
    );
    let usages = cli.run("cert usages client-a --output json").ok().json();
    assert_eq!(usages["value"][0]["apiId"], json!("echo"));

    // In use: refused, the API named, the reference on its own indented line.
    let refused = cli.run("cert delete client-a").refused("CertificateInUse");
    let mut report = refused.stderr.lines();
    assert!(
        report.next().unwrap().contains("API 'echo'"),
        "{}",
        refused.stderr
    );
    let detail = report.next().unwrap();
    assert!(
        detail.starts_with("  /apis/echo/policies/policy: "),
        "{}",
        refused.stderr
    );
    api.get("/certificates/client-a").await.expect(200);

    assert_eq!(
        cli.run("api credentials echo --none").ok().stdout,
        "type: none\n"
    );
    let policy = cli.run("policy get --api echo").ok().stdout;
    assert!(!policy.contains("authentication-certificate"), "{policy}");
    let deleted = cli.run("cert delete client-a").ok();
    assert_eq!(deleted.stdout, "deleted certificate 'client-a'\n");
    api.get("/certificates/client-a").await.expect(404);

    let gone = cli.run("cert show client-a").refused("ResourceNotFound");
    assert!(gone.stderr.contains("'client-a'"), "{}", gone.stderr);
    cli.run("cert delete client-a").refused("ResourceNotFound");
    let json_delete = cli.run("cert delete client-pem --output json").ok();
    assert_eq!(json_delete.stdout, "", "a 204 has nothing for scripts");
    assert_eq!(cli.run("cert list").ok().stdout, "no certificates\n");
}

#[tokio::test]
async fn ca_certificates_and_backends_with_tls_switches() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cli = Cli::new(&server);
    let pki = Pki::new();

    let der_ca = TestCa::new("Gatehouse CLI DER CA");
    let pem_ca = TestCa::new("Gatehouse CLI PEM CA");
    let der_file = pki.write("ca.der", &der_ca.der);
    let pem_file = pki.write("ca.pem", pem_ca.pem.as_bytes());
    let der_up = cli
        .run(&format!("ca upload root-der --file {}", der_file.display()))
        .ok();
    assert_eq!(der_up.fields()["thumbprint"], thumbprint(&der_ca.der));
    assert_eq!(der_up.fields()["isCa"], "true");
    cli.run(&format!("ca upload root-pem --file {}", pem_file.display()))
        .ok();

    let list = cli.run("ca list").ok().stdout;
    let header = list.lines().next().unwrap();
    assert_eq!(
        cells(header),
        ["ID", "SUBJECT", "THUMBPRINT", "EXPIRES", "CA"]
    );
    let line = cells(row(&list, "root-pem"));
    assert_eq!(
        (line[1], line[4]),
        ("CN=Gatehouse CLI PEM CA", "yes"),
        "{list}"
    );
    let listed = cli.run("ca list --output json").ok().json();
    assert_eq!(listed, api.get("/caCertificates").await.json());
    let pem_thumb = thumbprint(&pem_ca.der);
    let shown = cli.run("ca show root-pem --output json").ok().json();
    assert_eq!(shown["properties"]["thumbprint"], json!(pem_thumb));
    let unused = cli.run("ca usages root-der").ok().stdout;
    assert_eq!(unused, "CA certificate 'root-der' is not used\n");

    // A client certificate for the back end's credentials.
    let (client_pem, _) = der_ca.client("backend-client");
    let client_file = pki.write("client.pem", client_pem.as_bytes());
    cli.run(&format!(
        "cert upload client-b --pem {}",
        client_file.display()
    ))
    .ok();

    let created = cli
        .run(&format!(
            "backend create b1 --url https://backend.internal:8443 \
             --validate-chain true --validate-name false --ca root-der --ca root-pem \
             --pin {pem_thumb} --certificate client-b \
             --header X-Key=secret-one --header X-Key=@{} \
             --authorization 'Bearer tok-123' --title 'Internal back end' \
             --max-idle-connections 8",
            pki.write("second-secret", b"secret-two\n").display()
        ))
        .ok();
    // A secret file that cannot be read is a usage error, and nothing is sent.
    cli.run("backend create b2 --url https://b2.internal --header X-Key=@/nonexistent/secret")
        .expect(64);
    api.get("/backends/b2").await.expect(404);
    for secret in ["secret-one", "secret-two", "tok-123"] {
        assert!(
            !created.stdout.contains(secret),
            "{secret}: {}",
            created.stdout
        );
    }
    let fields = created.fields();
    assert_eq!(fields["tls.validateCertificateChain"], "true");
    assert_eq!(fields["tls.validateCertificateName"], "false");
    assert_eq!(fields["tls.caCertificateIds"], "root-der, root-pem");
    assert_eq!(fields["credentials.authorization.scheme"], "Bearer");

    let b1 = cli.run("backend show b1 --output json").ok().json();
    assert_eq!(b1, api.get("/backends/b1").await.expect(200).json());
    let p = &b1["properties"];
    assert_eq!(p["url"], json!("https://backend.internal:8443"));
    assert_eq!(p["title"], json!("Internal back end"));
    assert_eq!(p["tls"]["validateCertificateChain"], json!(true));
    assert_eq!(p["tls"]["validateCertificateName"], json!(false));
    assert_eq!(
        p["tls"]["caCertificateIds"],
        json!(["root-der", "root-pem"])
    );
    assert_eq!(p["tls"]["serverCertificateThumbprints"], json!([pem_thumb]));
    assert_eq!(p["credentials"]["certificateIds"], json!(["client-b"]));
    assert_eq!(
        p["credentials"]["header"]["X-Key"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(p["credentials"]["authorization"]["scheme"], json!("Bearer"));
    assert_ne!(
        p["credentials"]["authorization"]["parameter"],
        json!("tok-123")
    );
    assert_eq!(p["pool"]["maxIdleConnections"], json!(8));

    let shown = cli.run("backend show b1").ok().fields();
    assert_eq!(shown["url"], "https://backend.internal:8443");
    assert_eq!(shown["credentials.certificateIds"], "client-b");

    // Chain validation off; a switch not given keeps the default (on).
    cli.run("backend create b2 --url https://other.internal --validate-chain false")
        .ok();
    let b2 = api.get("/backends/b2").await.expect(200).json();
    assert_eq!(
        b2["properties"]["tls"]["validateCertificateChain"],
        json!(false)
    );
    assert_eq!(
        b2["properties"]["tls"]["validateCertificateName"],
        json!(true)
    );
    let list = cli.run("backend list").ok().stdout;
    assert_eq!(
        cells(row(&list, "b1"))[..5],
        [
            "b1",
            "https://backend.internal:8443",
            "yes",
            "no",
            "root-der, root-pem"
        ],
        "{list}"
    );
    assert_eq!(
        cells(row(&list, "b2"))[..4],
        ["b2", "https://other.internal", "no", "yes"],
        "{list}"
    );
    assert_eq!(
        cli.run("backend list --output json").ok().json()["count"],
        json!(2)
    );

    // An API reaching it by URL is listed; the CA and certificate name the back end.
    cli.run("api create svc --path svc --service-url https://backend.internal:8443/v1")
        .ok();
    assert!(
        cli.run("backend usages b1")
            .ok()
            .stdout
            .contains("/apis/svc")
    );
    assert!(
        cli.run("ca usages root-der")
            .ok()
            .stdout
            .contains("/backends/b1")
    );
    assert!(
        cli.run("cert usages client-b")
            .ok()
            .stdout
            .contains("/backends/b1")
    );
    let refused = cli.run("ca delete root-der").refused("CaCertificateInUse");
    assert!(
        refused.stderr.contains("/backends/b1"),
        "{}",
        refused.stderr
    );
    let in_use = cli.run("backend delete b1").refused("BackendInUse");
    assert!(in_use.stderr.contains("API 'svc'"), "{}", in_use.stderr);
    cli.run("api delete svc").ok();

    // --if-match: a stale ETag is refused, the current one deletes.
    let etag = api.get("/backends/b1").await.etag();
    cli.run("backend delete b1 --if-match '\"stale\"'")
        .refused("PreconditionFailed");
    let deleted = cli
        .run(&format!("backend delete b1 --if-match '{etag}'"))
        .ok();
    assert_eq!(deleted.stdout, "deleted back end 'b1'\n");
    cli.run("ca delete root-der").ok();
    cli.run("backend show b1").refused("ResourceNotFound");
    cli.run("ca show root-der").refused("ResourceNotFound");

    // The server's validation: the summary once, then the field on its own line.
    let missing_ca = cli
        .run("backend create b3 --url https://x.internal --ca root-der")
        .expect(65);
    assert!(
        missing_ca.stderr.contains("root-der"),
        "{}",
        missing_ca.stderr
    );
    missing_ca.assert_clean_stderr();
    let pointless = cli
        .run("backend create b3 --url https://x.internal --validate-chain false --ca root-pem")
        .expect(65);
    let report = &pointless.stderr;
    assert_eq!(report.matches("has no effect").count(), 1, "{report}");
    let detail = report.lines().nth(1).unwrap();
    assert!(
        detail.starts_with("  properties.tls.caCertificateIds: "),
        "{report}"
    );

    // Flags that do not parse are usage errors.
    for bad in [
        "--validate-chain maybe",
        "--header novalue",
        "--authorization Bearer",
    ] {
        let run = cli
            .run(&format!("backend create b3 --url https://x {bad}"))
            .expect(64);
        assert_eq!(run.stdout, "", "{bad}");
    }
}

#[tokio::test]
async fn versions_rollback_and_a_mounted_file_reference() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let cli = Cli::new(&server);
    let pki = Pki::new();
    let first = pki.self_signed("first", "/CN=first", KeyKind::EcP256);
    let second = pki.self_signed("second", "/CN=second", KeyKind::EcP256);
    let pem = |files: &crate::support::pki::CertFiles, name: &str| {
        pki.write(
            name,
            &[pki.read(&files.cert), pki.read(&files.key)].concat(),
        )
    };
    let (pem_a, pem_b) = (pem(&first, "a.pem"), pem(&second, "b.pem"));
    cli.run(&format!("cert upload rot --pem {}", pem_a.display()))
        .ok();
    cli.run(&format!("cert upload rot --pem {}", pem_b.display()))
        .ok();

    let versions = cli.run("cert versions rot").ok();
    let lines: Vec<&str> = versions.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", versions.stdout);
    assert!(
        cells(lines[1])[0].ends_with("(current)"),
        "{}",
        versions.stdout
    );
    assert_eq!(cells(lines[2])[4], "upload", "{}", versions.stdout);
    let older = cells(lines[2])[0].to_owned();
    let restored = cli.run(&format!("cert rollback rot {older}")).ok();
    assert_eq!(restored.fields()["thumbprint"], pki.thumbprint(&first.cert));
    assert_eq!(restored.fields()["source"], "rollback");
    cli.run("cert rollback rot 999999")
        .refused("VersionNotFound");

    // A mounted file, referenced and refreshed.
    let mounted = cli
        .run(&format!(
            "cert reference mounted --file {}",
            pem_b.display()
        ))
        .ok();
    assert_eq!(mounted.fields()["source"], "file");
    assert_eq!(mounted.fields()["thumbprint"], pki.thumbprint(&second.cert));
    std::fs::copy(&pem_a, &pem_b).unwrap();
    let refreshed = cli.run("cert refresh mounted").ok();
    assert_eq!(
        refreshed.fields()["thumbprint"],
        pki.thumbprint(&first.cert)
    );
    cli.run("cert refresh rot").refused("NotReferenced");
}
