//! Helpers shared by the end-to-end tests: the server process, the client, the fixtures.

#![allow(dead_code)] // each test module uses its own subset

pub mod backend;
pub mod pki;
pub mod raw;
pub mod server;
pub mod setup;

use std::collections::BTreeMap;
use std::path::Path;

/// Bytes of the files that hold committed configuration: the database and its WAL. (The
/// `-shm` index is left out: SQLite readers write their read marks there.)
pub fn store_bytes(data_dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(data_dir).expect("read data dir") {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("gatehouse.db") && !name.ends_with("-shm") {
            out.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    out
}

/// Every file under `dir`, recursively, with its bytes.
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
