//! The demo's data directory: created under the system temporary directory with a random
//! name, readable by its owner only, and removed when the demo ends.

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

/// A private temporary directory; removed when dropped, or by [`TempDir::remove`], which
/// reports failures.
pub(super) struct TempDir {
    /// Where it is.
    path: PathBuf,
    /// Whether dropping it still has to remove it.
    armed: bool,
}

impl TempDir {
    /// Creates `$TMPDIR/gatehouse-demo-<16 random hex digits>` with mode 0700. The name must
    /// be new: a directory someone else prepared under a guessable name is never used.
    pub(super) fn create() -> anyhow::Result<Self> {
        let mut random = [0u8; 8];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("gatehouse-demo-{name}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        Ok(Self { path, armed: true })
    }

    /// Where it is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and everything in it.
    pub(super) fn remove(mut self) -> anyhow::Result<()> {
        self.armed = false;
        let mut attempt = 0;
        loop {
            match fs::remove_dir_all(&self.path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                // The store's connection threads close on their own after the runtime is
                // gone, and SQLite removes its -wal and -shm files as they do: a removal
                // racing with that can find the directory not yet empty. Try again shortly.
                Err(_) if attempt < 5 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot remove the data directory {}", self.path.display())
                    });
                }
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            // Nowhere to report a failure from here; `remove` is the path that reports.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
