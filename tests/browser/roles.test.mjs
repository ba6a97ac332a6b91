// Tokens and roles in the web portal, in headless Chromium against the real binary: an admin
// makes a reader token on the Tokens page (its value shown once), the reader signs in with it
// and is offered no change, and a revoked token's session ends.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { cleanup, launchBrowser, scratch, startGatehouse, step } from "./support.mjs";

const TOKEN = "browser-roles-admin-token-0123456789";

let dir, gatehouse, browser, admin, reader;

before(async () => {
  dir = scratch();
  gatehouse = await startGatehouse(`${dir}/data`, TOKEN);
  browser = await launchBrowser();
  admin = await (await browser.newContext()).newPage();
  reader = await (await browser.newContext()).newPage();
  for (const page of [admin, reader]) page.on("dialog", (d) => d.accept());
});

after(async () => {
  await browser?.close();
  await gatehouse?.stop();
  if (dir) cleanup(dir);
});

const url = (p) => `${gatehouse.adminUrl}${p}`;

async function signIn(page, token) {
  await page.goto(url("/login"));
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.waitForURL(/\/ui\/certificates$/);
}

let value;

test("an admin makes a reader token; its value is shown once", () =>
  step("make a token", admin, async () => {
    await signIn(admin, TOKEN);
    await admin.click("nav >> text=Tokens");
    await admin.waitForURL(/\/ui\/tokens$/);
    await admin.fill("#token-form input[name=name]", "viewer");
    await admin.selectOption("#token-form select[name=role]", "reader");
    await admin.click("#token-form button[type=submit]");
    await admin.waitForSelector("#token-value");
    value = await admin.locator("#token-value").innerText();
    assert.match(value, /^ghk_[0-9a-f]{64}$/);
    assert.match(await admin.locator("#tokens").innerText(), /viewer\s+reader/);
    await admin.reload();
    assert.equal(await admin.locator("#token-value").count(), 0, "not shown again");
  }));

test("the reader sees everything and is offered no change", () =>
  step("reader", reader, async () => {
    await signIn(reader, value);
    assert.match(await reader.locator(".who").innerText(), /viewer · reader/);
    const nav = await reader.locator("nav[aria-label=Sections]").innerText();
    assert.doesNotMatch(nav, /Tokens|Test console/);
    assert.equal(await reader.locator("#upload-form").count(), 0);
    await reader.goto(url("/ui/apis"));
    assert.equal(await reader.locator("#api-form").count(), 0);
    const response = await reader.goto(url("/ui/tokens"));
    assert.equal(response.status(), 403);
    assert.match(await reader.locator(".error").innerText(), /needs the admin role/);
  }));

test("revoking the token ends the reader's session", () =>
  step("revoke", admin, async () => {
    await admin.goto(url("/ui/tokens"));
    await admin.click("button[aria-label='Revoke viewer']");
    await admin.waitForSelector("text=revoked");
    await reader.goto(url("/ui/apis"));
    assert.match(reader.url(), /\/login$/);
  }));
