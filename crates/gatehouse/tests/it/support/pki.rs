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
