//! Mutated inputs must produce errors (or, rarely, a valid result), never a
//! panic, and always in bounded time.

use std::time::{Duration, Instant};

use gatehouse_pki::{Limits, parse_ca_certificate, parse_pem, parse_pkcs12};

use crate::support::{PASSWORD, Rng, assert_no_secrets, leaf_pfx, pki};

fn check_pkcs12(data: &[u8], password: Option<&str>) {
    let started = Instant::now();
    if let Err(error) = parse_pkcs12(data, password, &Limits::default()) {
        assert_no_secrets(&error.to_string(), &format!("{error:?}"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "one parse took {:?}",
        started.elapsed()
    );
}

fn mutate_all(original: &[u8], seed: u64, password: Option<&str>) -> usize {
    let mut runs = 0;
    for len in (0..original.len()).step_by(7) {
        check_pkcs12(&original[..len], password);
        runs += 1;
    }
    let mut rng = Rng::new(seed);
    for step in 0..300 {
        let mut mutated = original.to_vec();
        // Spread positions evenly, then jitter, so headers and payloads are both hit.
        let position = (step * original.len() / 300 + rng.below(7)).min(original.len() - 1);
        mutated[position] ^= 1 << rng.below(8);
        if step % 3 == 0 {
            let other = rng.below(original.len());
            mutated[other] = (rng.next() & 0xFF) as u8;
        }
        check_pkcs12(&mutated, password);
        runs += 1;
    }
    runs
}

#[test]
fn mutated_pkcs12_files_never_panic() {
    let started = Instant::now();
    let mut runs = 0;
    // With a MAC, most mutations stop at the MAC check; the unprotected file
    // lets them reach bag parsing, certificate parsing and key loading.
    runs += mutate_all(&leaf_pfx("default-rsa", &[]), 1, Some(PASSWORD));
    runs += mutate_all(
        &leaf_pfx("plain", &["-nomac", "-keypbe", "NONE", "-certpbe", "NONE"]),
        2,
        None,
    );
    runs += mutate_all(&leaf_pfx("nomac", &["-nomac"]), 3, Some(PASSWORD));
    runs += mutate_all(
        &leaf_pfx("nomac-legacy", &["-nomac", "-legacy"]),
        5,
        Some(PASSWORD),
    );
    assert!(runs > 1000);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn mutated_pem_and_ca_input_never_panics() {
    let pki = pki();
    let pem = format!(
        "{}{}{}",
        pki.leaf_ec.cert_pem, pki.intermediate.cert_pem, pki.leaf_ec.key_pem
    );
    let bytes = pem.as_bytes();
    let mut rng = Rng::new(4);
    for step in 0..400 {
        let mut mutated = bytes.to_vec();
        let position = (step * bytes.len() / 400 + rng.below(5)).min(bytes.len() - 1);
        mutated[position] = b"ABCDEFabcdef0123456789+/=-\n "[rng.below(28)];
        let text = String::from_utf8_lossy(&mutated);
        let _ = parse_pem(&text, None, &Limits::default());
        let _ = parse_ca_certificate(&mutated);
    }
    let der = &pki.root.cert_der;
    for len in 0..der.len() {
        let _ = parse_ca_certificate(&der[..len]);
    }
    for position in 0..der.len() {
        let mut mutated = der.clone();
        mutated[position] ^= 0x80;
        let _ = parse_ca_certificate(&mutated);
    }
}
