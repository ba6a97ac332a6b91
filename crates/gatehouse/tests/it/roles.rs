//! Named tokens and roles: every route of the route table with every role, a token's value
//! shown once and never stored, revocation from the next request on (portal sessions too),
//! expiry, and a portal that offers each role only what it may do.

use gatehouse_model::entity::token::Role;
use serde_json::json;

use crate::support::all_files;
use crate::support::portal::Browser;
use crate::support::server::{Api, Options, Server, start};

/// Makes a token with the bootstrap token; returns its value.
async fn make(server: &Server, name: &str, role: &str) -> String {
    let reply = server
        .api()
        .send(
            "POST",
            "/tokens",
            serde_json::to_vec(&json!({"properties": {"name": name, "role": role}})).unwrap(),
            &[],
        )
        .await
        .expect(201);
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(
        reply.headers["location"],
        format!("/tokens/{name}").as_str()
    );
    let value = reply.json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(value.starts_with("ghk_") && value.len() == 68, "{value}");
    value
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_route_table_declares() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let mut clients: Vec<(Role, Api)> = Vec::new();
    for role in Role::ALL {
        let value = make(&server, &format!("t-{role}"), role.as_str()).await;
        clients.push((role, server.api().with_token(Some(&value))));
    }
    // The bootstrap token is an admin too.
    clients.push((Role::Admin, server.api()));
    let mut checked = 0;
    for route in gatehouse_admin::routes::ROUTES {
        let (method, path) = (route.method, route.path);
        // Ids that exist nowhere: an allowed call fails on its own terms (404, 400, 428) and
        // changes nothing, so the order of the walk does not matter.
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "none-such" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for (role, api) in &clients {
            let reply = api.send(method, &concrete, b"{}".to_vec(), &[]).await;
            let status = reply.status.as_u16();
            if role.allows(route.role) {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {role} (route needs {}): {status} {}",
                    route.role,
                    reply.text()
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role}: {}", reply.text());
                assert_eq!(reply.code(), "Forbidden");
                let message = reply.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert!(
                    message.contains(&format!("needs the {} role", route.role))
                        && message.contains(&format!("is a {role}")),
                    "{message}"
                );
            }
            checked += 1;
        }
    }
    // What the table declares is what the OpenAPI document says.
    let doc = server.api().get("/openapi.json").await.expect(200).json();
    for route in gatehouse_admin::routes::ROUTES {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        assert_eq!(
            op["x-gatehouse-role"],
            json!(route.role.as_str()),
            "{}",
            route.path
        );
    }
    // Nothing a reader may do changes anything; every write route needs more.
    for route in gatehouse_admin::routes::ROUTES {
        if route.method != "GET" {
            assert!(route.role > Role::Reader, "{} {}", route.method, route.path);
        }
        if route.path.starts_with("/tokens") {
            assert_eq!(route.role, Role::Admin, "{}", route.path);
        }
    }
    println!(
        "{} routes x {} tokens: {checked} calls",
        gatehouse_admin::routes::ROUTES.len(),
        clients.len()
    );
}

#[tokio::test]
async fn a_token_is_shown_once_kept_as_a_hash_and_revoked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(Options::new(dir.path()));
    let admin = server.api();
    let value = make(&server, "deploy", "operator").await;
    let operator = admin.with_token(Some(&value));

    // Never again: not in a read, a list, the audit trail or any file of the data dir.
    let one = admin.get("/tokens/deploy").await.expect(200);
    assert!(!one.text().contains(&value));
    assert_eq!(one.json()["properties"]["role"], json!("operator"));
    assert_eq!(one.json()["properties"]["createdBy"], json!("admin token"));
    let list = admin.get("/tokens").await.expect(200).json();
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bootstrap", "deploy"]);
    assert!(!list.to_string().contains(&value));
    assert!(!list.to_string().contains("hash"));

    // The operator changes what operators change, under its own name in the audit trail.
    operator
        .put(
            "/backends/b",
            &json!({"properties": {"url": "https://b.example"}}),
        )
        .await
        .expect(201);
    let events = admin.get("/auditEvents?$top=1").await.expect(200).json();
    assert_eq!(
        events["value"][0]["properties"]["actor"],
        json!("token deploy")
    );
    assert!(!events.to_string().contains(&value));
    // ... but cannot make itself an admin.
    let escalate = operator
        .send(
            "POST",
            "/tokens",
            serde_json::to_vec(&json!({"properties": {"name": "root", "role": "admin"}})).unwrap(),
            &[],
        )
        .await
        .expect(403);
    assert_eq!(escalate.code(), "Forbidden");

    // Names are unique; bad input changes nothing.
    let again = admin
        .send(
            "POST",
            "/tokens",
            serde_json::to_vec(&json!({"properties": {"name": "deploy", "role": "reader"}}))
                .unwrap(),
            &[],
        )
        .await
        .expect(409);
    assert_eq!(again.code(), "TokenExists");
    for bad in [
        json!({"properties": {"name": "x", "role": "root"}}),
        json!({"properties": {"name": "bootstrap", "role": "reader"}}),
        json!({"properties": {"name": "x", "role": "reader", "expiresAt": "2001-01-01T00:00:00Z"}}),
        json!({"properties": {"name": "x", "role": "reader", "value": "chosen"}}),
    ] {
        admin
            .send("POST", "/tokens", serde_json::to_vec(&bad).unwrap(), &[])
            .await
            .expect(400);
    }
    assert_eq!(admin.get("/tokens").await.json()["count"], json!(2));
    admin.delete("/tokens/bootstrap").await.expect(409);

    // Kept across a restart, as a hash only.
    server.stop();
    let server = start(server.options.clone());
    let operator = server.api().with_token(Some(&value));
    operator.get("/backends/b").await.expect(200);
    for (path, bytes) in all_files(dir.path()) {
        assert!(
            !crate::support::contains(&bytes, value.as_bytes()),
            "{path} holds the token"
        );
    }

    // Revoked: the next request is refused, and the portal session it opened has ended.
    let browser = Browser::sign_in_with(&server, &value).await;
    browser.get("/ui/backends").await.expect(200);
    server.api().delete("/tokens/deploy").await.expect(204);
    operator.get("/backends/b").await.expect(401);
    let page = browser.get("/ui/backends").await;
    assert_eq!(page.status.as_u16(), 303, "a revoked token's session ends");
    assert_eq!(page.headers["location"], "/login");
}

#[tokio::test]
async fn a_certificate_the_tls_listener_presents_is_changed_only_by_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let admin = server.api();
    let ca = crate::support::pki::TestCa::new("Roles CA");
    let upload = |cn: &str| json!({"properties": {"pem": ca.server_pem(&[cn])}});
    admin
        .put("/certificates/front", &upload("front.example"))
        .await
        .expect(201);
    admin
        .put("/certificates/other", &upload("other.example"))
        .await
        .expect(201);
    admin
        .put(
            "/hostnameConfigurations/front",
            &json!({"properties": {"hostName": "front.example", "certificateId": "front"}}),
        )
        .await
        .expect(201);
    let operator = admin.with_token(Some(&make(&server, "ops", "operator").await));
    let refused = operator
        .put("/certificates/front", &upload("evil.example"))
        .await
        .expect(403);
    assert!(
        refused.text().contains("hostname configuration(s) front"),
        "{}",
        refused.text()
    );
    let rollback = operator
        .send(
            "POST",
            "/certificates/front/rollback",
            br#"{"version": 1}"#.to_vec(),
            &[],
        )
        .await
        .expect(403);
    assert_eq!(rollback.code(), "Forbidden");
    assert!(
        admin
            .get("/certificates/front")
            .await
            .text()
            .contains("front.example")
    );
    // A certificate no listener presents is the operator's to change; the admin may change both.
    operator
        .put("/certificates/other", &upload("other2.example"))
        .await
        .expect(200);
    admin
        .put("/certificates/front", &upload("front.example"))
        .await
        .expect(200);
}

#[tokio::test]
async fn a_token_stops_working_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let reply = server
        .api()
        .send(
            "POST",
            "/tokens",
            serde_json::to_vec(
                &json!({"properties": {"name": "brief", "role": "reader", "expiresAt": soon}}),
            )
            .unwrap(),
            &[],
        )
        .await
        .expect(201);
    let value = reply.json()["properties"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let reader = server.api().with_token(Some(&value));
    reader.get("/apis").await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    reader.get("/apis").await.expect(401);
}

#[tokio::test]
async fn the_portal_offers_each_role_only_what_it_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    server
        .api()
        .put(
            "/apis/echo",
            &json!({"properties": {"path": "echo", "serviceUrl": "https://b.example"}}),
        )
        .await
        .expect(201);
    let reader = Browser::sign_in_with(&server, &make(&server, "viewer", "reader").await).await;
    let operator = Browser::sign_in_with(&server, &make(&server, "ops", "operator").await).await;
    let admin = Browser::sign_in(&server).await;

    // The reader sees everything and is offered no change.
    let certificates = reader.get("/ui/certificates").await.expect(200).text();
    assert!(certificates.contains("viewer · reader"));
    assert!(!certificates.contains("upload-form"));
    assert!(!certificates.contains("/ui/tokens") && !certificates.contains("/ui/console"));
    let api = reader.get("/ui/apis/echo").await.expect(200).text();
    assert!(api.contains("echo") && !api.contains("hx-delete") && !api.contains("Save settings"));
    assert!(!reader.get("/ui/apis").await.text().contains("api-form"));
    assert!(
        !reader
            .get("/ui/hostnames")
            .await
            .text()
            .contains("hostname-form")
    );
    let policy = reader.get("/ui/policy").await.expect(200).text();
    assert!(!policy.contains("value=\"save\""));
    reader.get("/ui/console").await.expect(403);
    reader.get("/ui/tokens").await.expect(403);
    // What a page does not offer, the routes refuse anyway.
    let sneak = reader
        .post(
            "/ui/apis",
            &[
                ("id", "sneak"),
                ("path", "sneak"),
                ("service_url", "https://s.example"),
            ],
        )
        .await;
    assert!(
        sneak.text().contains("needs the operator role"),
        "{}",
        sneak.text()
    );
    server.api().get("/apis/sneak").await.expect(404);

    // The operator changes APIs but not host names or tokens.
    let page = operator.get("/ui/apis").await.expect(200).text();
    assert!(page.contains("api-form") && page.contains("/ui/console"));
    assert!(!page.contains("/ui/tokens"));
    assert!(
        !operator
            .get("/ui/hostnames")
            .await
            .text()
            .contains("hostname-form")
    );
    operator.get("/ui/tokens").await.expect(403);

    // The admin makes and revokes tokens from the portal; the value is shown once.
    let page = admin.get("/ui/tokens").await.expect(200).text();
    assert!(page.contains("token-form") && page.contains("viewer") && page.contains("ops"));
    let made = admin
        .post("/ui/tokens", &[("name", "ci"), ("role", "reader")])
        .await
        .expect(200)
        .text();
    let value = made
        .split("<code id=\"token-value\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_string();
    server
        .api()
        .with_token(Some(&value))
        .get("/apis")
        .await
        .expect(200);
    assert!(!admin.get("/ui/tokens").await.text().contains(&value));
    let revoked = admin.delete("/ui/tokens/ci").await.expect(200).text();
    assert!(revoked.contains("revoked"));
    server
        .api()
        .with_token(Some(&value))
        .get("/apis")
        .await
        .expect(401);
    // The reader's session was opened with another token: it stays.
    reader.get("/ui/apis").await.expect(200);
}
