//! Every committed fuzz corpus file, replayed through the fuzz targets' own entry points
//! (`gatehouse_model::fuzzing`): a regression a fuzzer once found fails here, without fuzzing.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        files += 1;
    }
    assert!(files > 0, "{target}: the corpus is empty");
    files
}

#[test]
fn every_fuzz_corpus_file_is_handled_without_a_panic() {
    use gatehouse_model::fuzzing;
    let counts = [
        ("pkcs12", replay("pkcs12", fuzzing::pkcs12)),
        ("pem", replay("pem", fuzzing::pem)),
        ("policy", replay("policy", fuzzing::policy)),
        ("template", replay("template", fuzzing::template)),
        ("x509", replay("x509", fuzzing::x509)),
        ("json", replay("json", fuzzing::management_json)),
        ("http1", replay("http1", gatehouse_proxy::fuzzing::http1)),
    ];
    println!("corpus files replayed: {counts:?}");
}
