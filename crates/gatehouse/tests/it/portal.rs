//! The web portal over HTTP, as a browser speaks to it: sign-in, sessions and CSRF, ids that
//! could address something else, and the test console's record of what the gateway presented.
//! (The workflow in a real browser is in `tests/browser`.)

use serde_json::json;

use crate::support::backend::{self, Mode};
use crate::support::pki::TestCa;
use crate::support::portal::{Browser, FORM, encode, form};
use crate::support::server::{Api, Options, Server, raw_http, start};
use crate::support::setup::{Mtls, base, echo_api, mtls_setup, upload_pem, use_certificate};

/// The mTLS set-up of the gateway tests, with API `echo` presenting `client-a` (issued by the
/// back end's CA); returns its thumbprint.
async fn configured(mode: Mode, close_every: Option<usize>) -> (Mtls, String) {
    let setup = mtls_setup(|options| {
        options.mode = mode;
        options.close_every = close_every;
        // HTTP/1.1 only, so `close_every` recycles connections (and the next one resumes).
        options.alpn = vec![b"http/1.1".to_vec()];
    })
    .await;
    let (pem, _) = setup.ca.client("portal-client");
    let thumb = upload_pem(&setup.api, "client-a", &pem).await;
    use_certificate(&setup.api, "echo", "client-a").await;
    (setup, thumb)
}

#[tokio::test]
async fn the_console_names_the_certificate_on_resumed_sessions_and_on_failures() {
    // Every connection serves one request, so each call after the first resumes a session:
    // no certificate is exchanged on the wire, yet the one presented is still known.
    let (setup, thumb) = configured(Mode::Echo, Some(1)).await;
    let (server, backend) = (&setup.server, &setup.backend);
    let browser = Browser::sign_in(server).await;
    for n in 0..4 {
        let (page, presented) = browser.console(&format!("/echo/call-{n}")).await;
        assert!(page.contains("200 OK"), "{page}");
        assert!(presented.contains("client-a"), "call {n}: {presented}");
        assert!(presented.contains(&thumb), "call {n}: {presented}");
    }
    assert!(backend.connections() >= 4, "{}", backend.connections());
    assert!(backend.resumed() >= 1, "no session was resumed");
    assert!(
        backend
            .seen()
            .iter()
            .all(|s| s.client_thumbprint.as_deref() == Some(thumb.as_str()))
    );
    assert!(
        !server
            .logs()
            .contains("did not ask for a client certificate"),
        "a resumed session is not a back end that ignores client certificates"
    );

    // A back end that resets the connection: the call fails, and the record still says
    // which certificate the connection presented.
    let (setup2, thumb2) = configured(Mode::Reset, None).await;
    let server2 = &setup2.server;
    let browser2 = Browser::sign_in(server2).await;
    let (page, presented) = browser2.console("/echo/x").await;
    assert!(page.contains("502"), "{page}");
    // (A TLS 1.3 back end that closes before answering reads like one refusing the
    // certificate; the code is the gateway's best reading of it.)
    assert!(page.contains("Gateway error"), "{page}");
    assert!(
        presented.contains("client-a") && presented.contains(&thumb2),
        "{presented}"
    );
}

#[tokio::test]
async fn sessions_csrf_and_ids_guard_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let anonymous = Api::new(server.admin, None);

    // Pages need a session; the bearer token of the API is not one, and a wrong token is
    // refused at sign-in.
    let to_login = anonymous.get("/ui/apis").await.expect(303);
    assert_eq!(to_login.headers["location"], "/login");
    server
        .api()
        .send("GET", "/ui/apis", Vec::new(), &[])
        .await
        .expect(303);
    anonymous
        .send("POST", "/login", form(&[("token", "wrong")]), &[FORM])
        .await
        .expect(401);
    // Every asset is served by Gatehouse itself.
    for asset in ["htmx.min.js", "app.js", "app.css"] {
        anonymous.get(&format!("/assets/{asset}")).await.expect(200);
    }

    let browser = Browser::sign_in(&server).await;
    // A session cookie does not open the management API (no ambient authority there).
    browser.get("/apis").await.expect(401);

    // A change without the CSRF token, or with another one, changes nothing.
    let body = form(&[
        ("id", "a1"),
        ("path", "a1"),
        ("service_url", "https://a.example"),
    ]);
    for csrf in [None, Some("0".repeat(64))] {
        let mut headers = vec![FORM, ("cookie", browser.cookie.as_str())];
        if let Some(csrf) = &csrf {
            headers.push(("x-csrf-token", csrf));
        }
        browser
            .http
            .send("POST", "/ui/apis", body.clone(), &headers)
            .await
            .expect(403);
    }
    server.api().get("/apis/a1").await.expect(404);

    // With it, the API is created.
    let created = browser
        .post(
            "/ui/apis",
            &[
                ("id", "a1"),
                ("path", "a1"),
                ("service_url", "https://a.example"),
            ],
        )
        .await
        .expect(204);
    assert_eq!(created.headers["hx-redirect"], "/ui/apis/a1");
    server.api().get("/apis/a1").await.expect(200);

    // Ids that would address something else are refused where the form shows errors.
    server
        .api()
        .put(
            "/apis/a1/operations/op",
            &json!({"properties": {"method": "GET", "urlTemplate": "/x"}}),
        )
        .await
        .expect(201);
    let sneaky = browser
        .http
        .send(
            "DELETE",
            "/ui/apis/a1%2Foperations%2Fop",
            Vec::new(),
            &[("cookie", &browser.cookie), ("x-csrf-token", &browser.csrf)],
        )
        .await
        .expect(200);
    assert!(
        sneaky.text().contains("not a valid id"),
        "{}",
        sneaky.text()
    );
    assert_eq!(sneaky.headers["hx-retarget"], "#api-notice");
    server.api().get("/apis/a1/operations/op").await.expect(200);
    let query = browser
        .post("/ui/apis", &[("id", "a1?x"), ("path", "b")])
        .await
        .expect(200);
    assert!(query.text().contains("not a valid id"), "{}", query.text());

    // Sign-out ends the session.
    browser
        .http
        .send(
            "POST",
            "/logout",
            Vec::new(),
            &[("cookie", &browser.cookie), ("x-csrf-token", &browser.csrf)],
        )
        .await
        .expect(204);
    browser.get("/ui/apis").await.expect(303);
}

#[tokio::test]
async fn only_the_console_can_trace_and_no_trace_header_reaches_the_back_end() {
    let (setup, thumb) = configured(Mode::Echo, None).await;
    let (server, backend) = (&setup.server, &setup.backend);

    // A client's trace header is taken off before the back end, whatever its value.
    for value in ["1", &"0".repeat(64)] {
        server
            .gateway()
            .send(
                "GET",
                "/echo/from-a-client",
                Vec::new(),
                &[("x-gatehouse-trace", value)],
            )
            .await
            .expect(200);
    }

    // The console's own trace (with the process's key) is honoured, and not forwarded either.
    let browser = Browser::sign_in(server).await;
    let (page, presented) = browser.console("/echo/from-the-console").await;
    assert!(page.contains("200 OK"), "{page}");
    assert!(presented.contains(&thumb), "{presented}");
    // Even when the operator types a trace header of their own.
    let typed = browser
        .post(
            "/ui/console",
            &[
                ("method", "GET"),
                ("path", "/echo/typed"),
                ("headers", "x-gatehouse-trace: 1"),
                ("body", ""),
            ],
        )
        .await
        .expect(200)
        .text();
    assert!(typed.contains(&thumb), "{typed}");

    let seen = backend.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|s| !s.headers.contains_key("x-gatehouse-trace")),
        "{seen:?}"
    );
}

/// Signs in (or tries to) from `local`: the status and `Retry-After` of the answer.
async fn sign_in_from(
    server: &Server,
    local: std::net::IpAddr,
    token: &str,
) -> (u16, Option<u64>, String) {
    let body = format!("token={}", encode(token));
    let port = server.admin.port();
    let answer = raw_http(
        server.admin,
        Some(local),
        &format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\
             {body}",
            body.len()
        ),
    )
    .await;
    let status = answer[9..12].parse().unwrap();
    let retry_after = answer
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.trim().parse().unwrap());
    (status, retry_after, answer)
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let token = server.options.token.clone().unwrap();
    let me: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let browser = Browser::sign_in(&server).await;

    // Signing in with the token does not count; five wrong tokens a minute do.
    for _ in 0..6 {
        assert_eq!(sign_in_from(&server, me, &token).await.0, 303);
    }
    for n in 0..5 {
        let (status, _, answer) = sign_in_from(&server, me, &format!("guess-{n}")).await;
        assert_eq!(status, 401, "{answer}");
    }
    for guess in ["guess-5", token.as_str()] {
        let (status, retry_after, answer) = sign_in_from(&server, me, guess).await;
        assert_eq!(status, 429, "{answer}");
        let wait = retry_after.expect("Retry-After");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(answer.contains("Too many failed sign-ins"), "{answer}");
    }
    // A session opened before is not held up.
    browser.get("/ui/apis").await.expect(200);

    // Other clients (other loopback addresses) still get their own tries, until failures from
    // all of them together reach the global cap: 30 a minute, 5 already spent above.
    let mut spent = 5;
    for host in 2..=6u8 {
        let client = std::net::IpAddr::from([127, 0, 0, host]);
        for n in 0..5 {
            let (status, _, answer) = sign_in_from(&server, client, &format!("g{n}")).await;
            assert_eq!(status, 401, "client {client}, try {n}: {answer}");
            spent += 1;
        }
    }
    assert_eq!(spent, 30);
    let fresh = std::net::IpAddr::from([127, 0, 0, 7]);
    let (status, retry_after, answer) = sign_in_from(&server, fresh, "first-try").await;
    assert_eq!(status, 429, "{answer}");
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn pages_forbid_framing_sniffing_caching_and_inline_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let anonymous = Api::new(server.admin, None);
    let browser = Browser::sign_in(&server).await;
    // Something on every page that lists or edits.
    browser
        .post(
            "/ui/apis",
            &[("id", "a1"), ("path", "a1"), ("service_url", "https://a")],
        )
        .await
        .expect(204);

    let mut pages = vec![("/login", anonymous.get("/login").await.expect(200))];
    for path in [
        "/ui/certificates",
        "/ui/ca-certificates",
        "/ui/hostnames",
        "/ui/backends",
        "/ui/backends/new",
        "/ui/apis",
        "/ui/apis/a1",
        "/ui/policy",
        "/ui/policy?api=a1",
        "/ui/console",
    ] {
        pages.push((path, browser.get(path).await.expect(200)));
    }
    for (path, page) in &pages {
        let h = &page.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        // Nothing the policy would block: no inline script, style or event handler.
        let html = page.text();
        assert!(!html.contains("<style"), "{path}");
        assert!(!html.contains(" style="), "{path}");
        assert!(!has_event_handler(&html), "{path}: an on* attribute");
        assert!(!html.contains("javascript:"), "{path}");
        for script in html.split("<script").skip(1) {
            assert!(
                script.starts_with(" src=\"/assets/"),
                "{path}: <script{script}"
            );
        }
    }
    // htmx fragments, redirects and refusals carry the headers too.
    let fragment = browser
        .post("/ui/apis", &[("id", "bad?id"), ("path", "b")])
        .await
        .expect(200);
    let to_login = anonymous.get("/ui/apis").await.expect(303);
    for answer in [fragment, to_login] {
        assert_eq!(answer.headers["x-frame-options"], "DENY");
        assert_eq!(answer.headers["cache-control"], "no-store");
    }
    // The assets are the same for everyone: cacheable, and still typed strictly.
    let asset = anonymous.get("/assets/app.js").await.expect(200);
    assert_eq!(asset.headers["x-content-type-options"], "nosniff");
    assert!(
        asset.headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
}

/// Whether `html` has an event handler attribute (` onclick=`, ` onload=`...).
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

/// The fields of the host names form.
fn hostname_form<'a>(
    id: &'a str,
    hostname: &'a str,
    certificate: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("id", id),
        ("hostname", hostname),
        ("certificate", certificate),
    ];
    fields.extend_from_slice(extra);
    fields
}

#[tokio::test]
async fn the_hostnames_page_creates_replaces_and_deletes_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec!["--gateway-tls-listen".into(), "127.0.0.1:0".into()];
    let server = start(options);
    let api = server.api();
    let ca = TestCa::new("Portal Hostname CA");
    let thumb = upload_pem(&api, "api-cert", &ca.server_pem(&["api.example.test"])).await;
    let expires = api.get("/certificates/api-cert").await.json()["properties"]["expirationDate"]
        .as_str()
        .unwrap()[..10]
        .to_string();
    let browser = Browser::sign_in(&server).await;

    // The page is in the navigation, offers the uploaded certificate, and lists nothing yet.
    let page = browser.get("/ui/hostnames").await.expect(200).text();
    assert!(
        page.contains(r#"<a href="/ui/hostnames" aria-current="page">Host names</a>"#),
        "{page}"
    );
    assert!(page.contains(r#"<option value="api-cert" >"#), "{page}");
    assert!(page.contains("CN=api.example.test"), "{page}");
    assert!(page.contains("None yet."), "{page}");
    assert!(!page.contains("TLS listener is off"), "{page}");
    let tls = server.gateway_tls.unwrap().to_string();
    assert!(page.contains(&tls), "the page names the TLS listener {tls}");

    // A certificate that does not exist: the API's refusal, next to the form; nothing stored.
    let refused = browser
        .post(
            "/ui/hostnames",
            &hostname_form("api", "api.example.test", "nope", &[]),
        )
        .await
        .expect(200);
    assert_eq!(refused.headers["hx-retarget"], "#hostname-result");
    let text = refused.text();
    assert!(text.contains("class=\"error\""), "{text}");
    assert!(
        text.contains("certificate &#39;nope&#39; does not exist"),
        "{text}"
    );
    api.get("/hostnameConfigurations/api").await.expect(404);

    // Saved: the list shows the host name, the certificate's subject, thumbprint and expiry.
    let fields = hostname_form(
        "api",
        "API.Example.Test",
        "api-cert",
        &[("negotiate", "on"), ("default", "on")],
    );
    let saved = browser
        .post("/ui/hostnames", &fields)
        .await
        .expect(200)
        .text();
    assert!(
        saved.contains("Saved hostname configuration &#39;api&#39;"),
        "{saved}"
    );
    let row = saved
        .split("id=\"hostname-api\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row in {saved}"));
    assert!(row.contains("api.example.test"), "{row}");
    assert!(row.contains("CN=api.example.test"), "{row}");
    assert!(row.contains(&thumb[36..]), "{row}");
    assert!(row.contains(&expires), "{row}");
    // Issued for 30 days.
    assert!(row.contains("expires soon"), "{row}");
    assert!(
        row.contains("asked for") && row.contains("default"),
        "{row}"
    );
    let stored = api
        .get("/hostnameConfigurations/api")
        .await
        .expect(200)
        .json();
    assert_eq!(
        stored["properties"],
        json!({"hostName": "api.example.test", "certificateId": "api-cert",
               "negotiateClientCertificate": true, "http2Enabled": false, "defaultSslBinding": true})
    );

    // The same id again is refused unless "Replace" is ticked.
    let again = hostname_form("api", "api.example.test", "api-cert", &[("http2", "on")]);
    let exists = browser.post("/ui/hostnames", &again).await.expect(200);
    assert_eq!(exists.headers["hx-retarget"], "#hostname-result");
    assert!(
        exists.text().contains("already exists"),
        "{}",
        exists.text()
    );
    assert_eq!(
        api.get("/hostnameConfigurations/api").await.json()["properties"]["http2Enabled"],
        json!(false)
    );
    let mut replace = again.clone();
    replace.push(("replace", "on"));
    browser.post("/ui/hostnames", &replace).await.expect(200);
    assert_eq!(
        api.get("/hostnameConfigurations/api").await.json()["properties"],
        json!({"hostName": "api.example.test", "certificateId": "api-cert",
               "negotiateClientCertificate": false, "http2Enabled": true, "defaultSslBinding": false})
    );

    // Edit fills the form with the stored values, to replace them.
    let edit = browser
        .get("/ui/hostnames?edit=api")
        .await
        .expect(200)
        .text();
    assert!(
        edit.contains(r#"name="hostname" value="api.example.test""#),
        "{edit}"
    );
    assert!(
        edit.contains(r#"<option value="api-cert" selected>"#),
        "{edit}"
    );
    assert!(
        edit.contains(r#"name="replace" value="on" checked"#),
        "{edit}"
    );
    let sneaky = browser
        .get("/ui/hostnames?edit=a%2Fb")
        .await
        .expect(200)
        .text();
    assert!(sneaky.contains("not a valid id"), "{sneaky}");

    // Delete; deleting again shows the API's refusal where the list's notices go.
    let deleted = browser.delete("/ui/hostnames/api").await.expect(200).text();
    assert!(!deleted.contains("id=\"hostname-api\""), "{deleted}");
    assert!(
        deleted.contains("Deleted hostname configuration"),
        "{deleted}"
    );
    api.get("/hostnameConfigurations/api").await.expect(404);
    let gone = browser.delete("/ui/hostnames/api").await.expect(200);
    assert_eq!(gone.headers["hx-retarget"], "#hostname-notice");
    assert!(gone.text().contains("class=\"error\""), "{}", gone.text());

    // Without a session nothing changes.
    browser
        .http
        .send(
            "DELETE",
            "/ui/hostnames/api",
            Vec::new(),
            &[("cookie", &browser.cookie)],
        )
        .await
        .expect(403);
}

/// The console's answer to a call through `listener`, with `server_name`.
async fn console_via(browser: &Browser, listener: &str, server_name: &str, path: &str) -> String {
    browser
        .post(
            "/ui/console",
            &[
                ("listener", listener),
                ("server_name", server_name),
                ("method", "GET"),
                ("path", path),
                ("headers", ""),
                ("body", ""),
            ],
        )
        .await
        .expect(200)
        .text()
}

/// The text of the result's TLS facts.
fn tls_facts(page: &str) -> &str {
    page.split("id=\"console-tls\">")
        .nth(1)
        .and_then(|rest| rest.split("</dd>").next())
        .unwrap_or_else(|| panic!("no TLS facts in:\n{page}"))
}

#[tokio::test]
async fn the_console_calls_https_only_apis_through_the_tls_listener_pinning_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.args = vec!["--gateway-tls-listen".into(), "127.0.0.1:0".into()];
    let server = start(options);
    let api = server.api();
    let echo = backend::start(backend::Options::plain(Mode::Echo)).await;
    // Served on both listeners, and first in the console's list.
    echo_api(&api, &base(&echo, "127.0.0.1", "http")).await;
    api.put(
        "/apis/secure",
        &json!({"properties": {"path": "secure", "serviceUrl": base(&echo, "127.0.0.1", "http"),
                "protocols": ["https"]}}),
    )
    .await
    .expect(201);
    api.put(
        "/apis/secure/operations/all",
        &json!({"properties": {"method": "*", "urlTemplate": "/*"}}),
    )
    .await
    .expect(201);
    let ca = TestCa::new("Console TLS CA");
    let api_thumb = upload_pem(&api, "api-cert", &ca.server_pem(&["api.example.test"])).await;
    let wild_thumb = upload_pem(&api, "wild-cert", &ca.server_pem(&["*.example.test"])).await;
    let browser = Browser::sign_in(&server).await;
    let tls = server.gateway_tls.unwrap().to_string();

    // Before any hostname configuration, a TLS call says why it cannot be made.
    let none = console_via(&browser, "tls", "api.example.test", "/secure/x").await;
    assert!(
        none.contains("No hostname configuration answers for &#39;api.example.test&#39;"),
        "{none}"
    );
    for (id, props) in [
        (
            "api",
            json!({"hostName": "api.example.test", "certificateId": "api-cert"}),
        ),
        (
            "wild",
            json!({"hostName": "*.example.test", "certificateId": "wild-cert", "defaultSslBinding": true}),
        ),
    ] {
        api.put(
            &format!("/hostnameConfigurations/{id}"),
            &json!({ "properties": props }),
        )
        .await
        .expect(201);
    }

    // The form offers both listeners, plain first; an HTTPS-only API picks TLS, and the
    // server name is the first exact host name.
    let page = browser.get("/ui/console").await.expect(200).text();
    assert!(
        page.contains(r#"name="listener" value="plain" checked"#),
        "{page}"
    );
    assert!(
        page.contains(&format!("TLS at <code>{tls}</code>")),
        "{page}"
    );
    assert!(page.contains(r#"id="console-tls-fields" hidden"#), "{page}");
    assert!(
        page.contains(r#"name="server_name" value="api.example.test""#),
        "{page}"
    );
    assert!(page.contains(r#"data-https-only="true""#), "{page}");
    assert!(page.contains("(HTTPS only)"), "{page}");
    let picked = browser
        .get("/ui/console?api=secure")
        .await
        .expect(200)
        .text();
    assert!(
        picked.contains(r#"name="listener" value="tls" checked"#),
        "{picked}"
    );

    // Over TLS with the exact name: that configuration's certificate, pinned; the back end
    // hears the call came over HTTPS.
    let exact = console_via(&browser, "tls", "API.example.test", "/secure/one").await;
    assert!(exact.contains("200 OK"), "{exact}");
    assert!(
        exact.contains(&format!(
            "GET https://api.example.test:{}/secure/one",
            server.gateway_tls.unwrap().port()
        )),
        "{exact}"
    );
    let facts = tls_facts(&exact);
    assert!(facts.contains("<code>api.example.test</code>"), "{facts}");
    assert!(facts.contains("api (api.example.test)"), "{facts}");
    assert!(
        facts.contains("api-cert") && facts.contains(&api_thumb),
        "{facts}"
    );
    assert!(facts.contains("TLS 1."), "{facts}");
    let seen = echo.last();
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(
        seen.headers["x-forwarded-host"],
        format!("api.example.test:{}", server.gateway_tls.unwrap().port())
    );
    assert!(!seen.headers.contains_key("x-gatehouse-trace"), "{seen:?}");
    // The gateway's record of the call is found as over the plain listener.
    assert!(exact.contains("<dt>API</dt><dd>secure"), "{exact}");

    // A name under the wildcard, and no name at all (the default binding): the wildcard's
    // certificate.
    for name in ["orders.example.test", ""] {
        let page = console_via(&browser, "tls", name, "/secure/two").await;
        assert!(page.contains("200 OK"), "{name}: {page}");
        let facts = tls_facts(&page);
        assert!(facts.contains("wild (*.example.test)"), "{name}: {facts}");
        assert!(facts.contains(&wild_thumb), "{name}: {facts}");
        if name.is_empty() {
            assert!(facts.contains("server name none sent"), "{facts}");
        }
    }

    // The same HTTPS-only API over the plain listener is not there (APIM's 404).
    let plain = console_via(&browser, "plain", "", "/secure/one").await;
    assert!(plain.contains("404"), "{plain}");
    // A name that is no name is the operator's to fix, not a TLS failure.
    let bad = console_via(&browser, "tls", "a b", "/secure/one").await;
    assert!(
        bad.contains("&#39;a b&#39; is not a valid server name"),
        "{bad}"
    );

    // With the plain listener off, TLS is the only choice and the default.
    let dir2 = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir2.path());
    options.args = [
        "--gateway-listen",
        "none",
        "--gateway-tls-listen",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec();
    let tls_only = start(options);
    let browser2 = Browser::sign_in(&tls_only).await;
    let page = browser2.get("/ui/console").await.expect(200).text();
    assert!(!page.contains(r#"value="plain""#), "{page}");
    assert!(
        page.contains(r#"name="listener" value="tls" checked"#),
        "{page}"
    );
    assert!(
        !page.contains(r#"id="console-tls-fields" hidden"#),
        "{page}"
    );
    let off = console_via(&browser2, "plain", "", "/x").await;
    assert!(off.contains("plain listener is off"), "{off}");
}
