//! Mounted files: a PKCS#12 file, or PEM (certificate and key in one file, or `tls.crt` and
//! `tls.key`), with the password in a file of its own.

use gatehouse_model::entity::certificate::{FileReference, Material};
use zeroize::Zeroizing;

use crate::FetchError;

/// Largest file read (a certificate chain with its key is a few kilobytes).
const MAX_FILE: u64 = 1024 * 1024;

async fn read_file(path: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, FetchError> {
    let unreadable = |e: std::io::Error| {
        FetchError::new(
            "FileUnreadable",
            format!("cannot read the {what} {path}: {e}; check the mount and the file's mode"),
        )
    };
    let meta = tokio::fs::metadata(path).await.map_err(unreadable)?;
    if meta.len() > MAX_FILE {
        return Err(FetchError::new(
            "FileTooLarge",
            format!("the {what} {path} is larger than {MAX_FILE} bytes"),
        ));
    }
    Ok(Zeroizing::new(
        tokio::fs::read(path).await.map_err(unreadable)?,
    ))
}

/// Reads what `reference` names.
pub(crate) async fn read(reference: &FileReference) -> Result<Material, FetchError> {
    let password = match &reference.password_file {
        Some(path) => {
            let bytes = read_file(path, "password file").await?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                FetchError::new(
                    "InvalidSecret",
                    format!("the password file {path} is not UTF-8"),
                )
            })?;
            Some(Zeroizing::new(
                text.lines().next().unwrap_or_default().to_owned(),
            ))
        }
        None => None,
    };
    let main = read_file(&reference.path, "certificate file").await?;
    let is_pem = main
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(10)
        .eq(b"-----BEGIN".iter());
    if !is_pem {
        if reference.key_path.is_some() {
            return Err(FetchError::new(
                "InvalidSecret",
                format!(
                    "{} is not PEM, but keyPath is set: keyPath goes with a PEM certificate",
                    reference.path
                ),
            ));
        }
        return Ok(Material::Pkcs12(main, password));
    }
    let mut text = Zeroizing::new(String::from_utf8(main.to_vec()).map_err(|_| {
        FetchError::new(
            "InvalidSecret",
            format!("{} is not UTF-8 PEM", reference.path),
        )
    })?);
    if let Some(key_path) = &reference.key_path {
        let key = read_file(key_path, "key file").await?;
        let key = std::str::from_utf8(&key).map_err(|_| {
            FetchError::new("InvalidSecret", format!("{key_path} is not UTF-8 PEM"))
        })?;
        text.push('\n');
        text.push_str(key);
    }
    Ok(Material::Pem(text, password))
}

/// One file's identity: inode, modification time (seconds, nanoseconds), length; `None` when
/// it cannot be read.
pub(crate) type Stamp = Vec<Option<(u64, i64, i64, u64)>>;

/// What identifies a version of the files on disk: a change of any of them is a reason to
/// read them again.
pub(crate) fn stamp(reference: &FileReference) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    [
        Some(&reference.path),
        reference.key_path.as_ref(),
        reference.password_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        // Kubernetes swaps a symlink to a new directory: follow it, and note the target.
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pem_and_key_files_join_a_pkcs12_stays_binary_and_the_password_is_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        };
        let crt = write(
            "tls.crt",
            b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        );
        let key = write(
            "tls.key",
            b"-----BEGIN PRIVATE KEY-----\nBB==\n-----END PRIVATE KEY-----\n",
        );
        let password = write("password", b"s3cret\nignored second line\n");
        let pem = read(&FileReference {
            path: crt.clone(),
            key_path: Some(key),
            password_file: None,
        })
        .await
        .unwrap();
        let Material::Pem(text, None) = pem else {
            panic!("{pem:?}");
        };
        assert!(text.contains("BEGIN CERTIFICATE") && text.contains("BEGIN PRIVATE KEY"));

        let p12 = write("keystore.p12", &[0x30, 0x82, 0x01, 0x00]);
        let Material::Pkcs12(bytes, Some(pass)) = read(&FileReference {
            path: p12,
            key_path: None,
            password_file: Some(password),
        })
        .await
        .unwrap() else {
            panic!("not PKCS#12 with a password");
        };
        assert_eq!((bytes.len(), pass.as_str()), (4, "s3cret"));

        let missing = read(&FileReference {
            path: dir.path().join("gone").display().to_string(),
            key_path: None,
            password_file: None,
        })
        .await
        .unwrap_err();
        assert_eq!(missing.code, "FileUnreadable");
    }
}
