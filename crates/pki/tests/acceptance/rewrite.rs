//! Byte-level rewrites of PKCS#12 files that no CLI produces directly,
//! implemented independently of the crate (own TLV walker, own KDF) so the
//! tests do not check the crate against itself. Each rewrite is also
//! accepted by `openssl`, which is the real oracle.

use aws_lc_rs::{digest, hmac};

/// One TLV: (tag, header length, contents range) within a buffer.
struct Tlv {
    tag: u8,
    start: usize,
    header: usize,
    len: usize,
}

impl Tlv {
    fn contents(&self) -> std::ops::Range<usize> {
        self.start + self.header..self.start + self.header + self.len
    }
    fn end(&self) -> usize {
        self.start + self.header + self.len
    }
}

fn tlv(data: &[u8], start: usize) -> Tlv {
    let tag = data[start];
    let first = data[start + 1];
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7F);
        let len = data[start + 2..start + 2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + count, len)
    };
    Tlv {
        tag,
        start,
        header,
        len,
    }
}

fn children(data: &[u8], parent: &Tlv) -> Vec<Tlv> {
    let mut out = Vec::new();
    let mut pos = parent.contents().start;
    while pos < parent.end() {
        let child = tlv(data, pos);
        pos = child.end();
        out.push(child);
    }
    out
}

/// RFC 7292 appendix B.2 with an arbitrary password byte string.
fn pkcs12_kdf(password: &[u8], salt: &[u8], iterations: u64, out_len: usize) -> Vec<u8> {
    let alg = &digest::SHA256;
    let (u, v) = (alg.output_len(), alg.block_len());
    let fill = |s: &[u8]| -> Vec<u8> {
        if s.is_empty() {
            Vec::new()
        } else {
            (0..v * s.len().div_ceil(v))
                .map(|i| s[i % s.len()])
                .collect()
        }
    };
    let mut i_block = fill(salt);
    i_block.extend(fill(password));
    let mut out = Vec::new();
    loop {
        let mut input = vec![3u8; v];
        input.extend_from_slice(&i_block);
        let mut a = digest::digest(alg, &input).as_ref().to_vec();
        for _ in 1..iterations {
            a = digest::digest(alg, &a).as_ref().to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= out_len {
            out.truncate(out_len);
            return out;
        }
        let b: Vec<u8> = (0..v).map(|i| a[i % u]).collect();
        for chunk in i_block.chunks_mut(v) {
            let mut carry = 1u16;
            for j in (0..v).rev() {
                let sum = u16::from(chunk[j]) + u16::from(b[j]) + carry;
                chunk[j] = (sum & 0xFF) as u8;
                carry = sum >> 8;
            }
        }
    }
}

/// Recomputes an HMAC-SHA256 PKCS#12 MAC with the zero-length password
/// (what `PKCS12_create(NULL, ...)`-style writers produce), keeping every
/// other byte.
pub(crate) fn with_zero_length_password_mac(pfx: &[u8]) -> Vec<u8> {
    let top = tlv(pfx, 0);
    let fields = children(pfx, &top);
    let auth_safe = &fields[1];
    let content = &children(pfx, auth_safe)[1];
    let octets = &children(pfx, content)[0];
    let mac_data = &fields[2];
    let mac_fields = children(pfx, mac_data);
    let digest_info = children(pfx, &mac_fields[0]);
    let digest_value = &digest_info[1];
    let salt = &pfx[mac_fields[1].contents()];
    let iterations = pfx[mac_fields[2].contents()]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let key = pkcs12_kdf(&[], salt, iterations, 32);
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        &pfx[octets.contents()],
    );
    let mut out = pfx.to_vec();
    out[digest_value.contents()].copy_from_slice(tag.as_ref());
    out
}

/// Re-encodes the outer PFX layers in BER: indefinite lengths for every
/// constructed element outside the authenticated safe, and the authSafe
/// OCTET STRING split into a constructed string of 100-byte segments. The
/// MAC covers only the authSafe contents, which stay byte-identical.
pub(crate) fn to_ber(pfx: &[u8]) -> Vec<u8> {
    fn convert(data: &[u8], element: &Tlv, out: &mut Vec<u8>) {
        let constructed = element.tag & 0x20 != 0;
        if constructed {
            out.extend_from_slice(&[element.tag, 0x80]);
            for child in children(data, element) {
                convert(data, &child, out);
            }
            out.extend_from_slice(&[0, 0]);
        } else if element.tag == 0x04 && element.len > 100 {
            out.extend_from_slice(&[0x24, 0x80]);
            for segment in data[element.contents()].chunks(100) {
                out.push(0x04);
                out.push(segment.len() as u8);
                out.extend_from_slice(segment);
            }
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&data[element.start..element.end()]);
        }
    }
    let mut out = Vec::new();
    convert(pfx, &tlv(pfx, 0), &mut out);
    out
}
