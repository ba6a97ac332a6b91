//! At-rest encryption with the master key.

use gatehouse_pki::MasterKey;

use crate::support::expect_code;

#[test]
fn seal_open_round_trip() {
    let key = MasterKey::generate().expect("generate");
    let secret = b"-----BEGIN PRIVATE KEY----- pretend";
    let aad = b"certificate:42:v3";
    let sealed = key.seal(secret, aad).expect("seal");
    assert_eq!(sealed[0], 1, "version byte");
    assert_eq!(sealed.len(), 1 + 12 + secret.len() + 16);
    assert_eq!(key.open(&sealed, aad).expect("open").as_slice(), secret);

    let again = key.seal(secret, aad).expect("seal again");
    assert_ne!(sealed, again, "random nonce per seal");
    assert_ne!(sealed[1..13], again[1..13]);

    assert!(
        key.open(&key.seal(b"", aad).expect("empty"), aad)
            .expect("open")
            .is_empty()
    );
}

#[test]
fn open_refuses_wrong_key_aad_and_tampering() {
    let key = MasterKey::generate().expect("generate");
    let other = MasterKey::generate().expect("generate");
    let sealed = key.seal(b"secret", b"certificate:1:v1").expect("seal");

    let error = expect_code(other.open(&sealed, b"certificate:1:v1"), "OpenFailed");
    assert_eq!(
        error.to_string(),
        "cannot decrypt: the master key is not the one this data was sealed with, or the data is corrupt"
    );
    expect_code(key.open(&sealed, b"certificate:2:v1"), "OpenFailed");
    for position in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[position] ^= 0x40;
        expect_code(key.open(&tampered, b"certificate:1:v1"), "OpenFailed");
    }
    expect_code(
        key.open(&sealed[..sealed.len() - 1], b"certificate:1:v1"),
        "OpenFailed",
    );
    expect_code(key.open(&[], b""), "OpenFailed");
}

#[test]
fn key_encodings() {
    let key = MasterKey::generate().expect("generate");
    let text = key.to_base64();
    let restored = MasterKey::from_base64(&format!("  {}\n", text.as_str())).expect("base64");
    let sealed = key.seal(b"x", b"a").expect("seal");
    assert_eq!(restored.open(&sealed, b"a").expect("open").as_slice(), b"x");

    let raw = [7u8; 32];
    let from_raw = MasterKey::from_bytes(&raw).expect("bytes");
    let debug = format!("{from_raw:?}");
    assert_eq!(debug, "MasterKey(<redacted>)");
    assert!(!debug.contains("7, 7"));
    assert!(!format!("{key:?}").contains(text.as_str()));

    expect_code(MasterKey::from_bytes(&[1u8; 31]), "InvalidMasterKey");
    expect_code(MasterKey::from_bytes(&[1u8; 33]), "InvalidMasterKey");
    expect_code(MasterKey::from_base64("not base64!"), "InvalidMasterKey");
    expect_code(MasterKey::from_base64("AAAA"), "InvalidMasterKey");
}
