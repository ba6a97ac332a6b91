//! Back ends, APIs and operations: the APIM contract (ids, ETags, lists, errors).

use serde_json::json;

use crate::support::backend::{self, Mode};
use crate::support::server::{Options, start};
use crate::support::setup::{base, echo_api};
use crate::support::{changed_files, data_dir_state};

#[tokio::test]
async fn apis_and_operations_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();

    let created = api
        .put(
            "/apis/echo?api-version=2022-08-01",
            &json!({"properties": {"displayName": "Echo", "path": "/echo/", "serviceUrl": "https://backend.example/base"}}),
        )
        .await
        .expect(201);
    let body = created.json();
    assert_eq!(body["id"], json!("/apis/echo"));
    assert_eq!(body["name"], json!("echo"));
    assert_eq!(body["type"], json!("Microsoft.ApiManagement/service/apis"));
    assert_eq!(body["properties"]["path"], json!("echo"));
    let etag = created.etag();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );

    // Replacing answers 200; the ETag changes.
    let replaced = api
        .put(
            "/apis/echo",
            &json!({"properties": {"path": "echo", "serviceUrl": "https://backend.example/v2"}}),
        )
        .await
        .expect(200);
    assert_ne!(replaced.etag(), etag);

    // A second API on the same path conflicts and names the first.
    let conflict = api
        .put(
            "/apis/other",
            &json!({"properties": {"path": "ECHO", "serviceUrl": "https://b.example"}}),
        )
        .await
        .expect(409);
    assert_eq!(conflict.code(), "ApiPathInUse");
    assert!(conflict.text().contains("'echo'"), "{}", conflict.text());

    api.put(
        "/apis/echo/operations/get-user",
        &json!({"properties": {"method": "GET", "urlTemplate": "/users/{id}"}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/missing/operations/x",
        &json!({"properties": {"method": "GET", "urlTemplate": "/"}}),
    )
    .await
    .expect(404);
    let bad = api
        .put(
            "/apis/echo/operations/bad",
            &json!({"properties": {"method": "GET", "urlTemplate": "/a/{x}{y}"}}),
        )
        .await
        .expect(400);
    assert_eq!(
        bad.json()["error"]["details"][0]["target"],
        json!("properties.urlTemplate")
    );
    // APIM's operation fields are kept; a second operation for the same requests conflicts.
    let with_params = api
        .put(
            "/apis/echo/operations/get-user2",
            &json!({"properties": {"method": "GET", "urlTemplate": "/users/{id}/",
              "templateParameters": [{"name": "id", "type": "string", "required": true}]}}),
        )
        .await
        .expect(409);
    assert_eq!(with_params.code(), "OperationExists");
    assert!(
        with_params.text().contains("get-user"),
        "{}",
        with_params.text()
    );
    let kept = api
        .put(
            "/apis/echo/operations/get-user",
            &json!({"properties": {"method": "GET", "urlTemplate": "/users/{id}",
              "templateParameters": [{"name": "id", "type": "string", "required": true}]}}),
        )
        .await
        .expect(200);
    assert_eq!(
        kept.json()["properties"]["templateParameters"][0]["name"],
        json!("id")
    );
    let ops = api.get("/apis/echo/operations").await.expect(200).json();
    assert_eq!(ops["count"], json!(1));
    assert_eq!(
        ops["value"][0]["id"],
        json!("/apis/echo/operations/get-user")
    );

    // Deletes need If-Match: 428 without, 412 stale, then 204; the API takes its operations.
    let current = api.get("/apis/echo").await.etag();
    api.delete_with("/apis/echo", &[]).await.expect(428);
    api.delete_with("/apis/echo", &[("if-match", "\"0-0\"")])
        .await
        .expect(412);
    api.delete_with("/apis/echo", &[("if-match", &current)])
        .await
        .expect(204);
    api.get("/apis/echo").await.expect(404);
    api.get("/apis/echo/operations/get-user").await.expect(404);
    api.delete("/apis/echo").await.expect(404);
}

#[tokio::test]
async fn backends_validate_tls_settings_and_mask_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let created = api
        .put(
            "/backends/orders",
            &json!({"properties": {
                "url": "https://orders.internal:8443/api",
                "credentials": {"header": {"x-api-key": ["key-value-42"]},
                                "authorization": {"scheme": "Bearer", "parameter": "bearer-secret-42"}},
                "tls": {"validateCertificateChain": false}
            }}),
        )
        .await
        .expect(201);
    let text = created.text();
    assert!(
        !text.contains("key-value-42") && !text.contains("bearer-secret-42"),
        "{text}"
    );
    let props = &created.json()["properties"];
    assert_eq!(props["tls"]["validateCertificateChain"], json!(false));
    assert_eq!(props["tls"]["validateCertificateName"], json!(true));
    assert_eq!(
        props["credentials"]["header"]["x-api-key"],
        json!(["******"])
    );

    // Sending back what GET returned keeps the secrets (the mask means "unchanged"), and
    // they are what a real back end still receives.
    let mut round = api.get("/backends/orders").await.json();
    round["properties"]["title"] = json!("Orders");
    api.put("/backends/orders", &round).await.expect(200);
    let plain = backend::start(backend::Options::plain(Mode::Echo)).await;
    let plain_url = base(&plain, "127.0.0.1", "http");
    api.put(
        "/backends/plain",
        &json!({"properties": {"url": plain_url, "credentials": {
        "header": {"x-api-key": ["key-one-42", "key-two-42"]},
        "authorization": {"scheme": "Bearer", "parameter": "bearer-secret-42"}}}}),
    )
    .await
    .expect(201);
    echo_api(&api, &plain_url).await;
    let mut round = api.get("/backends/plain").await.json();
    assert_eq!(
        round["properties"]["credentials"]["header"]["x-api-key"],
        json!(["******", "******"])
    );
    round["properties"]["title"] = json!("Plain");
    // Reordered masks keep the values they point at.
    round["properties"]["credentials"]["header"]["x-api-key"] = json!(["******#2", "******#1"]);
    api.put("/backends/plain", &round).await.expect(200);
    server.gateway().get("/echo/x").await.expect(200);
    let seen = plain.last();
    assert_eq!(seen.headers["authorization"], "Bearer bearer-secret-42");
    // The back end records the last value of a repeated header: the first stored one now.
    assert_eq!(seen.headers["x-api-key"], "key-one-42");
    assert_eq!(
        api.get("/backends/plain").await.json()["properties"]["title"],
        json!("Plain")
    );

    // References to things that do not exist are refused before commit, naming them.
    let before = data_dir_state(dir.path());
    let reply = api
        .put(
            "/backends/b2",
            &json!({"properties": {"url": "https://b2.internal", "credentials": {"certificateIds": ["nope"]},
                                   "tls": {"caCertificateIds": ["no-ca"]}}}),
        )
        .await
        .expect(400);
    let targets: Vec<String> = reply.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap().to_string())
        .collect();
    assert!(
        targets.iter().any(|t| t.contains("caCertificateIds[0]")),
        "{targets:?}"
    );
    assert!(
        targets.iter().any(|t| t.contains("certificateIds[0]")),
        "{targets:?}"
    );
    let changed = changed_files(&before, &data_dir_state(dir.path()));
    assert!(changed.is_empty(), "the data dir changed: {changed:?}");

    let reply = api
        .put("/backends/b3", &json!({"properties": {"url": "not a url"}}))
        .await
        .expect(400);
    assert_eq!(
        reply.json()["error"]["details"][0]["target"],
        json!("properties.url")
    );
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let reply = api
        .send("PUT", "/apis/a", b"{not json".to_vec(), &[])
        .await
        .expect(400);
    assert_eq!(reply.code(), "InvalidJson");
    let reply = api
        .send("PUT", "/apis/a", b"[]".to_vec(), &[])
        .await
        .expect(400);
    assert_eq!(reply.code(), "InvalidBody");
    let reply = api.put("/apis/a", &json!({"props": {}})).await.expect(400);
    assert!(reply.text().contains("props"), "{}", reply.text());
    let reply = api
        .send("POST", "/apis/a", Vec::new(), &[])
        .await
        .expect(405);
    assert_eq!(reply.code(), "MethodNotAllowed");
    let reply = api.get("/nothing/here").await.expect(404);
    assert_eq!(reply.code(), "ResourceNotFound");
    let reply = api.get("/backends/none").await.expect(404);
    assert_eq!(reply.code(), "ResourceNotFound");
    assert!(reply.text().contains("backend 'none'"), "{}", reply.text());
    assert_eq!(reply.json()["error"]["details"], serde_json::json!([]));
    // A malformed id is a 400 on every route, not a 404.
    for path in [
        "/backends/-x",
        "/certificates/a%20b/usages",
        "/apis/x/operations/%FF",
    ] {
        let reply = api.get(path).await.expect(400);
        assert!(
            ["InvalidIdentifier", "InvalidPath"].contains(&reply.code().as_str()),
            "{path}: {}",
            reply.text()
        );
    }
    let reply = api.delete("/apis/-bad").await.expect(400);
    assert_eq!(reply.code(), "InvalidIdentifier");
    let list = api.get("/backends").await.expect(200).json();
    assert_eq!(list, json!({"value": [], "count": 0}));
}

#[tokio::test]
async fn settings_the_gateway_cannot_honour_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let base = json!({"path": "orders", "serviceUrl": "https://backend.example"});
    api.put("/apis/orders", &json!({ "properties": base }))
        .await
        .expect(201);
    let stored = api.get("/apis/orders").await.expect(200).json();
    let before = data_dir_state(dir.path());
    for (extra, target) in [
        (
            json!({"subscriptionRequired": true}),
            "properties.subscriptionRequired",
        ),
        (
            json!({"authenticationSettings": {"oAuth2": {"authorizationServerId": "aad", "scope": null}}}),
            "properties.authenticationSettings.oAuth2",
        ),
        (
            json!({"authenticationSettings": {"openid": {"openidProviderId": "idp",
                "bearerTokenSendingMethods": ["authorizationHeader"]}}}),
            "properties.authenticationSettings.openid",
        ),
        (
            json!({"apiVersionSetId": "/apiVersionSets/orders"}),
            "properties.apiVersionSetId",
        ),
        (json!({"type": "websocket"}), "properties.type"),
    ] {
        let mut properties = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            properties[k] = v.clone();
        }
        for id in ["orders", "fresh"] {
            let reply = api
                .put(&format!("/apis/{id}"), &json!({ "properties": properties }))
                .await
                .expect(400);
            assert_eq!(reply.code(), "NotSupported", "{extra}: {}", reply.text());
            let error = &reply.json()["error"];
            assert!(
                error["message"].as_str().unwrap().contains(target),
                "{extra}: {error}"
            );
            assert_eq!(error["details"][0]["code"], json!("NotSupported"));
            assert_eq!(error["details"][0]["target"], json!(target));
        }
    }
    // A back end's SOAP protocol likewise.
    let reply = api
        .put(
            "/backends/soap",
            &json!({"properties": {"url": "https://backend.example", "protocol": "soap"}}),
        )
        .await
        .expect(400);
    assert_eq!(reply.code(), "NotSupported");
    // Nothing changed: neither the replaced API nor a new one.
    let changed = changed_files(&before, &data_dir_state(dir.path()));
    assert!(changed.is_empty(), "the data dir changed: {changed:?}");
    assert_eq!(api.get("/apis/orders").await.expect(200).json(), stored);
    api.get("/apis/fresh").await.expect(404);

    // What asks for nothing is accepted and kept as sent, as an APIM export has it; absent
    // subscriptionRequired means "not required" (APIM's default of true cannot be honoured).
    let export = json!({"properties": {"path": "orders", "serviceUrl": "https://backend.example",
        "subscriptionRequired": false, "apiVersion": "v1", "apiRevision": "1", "isCurrent": true,
        "type": "http", "contact": {"name": "Ops"},
        "authenticationSettings": {"oAuth2": null, "openid": null,
            "oAuth2AuthenticationSettings": [], "openidAuthenticationSettings": []}}});
    let reply = api.put("/apis/orders", &export).await.expect(200).json();
    assert_eq!(reply["properties"]["subscriptionRequired"], json!(false));
    assert_eq!(
        reply["properties"]["authenticationSettings"],
        export["properties"]["authenticationSettings"]
    );
    assert_eq!(reply["properties"]["apiVersion"], json!("v1"));
}
