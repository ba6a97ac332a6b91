//! Turning "some certificates and one key" into a [`ClientCertificate`]:
//! the key picks its certificate, and the rest is ordered issuer-wise.

use rustls_pki_types::CertificateDer;

use crate::info::{ParsedCertificate, parse_certificate};
use crate::keys::{self, RawKey};
use crate::{ClientCertificate, PkiError, SourceFormat};

/// Builds the stored form from an upload's certificates (DER, in upload
/// order) and its single private key.
pub(crate) fn assemble(
    certificates: &[Vec<u8>],
    key: RawKey,
    source: SourceFormat,
) -> Result<ClientCertificate, PkiError> {
    let pkcs8 = keys::normalize(key)?;
    let signing = keys::load_signing_key(&pkcs8)?;
    let public_key = keys::public_key_bits(signing.as_ref())?;

    let mut parsed: Vec<ParsedCertificate> = Vec::with_capacity(certificates.len());
    for der in certificates {
        let certificate = parse_certificate(der)?;
        // Files often repeat a certificate (the leaf as both "user" and
        // "CA" cert); keep one copy.
        if !parsed.iter().any(|seen| seen.der == certificate.der) {
            parsed.push(certificate);
        }
    }
    let Some(leaf_index) = parsed.iter().position(|c| c.public_key == public_key) else {
        return Err(PkiError::KeyMismatch {
            subject: parsed
                .iter()
                .find(|c| !c.info.is_ca)
                .or(parsed.first())
                .map(|c| c.info.subject.clone())
                .unwrap_or_default(),
            certificates: parsed.len(),
        });
    };
    let leaf = parsed.remove(leaf_index);
    let ordered = order_chain(leaf, parsed);
    let info = ordered[0].info.clone();
    let chain = ordered
        .into_iter()
        .map(|c| CertificateDer::from(c.der))
        .collect();
    Ok(ClientCertificate {
        chain,
        key: pkcs8,
        info,
        source,
    })
}

/// Leaf first, then each certificate's issuer in turn; certificates that are
/// not on the path keep their upload order at the end.
fn order_chain(
    leaf: ParsedCertificate,
    mut rest: Vec<ParsedCertificate>,
) -> Vec<ParsedCertificate> {
    let mut chain = vec![leaf];
    while let Some(current) = chain.last() {
        if current.subject_raw == current.issuer_raw {
            break;
        }
        let Some(issuer) = rest
            .iter()
            .position(|candidate| candidate.subject_raw == current.issuer_raw)
        else {
            break;
        };
        chain.push(rest.remove(issuer));
    }
    chain.extend(rest);
    chain
}
