// The operator's workflow in the web portal, in headless Chromium, against the real binary
// and a real back end that requires a client certificate. The tests run in order: each
// builds on what the one before it configured, as an operator would.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  cleanup, launchBrowser, makeCertificates, scratch, startGatehouse, startMtlsBackend, step,
} from "./support.mjs";

const TOKEN = "browser-test-admin-token-0123456789";
const PASSWORD = "right horse battery";
const CLIENT_ID = "portal-client";

let dir, certs, backend, gatehouse, browser, page;
/** Every URL the browser asked for: the portal must load nothing from elsewhere. */
const requested = [];
/** The confirmations the portal asked for. */
const confirmations = [];
/** What the pages' Content-Security-Policy blocked: nothing, or a page lost a behaviour. */
const blocked = [];

before(async () => {
  dir = scratch();
  certs = makeCertificates(dir, { clientCn: "portal-client.example", password: PASSWORD });
  backend = await startMtlsBackend(certs);
  gatehouse = await startGatehouse(`${dir}/data`, TOKEN);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // Deleting asks to confirm; the operator says yes.
  page.on("dialog", (dialog) => {
    confirmations.push(dialog.message());
    dialog.accept();
  });
  page.on("request", (request) => requested.push(request.url()));
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
  });
});

after(async () => {
  await browser?.close();
  await gatehouse?.stop();
  backend?.server.close();
  if (dir) cleanup(dir);
});

/** A test whose failure leaves a screenshot. */
function ui(name, body) {
  test(name, () => step(name, page, body));
}

const url = (p) => `${gatehouse.adminUrl}${p}`;
const text = (selector) => page.locator(selector).innerText();

ui("pages need a session and send the visitor to sign in", async () => {
  await page.goto(url("/ui/certificates"));
  assert.match(page.url(), /\/login$/);
  await page.fill("#token", "not-the-token");
  await page.press("#token", "Enter");
  assert.match(await text(".error"), /not the admin token/);
});

ui("sign in with the admin token, by keyboard", async () => {
  await page.fill("#token", TOKEN);
  await page.press("#token", "Enter");
  await page.waitForURL(/\/ui\/certificates$/);
  assert.equal(await text("h1"), "Client certificates");
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "gatehouse_session");
  assert.ok(session, "a session cookie is set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
});

ui("a change without the CSRF token is refused", async () => {
  const status = await page.evaluate(async () => {
    const r = await fetch("/ui/certificates/anything", { method: "DELETE" });
    return r.status;
  });
  assert.equal(status, 403);
});

ui("upload with a wrong password shows the error, and the right one lists the certificate", async () => {
  await page.fill("#upload-form [name=id]", CLIENT_ID);
  await page.setInputFiles("#upload-form [name=file]", certs.clientPfx);
  await page.fill("#upload-form [name=password]", "wrong password");
  await page.click("#upload-form button[type=submit]");
  await page.locator("#upload-result .error").waitFor();
  assert.match(await text("#upload-result .error"), /password is incorrect/);
  assert.equal(await page.locator(`#cert-${CLIENT_ID}`).count(), 0, "nothing was stored");

  await page.fill("#upload-form [name=password]", PASSWORD);
  await page.click("#upload-form button[type=submit]");
  await page.locator(`#cert-${CLIENT_ID}`).waitFor();
  assert.match(await text("#upload-result"), new RegExp(`Uploaded certificate '${CLIENT_ID}'`));
  const row = await text(`#cert-${CLIENT_ID}`);
  assert.match(row, /CN=portal-client\.example/);
  assert.ok(row.replace(/\s/g, "").includes(certs.clientThumbprint), `thumbprint ${certs.clientThumbprint} in ${row}`);
  assert.equal(await text(`#cert-${CLIENT_ID} mark.thumb`), certs.clientThumbprint.slice(-4));
  const expiry = new Date(Date.now() + 90 * 86400e3).toISOString().slice(0, 10);
  const dayBefore = new Date(Date.now() + 89 * 86400e3).toISOString().slice(0, 10);
  assert.ok(row.includes(expiry) || row.includes(dayBefore), `expiry near ${expiry} in ${row}`);
});

ui("replacing a certificate keeps the old version, and the versions panel rolls back to it", async () => {
  await page.fill("#upload-form [name=id]", CLIENT_ID);
  await page.setInputFiles("#upload-form [name=file]", certs.clientPfx);
  await page.fill("#upload-form [name=password]", PASSWORD);
  await page.check("#upload-form [name=replace]");
  await page.click("#upload-form button[type=submit]");
  await page.waitForResponse((r) => r.url().endsWith("/ui/certificates") && r.request().method() === "POST");
  await page.uncheck("#upload-form [name=replace]");
  await page.locator(`#cert-${CLIENT_ID} button`, { hasText: "Versions" }).click();
  await page.locator(`#versions-${CLIENT_ID}`).waitFor();
  const rows = page.locator(`#versions-${CLIENT_ID} tbody tr`);
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(0).innerText(), /current/);
  assert.ok((await rows.nth(1).innerText()).includes(certs.clientThumbprint));
  const older = (await rows.nth(1).innerText()).trim().split(/\s+/)[0];
  await rows.nth(1).locator("button", { hasText: "Roll back" }).click();
  await page.locator("#upload-result .ok", { hasText: "again" }).waitFor();
  assert.match(await text("#upload-result"), new RegExp(`'${CLIENT_ID}' is version ${older} again`));
  assert.ok(confirmations.some((c) => c.includes(`Make version ${older} of '${CLIENT_ID}' current again?`)));
});

ui("the back end's certificate is uploaded as a trusted CA", async () => {
  await page.click("nav >> text=CA certificates");
  await page.waitForURL(/ca-certificates$/);
  await page.fill("#upload-form [name=id]", "orders-server");
  await page.setInputFiles("#upload-form [name=file]", certs.serverCert);
  await page.click("#upload-form button[type=submit]");
  await page.locator("#cert-orders-server").waitFor();
  assert.match(await text("#cert-orders-server"), /CN=localhost/);
});

ui("a host name is configured on its page with an uploaded certificate, and deleting it asks first", async () => {
  // The gateway's own certificate: the back end's localhost certificate with its key, as PEM.
  await page.goto(url("/ui/certificates"));
  await page.fill("#upload-form [name=id]", "gateway-localhost");
  await page.setInputFiles("#upload-form [name=file]", certs.serverPem);
  await page.click("#upload-form button[type=submit]");
  await page.locator("#cert-gateway-localhost").waitFor();

  await page.click("nav >> text=Host names");
  await page.waitForURL(/\/ui\/hostnames$/);
  assert.equal(await text("h1"), "Host names");
  assert.ok((await text("main")).includes(gatehouse.gatewayTlsAddr), "the page names the TLS listener");
  const option = page.locator("#hostname-form [name=certificate] option[value=gateway-localhost]");
  assert.match(await option.innerText(), /CN=localhost/);

  // A name the certificate does not hold: the API's refusal, next to the form; nothing stored.
  await page.fill("#hostname-form [name=id]", "gateway");
  await page.fill("#hostname-form [name=hostname]", "api.example.com");
  await page.selectOption("#hostname-form [name=certificate]", "gateway-localhost");
  await page.check("#hostname-form [name=default]");
  await page.click("#hostname-form button[type=submit]");
  await page.locator("#hostname-result .error").waitFor();
  assert.match(await text("#hostname-result"), /does not name 'api\.example\.com'/);
  assert.equal(await page.locator("#hostname-gateway").count(), 0);

  await page.fill("#hostname-form [name=hostname]", "localhost");
  await page.click("#hostname-form button[type=submit]");
  await page.locator("#hostname-gateway").waitFor();
  assert.match(await text("#hostname-result"), /Saved hostname configuration 'gateway' for localhost/);
  const row = await text("#hostname-gateway");
  assert.match(row, /CN=localhost/);
  assert.match(row, /expires soon/, "issued for 30 days");
  assert.match(row, /not asked for/);
  assert.match(row, /default/);

  // Delete asks first; the form still holds the values, so saving again puts it back for the
  // console test below.
  const asked = confirmations.length;
  await page.click("#hostname-gateway button.danger");
  await page.locator("#hostname-gateway").waitFor({ state: "detached" });
  assert.equal(confirmations.length, asked + 1);
  assert.match(confirmations.at(-1), /Delete hostname configuration 'gateway' \(localhost\)/);
  assert.match(await text("#hostname-result"), /Deleted hostname configuration 'gateway'/);
  await page.click("#hostname-form button[type=submit]");
  await page.locator("#hostname-gateway").waitFor();
});

ui("a back end trusts that CA; turning validation off shows a warning", async () => {
  await page.goto(url("/ui/backends/new"));
  await page.fill("[name=id]", "orders-backend");
  await page.fill("[name=url]", `https://localhost:${backend.port}`);
  assert.equal(await page.locator("#validation-warning").isVisible(), false);
  await page.uncheck("[name=validate_name]");
  assert.equal(await page.locator("#validation-warning").isVisible(), true);
  await page.check("[name=validate_name]");
  assert.equal(await page.locator("#validation-warning").isVisible(), false);
  await page.check("[name=ca][value=orders-server]");
  await page.click("#backend-form button[type=submit]");
  await page.waitForURL(/\/ui\/backends\?saved=orders-backend$/);
  const row = await text("#backend-orders-backend");
  assert.match(row, /chain validated/);
  assert.match(row, /CA orders-server/);
});

ui("an API with an operation is created", async () => {
  await page.goto(url("/ui/apis"));
  await page.fill("#api-form [name=id]", "orders");
  await page.fill("#api-form [name=name]", "Orders");
  await page.fill("#api-form [name=path]", "orders");
  await page.fill("#api-form [name=service_url]", `https://localhost:${backend.port}/v1`);
  await page.click("#api-form button[type=submit]");
  await page.waitForURL(/\/ui\/apis\/orders$/);
  assert.match(await text("#credentials-panel"), /back end orders-backend/);

  await page.fill("[name=operation]", "get-order");
  await page.selectOption("[name=method]", "GET");
  await page.fill("[name=template]", "/orders/{id}");
  await page.click("text=Add operation");
  await page.locator("#operations .ok").waitFor();
  assert.match(await text("#operations .ok"), /Saved operation 'get-order'/);
  assert.match(await text("#operations"), /\/orders\/\{id\}/);
});

ui("gateway credentials are set from the drop-down", async () => {
  await page.selectOption("#gateway-credentials", "clientCertificate");
  assert.equal(await page.locator("#gateway-certificate").isVisible(), true);
  const label = await page.locator(`#gateway-certificate option[value=${CLIENT_ID}]`).innerText();
  assert.match(label, /CN=portal-client\.example/);
  assert.ok(label.includes(`…${certs.clientThumbprint.slice(-4)}`), label);
  await page.selectOption("#gateway-certificate", CLIENT_ID);
  await page.click("#credentials-panel button[type=submit]");
  await page.locator("#credentials-result .ok").waitFor();
  assert.match(await text("#credentials-result"), new RegExp(certs.clientThumbprint));
  assert.equal(await page.locator("#gateway-credentials").inputValue(), "clientCertificate");
});

ui("the policy editor shows the element the panel wrote, and shows errors where they are", async () => {
  await page.click("text=See it in the policy");
  await page.waitForURL(/\/ui\/policy\?api=orders$/);
  const xml = await page.locator("#policy-xml").inputValue();
  assert.match(xml, new RegExp(`<authentication-certificate certificate-id="${CLIENT_ID}" */>`));

  await page.fill("#policy-xml", xml.replace("</inbound>", "<set-header name=\"X-A\"></inbound>"));
  await page.click("#policy-editor button[value=save]");
  await page.locator("#policy-errors .error").waitFor();
  assert.match(await text("#policy-errors"), /line \d+/i);
  // Nothing changed: the stored policy still has the element.
  await page.reload();
  assert.equal(await page.locator("#policy-xml").inputValue(), xml);

  const edited = xml.replace("<base />", "<base />\n        <set-header name=\"X-Portal\" exists-action=\"override\"><value>yes</value></set-header>");
  assert.notEqual(edited, xml, "the default API policy has <base />");
  await page.fill("#policy-xml", edited);
  await page.click("#policy-editor button[value=save]");
  await page.locator("#policy-errors .ok").waitFor();
  assert.match(await page.locator("#policy-xml").inputValue(), /X-Portal/);
});

ui("the test console call returns 200 and names the certificate the gateway presented", async () => {
  await page.goto(url("/ui/console?api=orders"));
  assert.equal(await page.locator("#console-path").inputValue(), "/orders/orders/{id}");
  await page.fill("#console-path", "/orders/orders/42");
  await page.click("#console-form button[type=submit]");
  await page.locator("#console-result h2").waitFor();
  assert.match(await text("#console-result h2"), /^200 OK/);
  const presented = await text("#presented-certificate");
  assert.ok(presented.includes(CLIENT_ID), presented);
  assert.ok(presented.includes(certs.clientThumbprint), presented);
  // The back end's own account of the handshake agrees.
  const body = JSON.parse(await text("#console-result pre.body"));
  assert.equal(body.clientThumbprint, certs.clientThumbprint);
  assert.equal(body.clientSubject, "portal-client.example");
  assert.equal(body.path, "/v1/orders/42");
});

ui("the test console calls through the TLS listener, accepting only the host name's certificate", async () => {
  await page.goto(url("/ui/console?api=orders"));
  assert.equal(await page.locator("[name=listener][value=plain]").isChecked(), true);
  assert.equal(await page.locator("#console-server-name").isVisible(), false);
  await page.check("[name=listener][value=tls]");
  assert.equal(await page.locator("#console-server-name").isVisible(), true);
  assert.equal(await page.locator("#console-server-name").inputValue(), "localhost");
  await page.fill("#console-path", "/orders/orders/7");
  await page.click("#console-form button[type=submit]");
  await page.locator("#console-result h2").waitFor();
  assert.match(await text("#console-result h2"), /^200 OK/);
  const tls = await text("#console-tls");
  assert.match(tls, /server name localhost/);
  assert.match(tls, /gateway \(localhost\) presented certificate gateway-localhost/);
  assert.ok((await text("#presented-certificate")).includes(CLIENT_ID));
  assert.equal(JSON.parse(await text("#console-result pre.body")).path, "/v1/orders/7");
});

ui("deleting a certificate in use is refused, naming the API; after None it is deleted", async () => {
  await page.goto(url("/ui/certificates"));
  await page.click(`#cert-${CLIENT_ID} button.danger`);
  await page.locator("#cert-notice .warning").waitFor();
  const warning = await text("#cert-notice");
  assert.match(warning, /is in use and was not deleted/);
  assert.match(warning, /APIs that use it: orders/);
  assert.equal(await page.locator(`#cert-${CLIENT_ID}`).count(), 1);

  await page.click("#cert-notice >> text=orders");
  await page.waitForURL(/\/ui\/apis\/orders$/);
  await page.selectOption("#gateway-credentials", "none");
  await page.click("#credentials-panel button[type=submit]");
  await page.locator("#credentials-result .ok").waitFor();

  await page.goto(url("/ui/certificates"));
  await page.click(`#cert-${CLIENT_ID} button.danger`);
  await page.locator(`#cert-${CLIENT_ID}`).waitFor({ state: "detached" });
  assert.match(await text("#upload-result"), new RegExp(`Deleted certificate '${CLIENT_ID}'`));
});

ui("removing a policy asks first, then the default applies", async () => {
  await page.goto(url("/ui/policy?api=orders"));
  assert.match(await page.locator("#policy-xml").inputValue(), /X-Portal/);
  const asked = confirmations.length;
  await page.click("#policy-editor button.danger");
  await page.locator("#policy-errors .ok").waitFor();
  assert.equal(confirmations.length, asked + 1);
  assert.match(confirmations.at(-1), /Remove this policy/);
  assert.match(await text("#policy-editor"), /No policy is stored at this scope/);
  assert.doesNotMatch(await page.locator("#policy-xml").inputValue(), /X-Portal/);
});

ui("pages fit a phone's width", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of ["/ui/certificates", "/ui/hostnames", "/ui/backends", "/ui/apis/orders", "/ui/policy?api=orders", "/ui/console"]) {
    await page.goto(url(p));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${p} overflows a 390px screen by ${overflow}px`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

ui("sign out ends the session", async () => {
  await page.goto(url("/ui/apis"));
  await page.click("text=Sign out");
  await page.waitForURL(/\/login$/);
  await page.goto(url("/ui/apis"));
  assert.match(page.url(), /\/login$/);
});

ui("another page cannot frame the portal", async () => {
  const other = await browser.newPage();
  try {
    await other.setContent(`<iframe id="portal" src="${url("/login")}"></iframe>`);
    await other.waitForTimeout(500);
    const framed = other.frames().find((f) => f !== other.mainFrame());
    assert.ok(framed, "the frame exists");
    assert.equal(await framed.locator("#token").count(), 0, "the sign-in form must not render in a frame");
  } finally {
    await other.close();
  }
});

ui("the pages' Content-Security-Policy blocked nothing they use", async () => {
  assert.deepEqual(blocked, []);
});

ui("every asset came from Gatehouse itself", async () => {
  assert.ok(requested.some((u) => u.endsWith("/assets/htmx.min.js")), "htmx was loaded");
  const elsewhere = requested.filter((u) => !u.startsWith(`${gatehouse.adminUrl}/`));
  assert.deepEqual(elsewhere, []);
});
