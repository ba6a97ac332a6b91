//! Policies, gateway credentials, and deleting certificates that are in use.

use serde_json::{Value, json};

use base64::Engine as _;

use crate::support::backend::{self, Mode};
use crate::support::pki::{KeyKind, Pki, b64};
use crate::support::server::{Api, Options, start};
use crate::support::setup::{base, echo_api};
use crate::support::{changed_files, data_dir_state};

const PASSWORD: &str = "Pfx-Passw0rd!";

async fn upload(api: &Api, pki: &Pki, id: &str) -> Value {
    let files = pki.self_signed(id, &format!("/O=Bars/CN={id}"), KeyKind::EcP256);
    let pfx = pki.pfx(&files, PASSWORD, false);
    api.put(
        &format!("/certificates/{id}"),
        &json!({"properties": {"data": b64(&pfx), "password": PASSWORD}}),
    )
    .await
    .expect(201)
    .json()
}

fn policy(xml: &str) -> Value {
    json!({"properties": {"format": "rawxml", "value": xml}})
}

#[tokio::test]
async fn gateway_credentials_write_the_policy_element() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let cert = upload(&api, &pki, "client-a").await;
    echo_api(&api, "https://backend.example").await;

    let none = api
        .get("/apis/echo/gatewayCredentials")
        .await
        .expect(200)
        .json();
    assert_eq!(none["properties"]["type"], json!("none"));

    let set = api
        .put(
            "/apis/echo/gatewayCredentials",
            &json!({"properties": {"type": "clientCertificate", "certificateId": "client-a"}}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(
        set["properties"]["thumbprint"],
        cert["properties"]["thumbprint"]
    );
    let xml = api
        .get("/apis/echo/policies/policy")
        .await
        .expect(200)
        .json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        xml.contains(r#"<authentication-certificate certificate-id="client-a" />"#),
        "{xml}"
    );
    assert!(xml.contains("<base />"), "{xml}");

    // Editing keeps what the operator wrote around it.
    let custom = xml.replace(
        "<base />\n",
        "<base />\n        <!-- keep me -->\n        <set-header name=\"X-Trace\" exists-action=\"skip\"><value>1</value></set-header>\n",
    );
    api.put("/apis/echo/policies/policy", &policy(&custom))
        .await
        .expect(200);
    upload(&api, &pki, "client-b").await;
    api.put(
        "/apis/echo/gatewayCredentials",
        &json!({"properties": {"type": "clientCertificate", "certificateId": "client-b"}}),
    )
    .await
    .expect(200);
    let after = api.get("/apis/echo/policies/policy").await.json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(after, custom.replace("client-a", "client-b"));

    let missing = api
        .put(
            "/apis/echo/gatewayCredentials",
            &json!({"properties": {"type": "clientCertificate", "certificateId": "nope"}}),
        )
        .await
        .expect(400);
    assert_eq!(missing.code(), "CertificateNotFound");
}

#[tokio::test]
async fn deleting_a_certificate_in_use_is_refused_until_released() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    upload(&api, &pki, "client-a").await;
    echo_api(&api, "https://backend.example").await;
    api.put(
        "/apis/echo/gatewayCredentials",
        &json!({"properties": {"type": "clientCertificate", "certificateId": "client-a"}}),
    )
    .await
    .expect(200);
    api.put("/backends/b1", &json!({"properties": {"url": "https://other.example", "credentials": {"certificateIds": ["client-a"]}}}))
        .await
        .expect(201);

    let usages = api
        .get("/certificates/client-a/usages")
        .await
        .expect(200)
        .json();
    let kinds: Vec<&str> = usages["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"apiPolicy") && kinds.contains(&"backend"),
        "{usages}"
    );

    let before = data_dir_state(dir.path());
    let refused = api.delete("/certificates/client-a").await.expect(409);
    assert_eq!(refused.code(), "CertificateInUse");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API 'echo'"),
        "{}",
        refused.text()
    );
    let targets: Vec<&str> = vec!["/apis/echo/policies/policy", "/backends/b1"];
    for t in targets {
        assert!(refused.text().contains(t), "{t} in {}", refused.text());
    }
    let changed = changed_files(&before, &data_dir_state(dir.path()));
    assert!(
        changed.is_empty(),
        "a refused delete changed the data dir: {changed:?}"
    );

    api.put(
        "/apis/echo/gatewayCredentials",
        &json!({"properties": {"type": "none"}}),
    )
    .await
    .expect(200);
    api.delete("/backends/b1").await.expect(204);
    let xml = api.get("/apis/echo/policies/policy").await.json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!xml.contains("authentication-certificate"), "{xml}");
    assert_eq!(
        api.get("/certificates/client-a/usages").await.json()["count"],
        json!(0)
    );

    // A policy edit releases it too: reference by thumbprint in an operation policy.
    let thumb = api.get("/certificates/client-a").await.json()["properties"]["thumbprint"]
        .as_str()
        .unwrap()
        .to_string();
    let op_policy = format!(
        "<policies><inbound><base /><authentication-certificate thumbprint=\"{}\" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>",
        thumb.to_lowercase()
    );
    api.put(
        "/apis/echo/operations/all/policies/policy",
        &policy(&op_policy),
    )
    .await
    .expect(201);
    let refused = api.delete("/certificates/client-a").await.expect(409);
    assert!(
        refused
            .text()
            .contains("/apis/echo/operations/all/policies/policy"),
        "{}",
        refused.text()
    );
    api.put(
        "/apis/echo/operations/all/policies/policy",
        &policy("<policies><inbound><base /></inbound></policies>"),
    )
    .await
    .expect(200);

    let etag = api.get("/certificates/client-a").await.etag();
    api.delete_with("/certificates/client-a", &[])
        .await
        .expect(428);
    api.delete_with("/certificates/client-a", &[("if-match", "\"stale-9\"")])
        .await
        .expect(412);
    api.delete_with("/certificates/client-a", &[("if-match", &etag)])
        .await
        .expect(204);
    api.get("/certificates/client-a").await.expect(404);
}

#[tokio::test]
async fn invalid_policies_are_refused_with_locations() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    echo_api(&api, "https://backend.example").await;
    upload(&api, &pki, "client-a").await;
    let before = data_dir_state(dir.path());
    let cases = [
        ("<policies><inbound>", "PolicyXmlMalformed"),
        (
            "<!DOCTYPE x [<!ENTITY a \"b\">]><policies/>",
            "PolicyDoctypeNotAllowed",
        ),
        (
            "<policies><inbound><rewrite-uri template=\"/\" /></inbound></policies>",
            "PolicyUnknownElement",
        ),
        (
            "<policies><inbound>\n  <authentication-certificate certifcate-id=\"client-a\" />\n</inbound></policies>",
            "PolicyUnknownAttribute",
        ),
        (
            "<policies><inbound><set-header name=\"x\"><value>@(context.Request.Id)</value></set-header></inbound></policies>",
            "PolicyExpressionNotSupported",
        ),
        (
            "<policies><inbound><authentication-certificate certificate-id=\"missing\" /></inbound></policies>",
            "CertificateNotFound",
        ),
        (
            "<policies><inbound><set-backend-service backend-id=\"missing\" /></inbound></policies>",
            "BackendNotFound",
        ),
    ];
    for (xml, code) in cases {
        let reply = api
            .put("/apis/echo/policies/policy", &policy(xml))
            .await
            .expect(400);
        let body = reply.json();
        let codes: Vec<&str> = body["error"]["details"].as_array().map_or(vec![], |d| {
            d.iter().map(|d| d["code"].as_str().unwrap()).collect()
        });
        assert!(
            reply.code() == code || codes.contains(&code),
            "{xml}: {}",
            reply.text()
        );
        assert!(
            body["error"]["details"][0]["target"].as_str().is_some(),
            "{xml}: no target"
        );
    }
    // The location names the element and its line.
    let reply = api
        .put("/apis/echo/policies/policy", &policy(cases[3].0))
        .await;
    let target = reply.json()["error"]["details"][0]["target"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        target.contains("authentication-certificate") && target.contains("line 2"),
        "{target}"
    );
    let reply = api
        .put("/apis/echo/policies/policy", &policy(cases[5].0))
        .await;
    assert!(
        reply.text().contains("/apis/echo/policies/policy"),
        "{}",
        reply.text()
    );
    let changed = changed_files(&before, &data_dir_state(dir.path()));
    assert!(changed.is_empty(), "the data dir changed: {changed:?}");
    api.get("/apis/echo/policies/policy").await.expect(404);
    api.put("/apis/nope/policies/policy", &policy("<policies />"))
        .await
        .expect(404);
}

#[tokio::test]
async fn following_redirects_is_refused_as_not_supported() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    echo_api(&api, "https://backend.example").await;
    let before = data_dir_state(dir.path());
    let follow = "<policies>\n    <backend>\n        <forward-request follow-redirects=\"true\" />\n    </backend>\n</policies>";
    for path in ["/policies/policy", "/apis/echo/policies/policy"] {
        let reply = api.put(path, &policy(follow)).await.expect(400);
        assert_eq!(reply.code(), "NotSupported", "{}", reply.text());
        let error = &reply.json()["error"];
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("follow-redirects=\"true\""),
            "{error}"
        );
        assert_eq!(error["details"][0]["code"], json!("NotSupported"));
        assert_eq!(
            error["details"][0]["target"],
            json!("policies/backend/forward-request[1] (line 3, column 9)")
        );
    }
    let changed = changed_files(&before, &data_dir_state(dir.path()));
    assert!(changed.is_empty(), "the data dir changed: {changed:?}");
    api.get("/apis/echo/policies/policy").await.expect(404);
    // What the gateway does is accepted.
    api.put(
        "/apis/echo/policies/policy",
        &policy(&follow.replace("true", "false")),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn basic_credentials_are_masked_and_kept() {
    let backend = backend::start(backend::Options::plain(Mode::Echo)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    echo_api(&api, &base(&backend, "127.0.0.1", "http")).await;
    let secret = "basic-Secret-7781";
    let set = api
        .put(
            "/apis/echo/gatewayCredentials",
            &json!({"properties": {"type": "basic", "username": "svc", "password": secret}}),
        )
        .await
        .expect(200);
    assert!(!set.text().contains(secret));
    assert_eq!(set.json()["properties"]["username"], json!("svc"));
    let doc = api.get("/apis/echo/policies/policy").await.expect(200);
    assert!(!doc.text().contains(secret), "{}", doc.text());
    let xml = doc.json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        xml.contains(r#"<authentication-basic username="svc" password="******" />"#),
        "{xml}"
    );

    // PUT back the masked document: the stored password stays, and it is what the back end
    // still receives.
    api.put("/apis/echo/policies/policy", &policy(&xml))
        .await
        .expect(200);
    server.gateway().get("/echo/x").await.expect(200);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{secret}"));
    assert_eq!(
        backend.last().headers["authorization"],
        format!("Basic {basic}")
    );
    // A new username with the mask has no stored password to keep: refused.
    let reply = api
        .put(
            "/apis/echo/policies/policy",
            &policy(&xml.replace("svc", "other")),
        )
        .await
        .expect(400);
    assert_eq!(reply.code(), "PolicySecretMasked");
    server.gateway().get("/echo/y").await.expect(200);
    assert_eq!(
        backend.last().headers["authorization"],
        format!("Basic {basic}"),
        "the refused change left the stored password in use"
    );
    for (name, bytes) in crate::support::all_files(dir.path()) {
        assert!(
            !crate::support::contains(&bytes, secret.as_bytes()),
            "password in plain text in {name}"
        );
    }
}
