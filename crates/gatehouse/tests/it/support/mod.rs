//! Helpers shared by the end-to-end tests: the server process, the client, the fixtures.

#![allow(dead_code)] // each test module uses its own subset

pub mod backend;
pub mod pki;
pub mod portal;
pub mod raw;
pub mod scripted;
pub mod server;
pub mod setup;
pub mod tls;
pub mod vault;

use std::collections::BTreeMap;
use std::path::Path;

/// A data directory's files, as [`data_dir_state`] reads them.
pub type DirState = BTreeMap<String, Option<Vec<u8>>>;

/// The files that differ between two states (added, removed or changed), by name.
pub fn changed_files(before: &DirState, after: &DirState) -> Vec<String> {
    let mut changed: Vec<String> = before
        .iter()
        .filter(|(name, bytes)| after.get(*name) != Some(bytes))
        .map(|(name, _)| name.clone())
        .collect();
    changed.extend(after.keys().filter(|k| !before.contains_key(*k)).cloned());
    changed
}

/// Everything a data directory holds, for "nothing changed" checks: every file under it by
/// relative path, with its bytes. The one exception is SQLite's `-shm` file, kept by presence
/// only: it is the WAL's shared-memory index, where readers record their read marks, so a
/// read changes it by design while no data does.
pub fn data_dir_state(data_dir: &Path) -> DirState {
    all_files(data_dir)
        .into_iter()
        .map(|(path, bytes)| {
            let relative = path
                .strip_prefix(&data_dir.display().to_string())
                .unwrap_or(&path)
                .to_string();
            let kept = (!relative.ends_with("-shm")).then_some(bytes);
            (relative, kept)
        })
        .collect()
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
