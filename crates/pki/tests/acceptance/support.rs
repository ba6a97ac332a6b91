//! Test fixtures: certificates and keys from rcgen, PKCS#12 and PEM files
//! from the `openssl` CLI, all generated at test time in one temporary
//! directory and cached for the whole test binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_pki::PkiError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};

/// The password of every protected fixture; it must never appear in an error.
pub(crate) const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";
/// A wrong password, also never to be echoed.
pub(crate) const WRONG_PASSWORD: &str = "Wrong-Horse-Battery-Staple-8";

/// A certificate with its key, in PEM.
pub(crate) struct Identity {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: Vec<u8>,
    /// PKCS#8 PEM.
    pub(crate) key_pem: String,
    pub(crate) key_der: Vec<u8>,
}

struct State {
    dir: tempfile::TempDir,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    secrets: Mutex<Vec<String>>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| State {
        dir: tempfile::Builder::new()
            .prefix("gatehouse-pki-tests-")
            .tempdir()
            .expect("temporary directory"),
        cache: Mutex::new(HashMap::new()),
        secrets: Mutex::new(vec![PASSWORD.to_string(), WRONG_PASSWORD.to_string()]),
    })
}

/// The fixture directory.
pub(crate) fn dir() -> &'static Path {
    state().dir.path()
}

/// Writes a fixture file and returns its path.
pub(crate) fn write(name: &str, contents: &[u8]) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, contents).expect("write fixture");
    path
}

/// Runs `openssl` and returns stdout; panics with stderr on failure.
pub(crate) fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Whether `openssl` accepts the arguments (for checks of our own rewrites).
pub(crate) fn openssl_succeeds(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir())
        .output()
        .expect("run openssl")
        .status
        .success()
}

/// Builds a fixture once per test binary.
pub(crate) fn cached(name: &str, build: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
    let mut cache = state().cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(name) {
        return found.clone();
    }
    let built = Arc::new(build());
    cache.insert(name.to_string(), built.clone());
    built
}

/// Registers key material that must never show up in error text.
fn remember_secret(key_der: &[u8]) {
    let mut secrets = state().secrets.lock().unwrap_or_else(|e| e.into_inner());
    let b64 = STANDARD.encode(key_der);
    // Whole encodings and distinctive middle slices (headers are shared by all keys).
    secrets.push(b64[b64.len() / 2..b64.len() / 2 + 24].to_string());
    let hex_lower = hex::encode(key_der);
    secrets.push(hex_lower[hex_lower.len() / 2..hex_lower.len() / 2 + 32].to_string());
    secrets.push(hex_lower[hex_lower.len() / 2..hex_lower.len() / 2 + 32].to_uppercase());
    let middle = &key_der[key_der.len() / 2..key_der.len() / 2 + 8];
    secrets.push(format!("{middle:?}").trim_matches(['[', ']']).to_string());
}

/// Asserts that neither `Display` nor `Debug` of `text_source` leaks a
/// registered password or key.
pub(crate) fn assert_no_secrets(display: &str, debug: &str) {
    let secrets = state().secrets.lock().unwrap_or_else(|e| e.into_inner());
    for secret in secrets.iter() {
        assert!(
            !display.contains(secret.as_str()),
            "secret leaked in Display: {display}"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "secret leaked in Debug: {debug}"
        );
    }
}

/// Unwraps the error, checks its code and that it leaks nothing.
#[track_caller]
pub(crate) fn expect_code<T: std::fmt::Debug>(result: Result<T, PkiError>, code: &str) -> PkiError {
    let error = match result {
        Ok(value) => panic!("expected {code}, got Ok({value:?})"),
        Err(error) => error,
    };
    assert_no_secrets(&error.to_string(), &format!("{error:?}"));
    assert_eq!(error.code(), code, "unexpected error: {error}");
    error
}

fn key_pair(algorithm: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(algorithm).expect("generate key")
}

fn params(common_name: &str, organization: &str, sans: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    params
}

fn identity(cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    let key_der = key.serialize_der();
    remember_secret(&key_der);
    Identity {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der,
    }
}

/// A three-level PKI: root and intermediate CAs (ECDSA P-256) and leaves.
pub(crate) struct Pki {
    pub(crate) root: Identity,
    pub(crate) intermediate: Identity,
    /// RSA 2048, `CN=gatehouse-client, O=Bars`, signed by the intermediate.
    pub(crate) leaf_rsa: Identity,
    /// ECDSA P-256, `CN=gatehouse-ec-client, O=Bars`, signed by the intermediate.
    pub(crate) leaf_ec: Identity,
    /// Self-signed ECDSA P-256, `CN=self-signed-client, O=Bars`.
    pub(crate) self_signed_ec: Identity,
    /// Self-signed RSA 2048 with another key, for mismatches.
    pub(crate) other_rsa: Identity,
    /// Self-signed ECDSA P-384.
    pub p384: Identity,
    /// Self-signed Ed25519.
    pub ed25519: Identity,
    /// Expired a day ago.
    pub(crate) expired: Identity,
    /// Valid from tomorrow.
    pub(crate) not_yet_valid: Identity,
}

/// The shared PKI, generated on first use.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut root_params = params("Gatehouse Test Root", "Bars", &[]);
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = root_params.self_signed(&root_key).expect("root");
        let root_issuer = Issuer::from_params(&root_params, &root_key);

        let intermediate_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut intermediate_params = params("Gatehouse Test Intermediate", "Bars", &[]);
        intermediate_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let intermediate_cert = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .expect("intermediate");
        let intermediate_issuer = Issuer::from_params(&intermediate_params, &intermediate_key);

        let leaf_rsa_key = key_pair(&rcgen::PKCS_RSA_SHA256);
        let leaf_rsa_cert = params(
            "gatehouse-client",
            "Bars",
            &["client.example.com", "127.0.0.1"],
        )
        .signed_by(&leaf_rsa_key, &intermediate_issuer)
        .expect("leaf");

        let leaf_ec_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let leaf_ec_cert = params("gatehouse-ec-client", "Bars", &["ec.example.com"])
            .signed_by(&leaf_ec_key, &intermediate_issuer)
            .expect("leaf ec");

        let self_signed_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let self_signed_cert = params("self-signed-client", "Bars", &["self.example.com"])
            .self_signed(&self_signed_key)
            .expect("self-signed");

        let other_key = key_pair(&rcgen::PKCS_RSA_SHA256);
        let other_cert = params("other-client", "Bars", &[])
            .self_signed(&other_key)
            .expect("other");

        let p384_key = key_pair(&rcgen::PKCS_ECDSA_P384_SHA384);
        let p384_cert = params("p384-client", "Bars", &[])
            .self_signed(&p384_key)
            .expect("p384");

        let ed_key = key_pair(&rcgen::PKCS_ED25519);
        let ed_cert = params("ed25519-client", "Bars", &[])
            .self_signed(&ed_key)
            .expect("ed25519");

        let now = OffsetDateTime::now_utc();
        let expired_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut expired_params = params("expired-client", "Bars", &[]);
        expired_params.not_before = now - Duration::days(30);
        expired_params.not_after = now - Duration::days(1);
        let expired_cert = expired_params.self_signed(&expired_key).expect("expired");

        let future_key = key_pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut future_params = params("future-client", "Bars", &[]);
        future_params.not_before = now + Duration::days(1);
        future_params.not_after = now + Duration::days(30);
        let future_cert = future_params.self_signed(&future_key).expect("future");

        Pki {
            root: identity(&root_cert, &root_key),
            intermediate: identity(&intermediate_cert, &intermediate_key),
            leaf_rsa: identity(&leaf_rsa_cert, &leaf_rsa_key),
            leaf_ec: identity(&leaf_ec_cert, &leaf_ec_key),
            self_signed_ec: identity(&self_signed_cert, &self_signed_key),
            other_rsa: identity(&other_cert, &other_key),
            p384: identity(&p384_cert, &p384_key),
            ed25519: identity(&ed_cert, &ed_key),
            expired: identity(&expired_cert, &expired_key),
            not_yet_valid: identity(&future_cert, &future_key),
        }
    })
}

/// Writes an identity's certificate and key and returns their file names.
pub(crate) fn write_identity(name: &str, identity: &Identity) -> (String, String) {
    let cert = format!("{name}-cert.pem");
    let key = format!("{name}-key.pem");
    write(&cert, identity.cert_pem.as_bytes());
    write(&key, identity.key_pem.as_bytes());
    (cert, key)
}

/// `openssl pkcs12 -export` of the RSA leaf with intermediate and root, plus `extra` options.
pub(crate) fn leaf_pfx(name: &str, extra: &[&str]) -> Arc<Vec<u8>> {
    identity_pfx(name, &pki().leaf_rsa, true, extra)
}

/// `openssl pkcs12 -export` of an identity, optionally with the CA chain.
pub(crate) fn identity_pfx(
    name: &str,
    identity: &Identity,
    with_chain: bool,
    extra: &[&str],
) -> Arc<Vec<u8>> {
    cached(name, || {
        let pki = pki();
        let (cert, key) = write_identity(name, identity);
        let chain = format!("{name}-chain.pem");
        // Root before intermediate on purpose: the parser must order by issuer.
        write(
            &chain,
            format!("{}{}", pki.root.cert_pem, pki.intermediate.cert_pem).as_bytes(),
        );
        let out = format!("{name}.pfx");
        let passout = format!("pass:{PASSWORD}");
        let mut args = vec![
            "pkcs12", "-export", "-in", &cert, "-inkey", &key, "-out", &out, "-passout", &passout,
        ];
        if with_chain {
            args.extend(["-certfile", &chain]);
        }
        // A later -passout overrides the default one.
        args.extend(extra);
        openssl(&args);
        std::fs::read(dir().join(&out)).expect("read pfx")
    })
}

/// SHA-1 fingerprint as printed by OpenSSL, colons removed.
pub(crate) fn openssl_thumbprint(cert_pem: &str) -> String {
    let path = write("thumbprint-input.pem", cert_pem.as_bytes());
    let out = openssl(&[
        "x509",
        "-in",
        path.to_str().expect("path"),
        "-noout",
        "-fingerprint",
        "-sha1",
    ]);
    let text = String::from_utf8(out).expect("utf8");
    text.trim()
        .split_once('=')
        .expect("fingerprint line")
        .1
        .replace(':', "")
}

/// notAfter as printed by OpenSSL (`-dateopt iso_8601`).
pub(crate) fn openssl_not_after(cert_pem: &str) -> OffsetDateTime {
    let path = write("enddate-input.pem", cert_pem.as_bytes());
    let out = openssl(&[
        "x509",
        "-in",
        path.to_str().expect("path"),
        "-noout",
        "-enddate",
        "-dateopt",
        "iso_8601",
    ]);
    let text = String::from_utf8(out).expect("utf8");
    let value = text.trim().trim_start_matches("notAfter=");
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .expect("iso date")
        .assume_utc()
}

/// Serial as printed by OpenSSL.
pub(crate) fn openssl_serial(cert_pem: &str) -> String {
    let path = write("serial-input.pem", cert_pem.as_bytes());
    let out = openssl(&[
        "x509",
        "-in",
        path.to_str().expect("path"),
        "-noout",
        "-serial",
    ]);
    String::from_utf8(out)
        .expect("utf8")
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}

/// Registers a key produced outside rcgen (for example by `openssl genpkey`).
pub(crate) fn remember_key_pem(pem: &str) {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    if let Ok(der) = STANDARD.decode(body)
        && der.len() > 64
    {
        remember_secret(&der);
    }
}

/// A tiny deterministic PRNG (xorshift64*) for mutation tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
