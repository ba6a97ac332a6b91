//! When the data directory's disk is full or read-only: writes fail with a clear answer (507,
//! 503) and change nothing, reads and the gateway go on, and once the disk is back the next
//! write works and nothing written before is lost. A real filesystem (an ext4 volume on a
//! loop device) is filled, and turned read-only under the server, so SQLite meets the errors it meets in production.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::backend::{self, Mode};
use crate::support::server::{Options, Server, start};
use crate::support::setup::{base, echo_api};

/// A small ext4 filesystem on a loop device, mounted `errors=remount-ro` as production
/// volumes are; unmounted and detached when dropped.
struct Mount {
    path: PathBuf,
    image: PathBuf,
    device: String,
    _dir: tempfile::TempDir,
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Mount {
    /// `None` when this machine does not let the tests use loop devices (not root).
    fn ext4(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(u64::from(megabytes) << 20).unwrap();
        let image_arg = image.to_str().unwrap();
        run("mkfs.ext4", &["-q", "-F", image_arg])?;
        let device = run("losetup", &["-f", "--show", image_arg])?;
        run("blockdev", &["--setrw", &device]);
        let mount = Self {
            path,
            image,
            device,
            _dir: dir,
        };
        mount.mount().then_some(mount)
    }

    fn mount(&self) -> bool {
        run(
            "mount",
            &[
                "-o",
                "errors=remount-ro",
                &self.device,
                self.path.to_str().unwrap(),
            ],
        )
        .is_some()
    }

    /// What the kernel does after an I/O or metadata error: the filesystem turns read-only
    /// under the open files (ext4's own test hook for its error path).
    fn fail(&self) {
        let name = Path::new(&self.device).file_name().unwrap();
        std::fs::write(
            Path::new("/sys/fs/ext4")
                .join(name)
                .join("trigger_fs_error"),
            "gatehouse storage test\n",
        )
        .unwrap();
        let options = run(
            "findmnt",
            &["-n", "-o", "OPTIONS", self.path.to_str().unwrap()],
        );
        // `ro` after a remount, `emergency_ro` while ext4 holds it read-only after an error.
        assert!(
            options.is_some_and(|o| o.starts_with("ro") || o.contains("emergency_ro")),
            "not read-only"
        );
    }

    /// What the operator does: unmount, check and repair, mount again.
    fn repair(&self) {
        assert!(
            run("umount", &[self.path.to_str().unwrap()]).is_some(),
            "umount"
        );
        // e2fsck exits 1 when it fixed something: both are fine here.
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.device)
            .output()
            .unwrap()
            .status;
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck {status}");
        assert!(self.mount(), "mount again");
        let _ = &self.image;
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

/// Fills the filesystem of `dir` to the last byte; returns the filler to delete.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    // Whatever is left in smaller pieces.
    while f.write_all(&[0u8; 512]).is_ok() {}
    let _ = f.sync_all();
    filler
}

async fn gateway_serves(server: &Server) {
    let reply = server.gateway().get("/echo/still-here").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
}

async fn write(server: &Server, id: &str) -> crate::support::server::Reply {
    server
        .api()
        .put(
            &format!("/backends/{id}"),
            &json!({"properties": {"url": format!("https://{id}.example")}}),
        )
        .await
}

#[tokio::test]
async fn a_full_or_read_only_disk_refuses_writes_clearly_and_loses_nothing() {
    let Some(mount) = Mount::ext4(32) else {
        println!("skipped: this machine does not let the tests use loop devices (run as root)");
        return;
    };
    let data = mount.path.join("data");
    let echo = backend::start(backend::Options::plain(Mode::Echo)).await;
    let server = start(Options::new(&data));
    echo_api(&server.api(), &base(&echo, "127.0.0.1", "http")).await;
    write(&server, "before").await.expect(201);
    gateway_serves(&server).await;

    // Full.
    let filler = fill(&mount.path);
    for id in ["full-1", "full-2"] {
        let reply = write(&server, id).await;
        assert_eq!(reply.status.as_u16(), 507, "{}", reply.text());
        assert_eq!(reply.code(), "InsufficientStorage");
    }
    server.api().get("/backends/full-1").await.expect(404);
    server.api().get("/backends/before").await.expect(200);
    gateway_serves(&server).await;
    let health = server.api().get("/health").await.expect(200).json();
    assert_eq!(health["status"], json!("degraded"), "{health}");
    assert!(
        health["reasons"][0]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{health}"
    );

    // Space again: the next write works.
    std::fs::remove_file(&filler).unwrap();
    write(&server, "after-full").await.expect(201);

    // Read-only under the running server, as after a disk error.
    mount.fail();
    for id in ["read-only-1", "read-only-2"] {
        let reply = write(&server, id).await;
        assert_eq!(reply.status.as_u16(), 503, "{}", reply.text());
        assert_eq!(reply.code(), "StoreReadOnly", "{}", server.logs());
    }
    server.api().get("/backends/read-only-1").await.expect(404);
    server.api().get("/backends/after-full").await.expect(200);
    gateway_serves(&server).await;
    let health = server.api().get("/health").await.expect(200).json();
    assert_eq!(health["status"], json!("degraded"));

    // The operator stops the node, repairs the disk, starts again: nothing lost or half there.
    let mut server = server;
    server.stop();
    mount.repair();
    let server = start(server.options.clone());
    write(&server, "after-read-only").await.expect(201);
    let names: Vec<String> = server.api().get("/backends").await.expect(200).json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["after-full", "after-read-only", "before"]);
    gateway_serves(&server).await;
}
