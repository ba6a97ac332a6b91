// Helpers of the browser tests: the real gatehouse binary, a real mutual-TLS back end,
// certificates made with the openssl CLI, and headless Chromium.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(here, "..", "..", "target");

/** Where screenshots of failed tests go. */
export const screenshotDir = path.join(targetDir, "browser-screenshots");

/** A scratch directory, removed by `cleanup`. */
export function scratch() {
  return mkdtempSync(path.join(tmpdir(), "gatehouse-browser-"));
}

function openssl(args, cwd) {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Certificates for a test, made with the openssl CLI: the back end's self-signed server
 * certificate (for localhost; also as one PEM file with its key), and a self-signed client
 * certificate in a .pfx.
 */
export function makeCertificates(dir, { clientCn, password }) {
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "server.key", "-out", "server.crt", "-days", "30", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], dir);
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key",
    "-out", "client.crt", "-days", "90", "-subj", `/CN=${clientCn}/O=Gatehouse browser test`], dir);
  openssl(["pkcs12", "-export", "-in", "client.crt", "-inkey", "client.key", "-out", "client.pfx",
    "-passout", `pass:${password}`], dir);
  const fingerprint = execFileSync("openssl", ["x509", "-in", "client.crt", "-noout", "-fingerprint", "-sha1"], { cwd: dir })
    .toString().trim().split("=")[1].replaceAll(":", "").toUpperCase();
  // The same certificate with its key in one PEM file, for the gateway's TLS listener.
  writeFileSync(path.join(dir, "server.pem"),
    readFileSync(path.join(dir, "server.crt"), "utf8") + readFileSync(path.join(dir, "server.key"), "utf8"));
  return {
    serverCert: path.join(dir, "server.crt"),
    serverKey: path.join(dir, "server.key"),
    serverPem: path.join(dir, "server.pem"),
    clientPfx: path.join(dir, "client.pfx"),
    clientThumbprint: fingerprint,
  };
}

/**
 * A back end that requires a client certificate and answers with what it saw: the
 * certificate's subject and SHA-1 thumbprint.
 */
export async function startMtlsBackend(certs) {
  const server = https.createServer({
    cert: readFileSync(certs.serverCert),
    key: readFileSync(certs.serverKey),
    requestCert: true,
    // Self-signed client certificates are allowed; a request without one is refused below.
    rejectUnauthorized: false,
  }, (req, res) => {
    const peer = req.socket.getPeerCertificate();
    if (!peer || !peer.fingerprint) {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "no client certificate" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "x-backend": "orders" });
    res.end(JSON.stringify({
      path: req.url,
      clientSubject: peer.subject.CN,
      clientThumbprint: peer.fingerprint.replaceAll(":", ""),
    }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: server.address().port };
}

/** Starts `gatehouse serve` on free ports in a new data directory, with both gateway listeners. */
export async function startGatehouse(dataDir, token) {
  const bin = process.env.GATEHOUSE_BIN ?? path.join(targetDir, "debug", "gatehouse");
  const child = spawn(bin, ["serve", "--data-dir", dataDir, "--admin-listen", "127.0.0.1:0",
    "--gateway-listen", "127.0.0.1:0", "--gateway-tls-listen", "127.0.0.1:0"], {
    env: { ...process.env, GATEHOUSE_ADMIN_TOKEN: token, RUST_LOG: "info", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const addrs = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gatehouse did not start:\n${log}`)), 30000);
    const onData = (chunk) => {
      log += chunk.toString();
      const admin = log.match(/admin listener bound addr=(\S+)/);
      const gateway = log.match(/gateway listener bound addr=(\S+)/);
      const tls = log.match(/gateway TLS listener bound addr=(\S+)/);
      if (admin && gateway && tls) {
        clearTimeout(timer);
        resolve({ admin: admin[1], gateway: gateway[1], tls: tls[1] });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`gatehouse exited with ${code}:\n${log}`)));
  });
  return {
    child,
    adminUrl: `http://${addrs.admin}`,
    gatewayAddr: addrs.gateway,
    gatewayTlsAddr: addrs.tls,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.exitCode !== null ? resolve() : child.on("exit", resolve));
    },
  };
}

/**
 * The Chromium to drive: CHROMIUM_PATH, else `chromium` found on the PATH exactly as the
 * test command's install step looks for it (`command -v chromium`).
 */
function chromiumPath() {
  if (process.env.CHROMIUM_PATH) {
    return process.env.CHROMIUM_PATH;
  }
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("no chromium on the PATH; scripts/test installs Debian's chromium package");
  }
}

/** Headless Chromium: Debian's package, or CHROMIUM_PATH. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      "--disable-background-networking", "--no-first-run", "--disable-extensions"],
  });
}

/**
 * Runs a test step against `page`; on failure saves a screenshot named after the step and
 * rethrows.
 */
export async function step(name, page, body) {
  try {
    await body();
  } catch (error) {
    mkdirSync(screenshotDir, { recursive: true });
    const file = path.join(screenshotDir, `${name.replace(/[^A-Za-z0-9_-]+/g, "-")}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    error.message += `\n(screenshot: ${file})`;
    throw error;
  }
}

/** Removes a scratch directory. */
export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}

