//! Certificate fixtures made at test time with the `openssl` CLI (as operators make them) and
//! rcgen (for validity periods the CLI cannot set).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Key types the fixtures make.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// RSA 2048.
    Rsa,
    /// ECDSA P-256.
    EcP256,
}

/// A certificate and its key on disk.
pub struct CertFiles {
    /// Certificate, PEM.
    pub cert: PathBuf,
    /// Private key, PEM (PKCS#8, unencrypted).
    pub key: PathBuf,
}

/// A scratch directory of fixtures.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// Runs `openssl` with `args` in `dir`, panicking with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Pki {
    /// A new empty directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Reads a file of the directory.
    pub fn read(&self, name: impl AsRef<Path>) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).expect("read fixture")
    }

    /// Writes a file into the directory.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        openssl(self.dir.path(), args)
    }

    /// A new key.
    pub fn key(&self, name: &str, kind: KeyKind) -> PathBuf {
        let file = format!("{name}.key");
        match kind {
            KeyKind::Rsa => self.run(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &file,
            ]),
            KeyKind::EcP256 => self.run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &file,
            ]),
        };
        self.dir.path().join(file)
    }

    /// A self-signed certificate with `subject` in OpenSSL's `/O=.../CN=...` form.
    pub fn self_signed(&self, name: &str, subject: &str, kind: KeyKind) -> CertFiles {
        let key = self.key(name, kind);
        let cert = format!("{name}.crt");
        self.run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-days",
            "365",
            "-out",
            &cert,
        ]);
        CertFiles {
            cert: self.dir.path().join(cert),
            key,
        }
    }

    /// A CA and a client certificate it signs.
    pub fn ca_signed(&self, name: &str, subject: &str) -> (CertFiles, CertFiles) {
        let ca = self.self_signed(
            &format!("{name}-ca"),
            "/O=Bars/CN=Gatehouse Test CA",
            KeyKind::EcP256,
        );
        let key = self.key(name, KeyKind::EcP256);
        self.run(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-out",
            &format!("{name}.csr"),
        ]);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{name}-ca.crt"),
            "-CAkey",
            &format!("{name}-ca.key"),
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            &format!("{name}.crt"),
        ]);
        (
            ca,
            CertFiles {
                cert: self.dir.path().join(format!("{name}.crt")),
                key,
            },
        )
    }

    /// A `.pfx` of `files` (OpenSSL 3 default AES-256/PBKDF2, or `-legacy` RC2/3DES/SHA-1).
    pub fn pfx(&self, files: &CertFiles, password: &str, legacy: bool) -> Vec<u8> {
        let out = format!(
            "{}.{}.pfx",
            files.cert.file_stem().unwrap().to_string_lossy(),
            if legacy { "legacy" } else { "modern" }
        );
        let pass = format!("pass:{password}");
        let cert = files.cert.to_string_lossy().into_owned();
        let key = files.key.to_string_lossy().into_owned();
        let mut args = vec![
            "pkcs12", "-export", "-in", &cert, "-inkey", &key, "-passout", &pass, "-out", &out,
        ];
        if legacy {
            args.push("-legacy");
        }
        self.run(&args);
        self.read(&out)
    }

    /// The key of `files` as encrypted PKCS#8 PEM (AES-256-CBC, PBKDF2).
    pub fn encrypted_key(&self, files: &CertFiles, password: &str) -> String {
        let key = files.key.to_string_lossy().into_owned();
        let pass = format!("pass:{password}");
        let out = self.run(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            &key,
            "-passout",
            &pass,
        ]);
        String::from_utf8(out).unwrap()
    }

    /// SHA-1 fingerprint as `openssl x509 -fingerprint -sha1` prints it, colons removed.
    pub fn thumbprint(&self, cert: &Path) -> String {
        let out = self.run(&[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha1",
            "-in",
            &cert.to_string_lossy(),
        ]);
        let text = String::from_utf8(out).unwrap();
        text.trim().split('=').nth(1).unwrap().replace(':', "")
    }

    /// `notAfter` as RFC 3339 (`2027-11-23T14:00:00Z`).
    pub fn not_after(&self, cert: &Path) -> String {
        let out = self.run(&[
            "x509",
            "-noout",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-in",
            &cert.to_string_lossy(),
        ]);
        let text = String::from_utf8(out).unwrap();
        text.trim()
            .trim_start_matches("notAfter=")
            .replace(' ', "T")
    }
}

/// A certificate and key (PEM) valid only between the two offsets from now, in days.
pub fn rcgen_pem(cn: &str, from_days: i64, to_days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Base64 for `properties.data`.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A TLS identity as a server presents it.
pub type Identity = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// A throw-away CA that issues server and client certificates.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
}

fn key_pair() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn params(cn: &str, names: &[&str], from_days: i64, to_days: i64) -> rcgen::CertificateParams {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    params
}

impl TestCa {
    /// A new CA named `cn`.
    pub fn new(cn: &str) -> Self {
        let mut p = params(cn, &[], -1, 30);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = key_pair();
        let cert = p.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: rcgen::Issuer::new(p, key),
        }
    }

    /// A server certificate for `names`, valid between the two day offsets from now.
    pub fn server(&self, names: &[&str], from_days: i64, to_days: i64) -> Identity {
        let key = key_pair();
        let mut p = params(
            names.first().copied().unwrap_or("server"),
            names,
            from_days,
            to_days,
        );
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }

    /// A server certificate for `names` as PEM (certificate then key), to upload for a
    /// hostname configuration.
    pub fn server_pem(&self, names: &[&str]) -> String {
        let key = key_pair();
        let mut p = params(names.first().copied().unwrap_or("server"), names, -1, 30);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }

    /// A client certificate valid between the two day offsets from now, as PEM (certificate
    /// then key), and its DER.
    pub fn client_dated(&self, cn: &str, from_days: i64, to_days: i64) -> (String, Vec<u8>) {
        let key = key_pair();
        let mut p = params(cn, &[], from_days, to_days);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            cert.der().to_vec(),
        )
    }

    /// A client certificate as PEM (certificate then key), and its DER.
    pub fn client(&self, cn: &str) -> (String, Vec<u8>) {
        let key = key_pair();
        let mut p = params(cn, &[], -1, 30);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            cert.der().to_vec(),
        )
    }
}

/// A self-signed server certificate for `names`, and its PEM.
pub fn self_signed_server(names: &[&str]) -> (Identity, String) {
    let key = key_pair();
    let p = params(names.first().copied().unwrap_or("server"), names, -1, 30);
    let cert = p.self_signed(&key).unwrap();
    (
        (
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        ),
        cert.pem(),
    )
}

/// A self-signed client certificate as PEM (certificate then key), and its DER.
pub fn self_signed_client(cn: &str) -> (String, Vec<u8>) {
    let key = key_pair();
    let cert = params(cn, &[], -1, 30).self_signed(&key).unwrap();
    (
        format!("{}{}", cert.pem(), key.serialize_pem()),
        cert.der().to_vec(),
    )
}
