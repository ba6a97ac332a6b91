//! The certificate lifecycle beyond uploads: versions and rollback, certificates referenced
//! from a mounted file and from a Key Vault (a local server speaking its protocols), refreshed
//! on demand, on an interval and when the file changes; failures recorded, never fatal.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::backend::thumbprint;
use crate::support::pki::{TestCa, openssl};
use crate::support::server::Api;
use crate::support::setup::{mtls_setup, mtls_setup_with, upload_pem, use_certificate};
use crate::support::vault::{CLIENT_SECRET, Imds, Vault, VaultMode};

/// The thumbprint the back end saw on a call through the gateway.
async fn presented(gw: &Api) -> String {
    let r = gw.get("/echo/who").await.expect(200);
    r.json()["clientThumbprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until calls present `thumb`; how long it took.
async fn until_presented(gw: &Api, thumb: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if presented(gw).await == thumb {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{thumb} was not presented within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /certificates/{id}/refreshSecret`: the certificate as it answers.
async fn refresh(api: &Api, id: &str) -> Value {
    api.send(
        "POST",
        &format!("/certificates/{id}/refreshSecret"),
        Vec::new(),
        &[],
    )
    .await
    .expect(200)
    .json()
}

/// A client certificate of `ca`: (PEM certificate, PEM key, thumbprint).
fn client(ca: &TestCa, cn: &str) -> (String, String, String) {
    let (pem, der) = ca.client(cn);
    let at = pem.find("-----BEGIN PRIVATE KEY").unwrap();
    (pem[..at].to_owned(), pem[at..].to_owned(), thumbprint(&der))
}

/// A .pfx of a PEM certificate and key, with `password`.
fn pfx(cert: &str, key: &str, password: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.pem"), format!("{cert}{key}")).unwrap();
    let pass = format!("pass:{password}");
    openssl(
        dir.path(),
        &[
            "pkcs12", "-export", "-in", "in.pem", "-passout", &pass, "-out", "out.pfx",
        ],
    );
    std::fs::read(dir.path().join("out.pfx")).unwrap()
}

/// Writes `contents` to `path` as Kubernetes updates a mounted secret: a new file renamed
/// over the old one.
fn replace(path: &std::path::Path, contents: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn status(cert: &Value, kind: &str) -> String {
    cert["properties"][kind]["lastStatus"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_kept_and_a_rollback_restores_the_old_certificate_at_the_back_end() {
    let setup = mtls_setup(|_| {}).await;
    let (api, gw, ca) = (&setup.api, &setup.gw, &setup.ca);
    let (pem_a, _) = ca.client("version-a");
    let thumb_a = upload_pem(api, "rot", &pem_a).await;
    use_certificate(api, "echo", "rot").await;
    assert_eq!(presented(gw).await, thumb_a);
    let (pem_b, _) = ca.client("version-b");
    let thumb_b = upload_pem(api, "rot", &pem_b).await;
    assert_eq!(presented(gw).await, thumb_b);

    let versions = api
        .get("/certificates/rot/versions")
        .await
        .expect(200)
        .json();
    let list = versions["value"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["thumbprint"], json!(thumb_b));
    assert_eq!(list[0]["current"], json!(true));
    assert_eq!(list[1]["thumbprint"], json!(thumb_a));
    assert_eq!(list[1]["source"], json!("upload"));
    let version_a = list[1]["version"].as_u64().unwrap();

    // An unknown version is refused and nothing changes.
    let refused = api
        .send(
            "POST",
            "/certificates/rot/rollback",
            br#"{"version": 99999}"#.to_vec(),
            &[],
        )
        .await
        .expect(400);
    assert_eq!(refused.code(), "VersionNotFound", "{}", refused.text());
    assert_eq!(presented(gw).await, thumb_b);

    let rolled = api
        .send(
            "POST",
            "/certificates/rot/rollback",
            format!(r#"{{"version": {version_a}}}"#).into_bytes(),
            &[],
        )
        .await
        .expect(200);
    let rolled = rolled.json();
    assert_eq!(rolled["properties"]["thumbprint"], json!(thumb_a));
    assert_eq!(rolled["properties"]["source"], json!("rollback"));
    assert!(rolled["properties"]["version"].as_u64().unwrap() > version_a);
    // The next call presents the old certificate again.
    assert_eq!(presented(gw).await, thumb_a);

    // Five earlier versions are kept, no more.
    for i in 0..6 {
        let (pem, _) = ca.client(&format!("more-{i}"));
        upload_pem(api, "rot", &pem).await;
    }
    let versions = api.get("/certificates/rot/versions").await.json();
    assert_eq!(versions["value"].as_array().unwrap().len(), 6);
    // No key material in any answer.
    assert!(!versions.to_string().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mounted_file_is_read_again_when_it_changes() {
    let setup = mtls_setup(|_| {}).await;
    let (api, gw, ca, server) = (&setup.api, &setup.gw, &setup.ca, &setup.server);
    let mount = tempfile::tempdir().unwrap();
    let (crt, key) = (mount.path().join("tls.crt"), mount.path().join("tls.key"));
    let (cert_a, key_a, thumb_a) = client(ca, "file-a");
    std::fs::write(&crt, &cert_a).unwrap();
    std::fs::write(&key, &key_a).unwrap();

    let relative = api
        .put(
            "/certificates/mounted",
            &json!({"properties": {"file": {"path": "tls.crt"}}}),
        )
        .await
        .expect(400);
    assert!(relative.text().contains("absolute"), "{}", relative.text());

    let created = api
        .put(
            "/certificates/mounted",
            &json!({"properties": {"file": {"path": crt, "keyPath": key}}}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(created["properties"]["source"], json!("file"));
    assert_eq!(status(&created, "file"), "Success");
    use_certificate(api, "echo", "mounted").await;
    assert_eq!(presented(gw).await, thumb_a);

    // Replaced as Kubernetes does: read again without being asked.
    let (cert_b, key_b, thumb_b) = client(ca, "file-b");
    replace(&key, key_b.as_bytes());
    replace(&crt, cert_b.as_bytes());
    let took = until_presented(gw, &thumb_b, Duration::from_secs(10)).await;
    println!("a replaced mounted file was presented after {took:?}");

    // A .pfx with its password in a file; a wrong password is refused at save.
    let (cert_c, key_c, thumb_c) = client(ca, "file-c");
    std::fs::write(
        mount.path().join("keystore.p12"),
        pfx(&cert_c, &key_c, "s3cret"),
    )
    .unwrap();
    std::fs::write(mount.path().join("password"), "wrong\n").unwrap();
    let file = json!({"properties": {"file": {
        "path": mount.path().join("keystore.p12"),
        "passwordFile": mount.path().join("password")}}});
    let wrong = api.put("/certificates/keystore", &file).await.expect(400);
    assert_eq!(wrong.code(), "PasswordIncorrect", "{}", wrong.text());
    api.get("/certificates/keystore").await.expect(404);
    std::fs::write(mount.path().join("password"), "s3cret\n").unwrap();
    let keystore = api
        .put("/certificates/keystore", &file)
        .await
        .expect(201)
        .json();
    assert_eq!(keystore["properties"]["thumbprint"], json!(thumb_c));

    // The file gone: the refresh fails, says why, and calls keep the last good version.
    std::fs::remove_file(&crt).unwrap();
    let refreshed = refresh(api, "mounted").await;
    assert_eq!(status(&refreshed, "file"), "FileUnreadable", "{refreshed}");
    assert_eq!(presented(gw).await, thumb_b);
    let failed = api
        .get("/certificates?isKeyVaultRefreshFailed=true")
        .await
        .json();
    assert_eq!(failed["count"], json!(1));
    assert_eq!(failed["value"][0]["name"], json!("mounted"));
    let filtered = api
        .get("/certificates?$filter=file/lastStatus/code%20ne%20'Success'%20and%20source%20eq%20'file'")
        .await
        .expect(200)
        .json();
    assert_eq!(filtered["count"], json!(1), "{filtered}");
    assert!(
        api.get("/metrics")
            .await
            .text()
            .contains("gatehouse_certificate_refresh_failures_total{certificate=\"mounted\"}")
    );

    // Back: the next refresh succeeds again.
    std::fs::write(&crt, &cert_b).unwrap();
    let refreshed = refresh(api, "mounted").await;
    assert_eq!(status(&refreshed, "file"), "Success");

    // An uploaded certificate has nothing to refresh.
    let (pem, _) = ca.client("uploaded");
    upload_pem(api, "uploaded", &pem).await;
    let refused = api
        .send(
            "POST",
            "/certificates/uploaded/refreshSecret",
            Vec::new(),
            &[],
        )
        .await
        .expect(400);
    assert_eq!(refused.code(), "NotReferenced");
    assert!(!server.logs().contains("BEGIN PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_vault_secret_is_fetched_refreshed_and_survives_the_vault_going_away() {
    let ca = TestCa::new("Vault and back end CA");
    let vault = Vault::start(&ca).await;
    let trust = tempfile::tempdir().unwrap();
    let ca_file = trust.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (cert_a, key_a, thumb_a) = client(&ca, "vault-a");
    vault.set_secret(&format!("{cert_a}{key_a}"), "application/x-pem-file");
    let authority = vault.authority();
    let setup = mtls_setup_with(
        ca,
        |_| {},
        |options| {
            options.env.extend([
                ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
                ("AZURE_TENANT_ID".into(), "test-tenant".into()),
                ("AZURE_CLIENT_ID".into(), "test-client".into()),
                ("AZURE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
                ("AZURE_AUTHORITY_HOST".into(), authority),
            ]);
            options
                .args
                .extend(["--secret-refresh-interval".into(), "2".into()]);
        },
    )
    .await;
    let (api, gw, ca, server) = (&setup.api, &setup.gw, &setup.ca, &setup.server);

    let bad = api
        .put(
            "/certificates/kv",
            &json!({"properties": {"keyVault": {"secretIdentifier": "http://vault/keys/x"}}}),
        )
        .await
        .expect(400);
    assert_eq!(bad.code(), "InvalidSecretIdentifier");

    let reference =
        json!({"properties": {"keyVault": {"secretIdentifier": vault.secret_url("client")}}});
    let created = api
        .put("/certificates/kv", &reference)
        .await
        .expect(201)
        .json();
    assert_eq!(created["properties"]["thumbprint"], json!(thumb_a));
    assert_eq!(status(&created, "keyVault"), "Success");
    assert_eq!(created["properties"]["source"], json!("keyVault"));
    use_certificate(api, "echo", "kv").await;
    assert_eq!(presented(gw).await, thumb_a);

    // A new version in the vault, as a .pfx: refreshSecret presents it on the next call.
    let (cert_b, key_b, thumb_b) = client(ca, "vault-b");
    let pkcs12 = base64::engine::general_purpose::STANDARD.encode(pfx(&cert_b, &key_b, ""));
    vault.set_secret(&pkcs12, "application/x-pkcs12");
    let refreshed = refresh(api, "kv").await;
    assert_eq!(refreshed["properties"]["thumbprint"], json!(thumb_b));
    assert_eq!(presented(gw).await, thumb_b);

    // Another version, found by the interval (2 s here) without being asked.
    let (cert_c, key_c, thumb_c) = client(ca, "vault-c");
    vault.set_secret(&format!("{cert_c}{key_c}"), "application/x-pem-file");
    let took = until_presented(gw, &thumb_c, Duration::from_secs(10)).await;
    println!("a new vault version was presented {took:?} after it was stored");

    // The vault down: lastStatus says so, calls keep the last good version; back up, the next
    // refresh succeeds again.
    vault.set_mode(VaultMode::Down);
    let down = refresh(api, "kv").await;
    assert_eq!(status(&down, "keyVault"), "VaultUnreachable", "{down}");
    assert_eq!(presented(gw).await, thumb_c);
    vault.set_mode(VaultMode::Up);
    let up = refresh(api, "kv").await;
    assert_eq!(status(&up, "keyVault"), "Success", "{up}");

    // The vault refuses: lastStatus says so, calls keep the last good version.
    vault.set_mode(VaultMode::Unauthorized);
    let refused = refresh(api, "kv").await;
    assert_eq!(status(&refused, "keyVault"), "Unauthorized", "{refused}");
    assert!(
        refused["properties"]["keyVault"]["lastStatus"]["message"]
            .as_str()
            .unwrap()
            .contains("Key Vault Secrets User")
    );
    assert_eq!(presented(gw).await, thumb_c);
    let failed = api
        .get("/certificates?$filter=keyVault/lastStatus/code%20ne%20'Success'")
        .await
        .json();
    assert_eq!(failed["count"], json!(1), "{failed}");

    // A reference the vault refuses is not saved.
    let other =
        json!({"properties": {"keyVault": {"secretIdentifier": vault.secret_url("other")}}});
    let refused = api.put("/certificates/kv2", &other).await.expect(400);
    assert_eq!(refused.code(), "Unauthorized");
    api.get("/certificates/kv2").await.expect(404);

    // The vault gone (and its token endpoint with it: the refused token was forgotten): the
    // refresh fails, saying which endpoint; calls still work.
    let requests = vault.secret_requests();
    assert!(requests >= 4, "{requests}");
    drop(vault);
    let gone = refresh(api, "kv").await;
    assert_eq!(status(&gone, "keyVault"), "TokenUnavailable", "{gone}");
    // Refused, or reset while the vault's listener closes: either way the endpoint is named.
    let message = gone["properties"]["keyVault"]["lastStatus"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with("the token endpoint")
            && (message.contains("cannot connect") || message.contains("reset")),
        "{gone}"
    );
    assert_eq!(presented(gw).await, thumb_c);

    // Secrets never logged: the client secret, the token, key material.
    let logs = server.logs();
    for secret in [
        CLIENT_SECRET,
        "test-access-token-1",
        "PRIVATE KEY",
        &pkcs12[..40],
    ] {
        assert!(!logs.contains(secret), "{secret} in the log");
    }
    let versions = api.get("/certificates/kv/versions").await.json();
    let sources: Vec<&str> = versions["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["keyVault", "keyVault", "keyVault"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_measured_warned_filtered_and_shown() {
    let setup = mtls_setup(|_| {}).await;
    let (api, gw, ca, server) = (&setup.api, &setup.gw, &setup.ca, &setup.server);
    let (soon_pem, _) = ca.client_dated("expires-soon", -1, 10);
    let (later_pem, _) = ca.client_dated("expires-later", -1, 90);
    let soon = upload_pem(api, "soon", &soon_pem).await;
    upload_pem(api, "later", &later_pem).await;
    use_certificate(api, "echo", "later").await;
    presented(gw).await;

    let metrics = api.get("/metrics").await.text();
    for needle in [
        format!(
            "gatehouse_certificate_expiry_timestamp_seconds{{kind=\"client\",id=\"soon\",thumbprint=\"{soon}\"}}"
        ),
        "gatehouse_certificate_expiry_timestamp_seconds{kind=\"ca\",id=\"test-ca\"".to_owned(),
        "gatehouse_certificate_expiry_timestamp_seconds{kind=\"backend\",id=\"svc\"".to_owned(),
    ] {
        assert!(metrics.contains(&needle), "{needle} not in:\n{metrics}");
    }

    assert!(
        server.wait_for_log("the certificate expires soon"),
        "{}",
        server.logs()
    );
    let warning = server
        .logs()
        .lines()
        .find(|l| l.contains("expires soon") && l.contains("id=soon"))
        .unwrap_or_default()
        .to_owned();
    assert!(warning.contains("days_left=9"), "{warning}");
    assert!(
        !server.logs().contains("id=later"),
        "no warning for a certificate far from expiry"
    );

    let horizon = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).date();
    let expiring = api
        .get(&format!(
            "/certificates?$filter=expirationDate%20lt%20'{horizon}'"
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(expiring["count"], json!(1), "{expiring}");
    assert_eq!(expiring["value"][0]["name"], json!("soon"));
    let page = api.get("/certificates?$top=1").await.json();
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert!(
        page["nextLink"].as_str().unwrap().contains("$skip=1"),
        "{page}"
    );

    let portal = crate::support::portal::Browser::sign_in(server).await;
    let badge = portal.get("/ui/expiring").await.text();
    // "soon", and the test CA (valid for 30 days).
    assert!(
        badge.contains("2 certificates expire within 30 days"),
        "{badge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_identity_reads_the_vault_when_no_client_secret_is_set() {
    let ca = TestCa::new("Vault CA");
    let vault = Vault::start(&ca).await;
    let imds = Imds::start().await;
    let trust = tempfile::tempdir().unwrap();
    let ca_file = trust.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (cert, key, thumb) = client(&ca, "managed");
    vault.set_secret(&format!("{cert}{key}"), "application/x-pem-file");
    let endpoint = format!("http://{}", imds.addr);
    let setup = mtls_setup_with(
        ca,
        |_| {},
        |options| {
            options.env.extend([
                ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), endpoint),
            ]);
        },
    )
    .await;
    let (api, gw) = (&setup.api, &setup.gw);
    let reference = json!({"properties": {"keyVault": {
        "secretIdentifier": vault.secret_url("client"), "identityClientId": "user-assigned-1"}}});
    let created = api
        .put("/certificates/mi", &reference)
        .await
        .expect(201)
        .json();
    assert_eq!(created["properties"]["thumbprint"], json!(thumb));
    assert_eq!(
        created["properties"]["keyVault"]["identityClientId"],
        json!("user-assigned-1")
    );
    use_certificate(api, "echo", "mi").await;
    assert_eq!(presented(gw).await, thumb);
    // The user-assigned identity was asked for; the token is cached for the next fetch.
    refresh(api, "mi").await;
    assert_eq!(*imds.client_ids.lock().unwrap(), ["user-assigned-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_in_the_audit_trail_with_who_and_from_where() {
    let setup = mtls_setup(|_| {}).await;
    let (api, ca, server) = (&setup.api, &setup.ca, &setup.server);
    let (pem, _) = ca.client("audited");
    upload_pem(api, "audited", &pem).await;
    use_certificate(api, "echo", "audited").await;
    api.delete("/certificates/audited").await.expect(409);

    // Through the portal: the session's name, not its cookie.
    let browser = crate::support::portal::Browser::sign_in(server).await;
    let reply = browser
        .post("/ui/apis/echo/credentials", &[("kind", "none")])
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());

    let trail = api
        .get("/auditEvents?$filter=entityId%20eq%20'audited'")
        .await
        .expect(200)
        .json();
    assert_eq!(trail["count"], json!(1), "{trail}");
    let event = &trail["value"][0]["properties"];
    assert_eq!(event["operation"], json!("create"));
    assert_eq!(event["entityKind"], json!("certificate"));
    assert_eq!(event["actor"], json!("admin token"));
    assert_eq!(event["via"], json!("api"));
    assert_eq!(event["address"], json!("127.0.0.1"));
    assert!(event["revisionAfter"].as_u64() > event["revisionBefore"].as_u64());

    let policy = api
        .get("/auditEvents?$filter=entityKind%20eq%20'policy'")
        .await
        .json();
    let actors: Vec<&str> = policy["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors.len(), 2, "{policy}");
    assert!(actors[0].starts_with("portal session "), "{actors:?}");
    assert_eq!(actors[1], "admin token");
    let cookie_value = browser.cookie.split_once('=').map_or("", |(_, v)| v);
    assert!(!policy.to_string().contains(cookie_value));

    // The refused delete left nothing; the portal page lists the same trail.
    assert!(
        !api.get("/auditEvents").await.text().contains("\"delete\""),
        "a refused change is not in the trail"
    );
    let page = browser.get("/ui/audit").await.text();
    assert!(
        page.contains("portal session") && page.contains("audited"),
        "{page}"
    );
}
