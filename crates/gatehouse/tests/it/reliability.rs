//! Hostile input and crashes: thousands of damaged certificate uploads, and `kill -9` in the
//! middle of management writes. What must hold: no 5xx, nothing half-written, every
//! acknowledged write still there, the server alive.

use std::time::Instant;

use base64::Engine as _;
use serde_json::json;

use crate::support::pki::{KeyKind, Pki};
use crate::support::server::{Options, start};

/// A small deterministic generator (xorshift64*), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// One damaged copy of `seed`: truncated, bits flipped, bytes inserted or removed, a length
/// field rewritten, a slice repeated (nesting), or an iteration count made huge.
fn damage(seed: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut out = seed.to_vec();
    match rng.below(7) {
        0 => {
            out.truncate(rng.below(seed.len()));
            (out, "truncated")
        }
        1 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(out.len());
                out[at] ^= 1 << rng.below(8);
            }
            (out, "bit flips")
        }
        2 => {
            let at = rng.below(out.len());
            for _ in 0..=rng.below(16) {
                out.insert(at, u8::try_from(rng.below(256)).unwrap_or(0));
            }
            (out, "bytes inserted")
        }
        3 => {
            let at = rng.below(out.len());
            let n = rng.below(16).min(out.len() - at);
            out.drain(at..at + n);
            (out, "bytes removed")
        }
        4 => {
            // A DER length (after a SEQUENCE tag) rewritten.
            let tags: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(i, b)| **b == 0x30 && *i + 1 < out.len())
                .map(|(i, _)| i)
                .collect();
            if let Some(&at) = tags.get(rng.below(tags.len())) {
                out[at + 1] = [0x80, 0x84, 0xff, 0x00, 0x7f][rng.below(5)];
            }
            (out, "length rewritten")
        }
        5 => {
            let from = rng.below(out.len());
            let len = rng.below(out.len() - from).min(4096);
            let slice = out[from..from + len].to_vec();
            let at = rng.below(out.len());
            out.splice(at..at, slice);
            (out, "slice repeated")
        }
        _ => {
            // An iteration count (INTEGER 2048 in PBE parameters) made huge.
            if let Some(at) = out.windows(4).position(|w| w == [0x02, 0x02, 0x08, 0x00]) {
                out.splice(at..at + 4, [0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]);
            } else {
                out.truncate(out.len() / 2);
            }
            (out, "iterations huge")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_damaged_uploads_get_no_5xx_and_write_nothing_half() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Options::new(dir.path()));
    let api = server.api();
    let pki = Pki::new();
    let rsa = pki.self_signed("rsa", "/CN=seed-rsa", KeyKind::Rsa);
    let ec = pki.self_signed("ec", "/CN=seed-ec", KeyKind::EcP256);
    let pem = |f: &crate::support::pki::CertFiles| [pki.read(&f.cert), pki.read(&f.key)].concat();
    let seeds: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("pkcs12", pki.pfx(&rsa, "pw", false), Some("pw")),
        ("pkcs12", pki.pfx(&ec, "pw", true), Some("pw")),
        ("pem", pem(&ec), None),
        (
            "pem",
            [
                pki.read(&rsa.cert),
                pki.encrypted_key(&rsa, "pw").into_bytes(),
            ]
            .concat(),
            Some("pw"),
        ),
    ];
    let total = std::env::var("GATEHOUSE_DAMAGED_UPLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000usize);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut bodies = Vec::with_capacity(total);
    for i in 0..total {
        let (format, seed, password) = &seeds[i % seeds.len()];
        let (bytes, how) = damage(seed, &mut rng);
        let mut props = match *format {
            "pkcs12" => json!({"data": base64::engine::general_purpose::STANDARD.encode(&bytes)}),
            _ => json!({"pem": String::from_utf8_lossy(&bytes)}),
        };
        if let Some(p) = password {
            props["password"] = json!(p);
        }
        bodies.push((format!("damaged-{i}"), json!({ "properties": props }), how));
    }

    let started = Instant::now();
    let mut accepted = 0usize;
    let mut by_status = std::collections::BTreeMap::new();
    for chunk in bodies.chunks(8) {
        let replies = futures_join(chunk.iter().map(|(id, body, how)| {
            let api = api.clone();
            let path = format!("/certificates/{id}");
            let body = body.clone();
            let how = *how;
            async move { (api.put(&path, &body).await, how) }
        }))
        .await;
        for (reply, how) in replies {
            let status = reply.status.as_u16();
            assert!(
                status < 500,
                "a damaged upload ({how}) got {status}: {}",
                reply.text()
            );
            if reply.status.is_success() {
                accepted += 1;
            } else {
                // Refusals are the API's JSON errors with a code.
                assert!(!reply.code().is_empty());
            }
            *by_status.entry(status).or_insert(0usize) += 1;
        }
    }
    let took = started.elapsed();
    println!(
        "{total} damaged uploads in {:.1} s: {by_status:?} (accepted as valid: {accepted})",
        took.as_secs_f64()
    );
    // Nothing half-written: exactly the accepted ones exist, and each opens.
    let list = api.get("/certificates").await.expect(200).json();
    assert_eq!(list["count"], json!(accepted));
    api.get("/health").await.expect(200);
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "a panic in the log");
}

/// Runs futures at once and returns their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// What a run of kill rounds saw.
struct Killed {
    rounds: usize,
    acked_creates: usize,
    acked_deletes: usize,
    cut: usize,
    took: std::time::Duration,
}

/// Write bursts, each ended by SIGKILL at a random moment, against servers started with
/// `options`, within `window` of the burst's start; after each restart every acknowledged write must be there and every
/// acknowledged delete stay done. `GATEHOUSE_KILL_ROUNDS` sets the number of rounds
/// (`scripts/kill-rounds`).
async fn kill_rounds(options: impl Fn() -> Options, window: std::time::Duration) -> Killed {
    let mut server = start(options());
    let rounds = std::env::var("GATEHOUSE_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200usize);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    // What the server acknowledged: APIs that exist, and APIs deleted.
    let mut created: Vec<usize> = Vec::new();
    let mut deleted: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let (mut acked_creates, mut acked_deletes, mut cut) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for _round in 0..rounds {
        let api = server.api();
        // A burst: new APIs with an operation each, and deletes of earlier ones (a delete
        // removes the API, its operations and policies in one change).
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let id = next;
            next += 1;
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                let body = json!({"properties": {"path": format!("a{id}"), "serviceUrl": "https://backend.example"}});
                let put = api
                    .try_send("PUT", &format!("/apis/a{id}"), body.to_string().into_bytes(), &[])
                    .await;
                if !put.is_some_and(|r| r.status.is_success()) {
                    return (id, false);
                }
                let op = json!({"properties": {"method": "*", "urlTemplate": "/*"}});
                let op = api
                    .try_send(
                        "PUT",
                        &format!("/apis/a{id}/operations/all"),
                        op.to_string().into_bytes(),
                        &[],
                    )
                    .await;
                (id, op.is_some_and(|r| r.status.is_success()))
            }));
        }
        let victims: Vec<usize> = (0..2)
            .filter_map(|_| created.get(rng.below(created.len().max(1))).copied())
            .collect();
        for v in victims.clone() {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                let r = api
                    .try_send(
                        "DELETE",
                        &format!("/apis/a{v}"),
                        Vec::new(),
                        &[("if-match", "*")],
                    )
                    .await;
                (usize::MAX - v, r.is_some_and(|r| r.status.is_success()))
            }));
        }
        // The kill lands anywhere in the burst.
        tokio::time::sleep(std::time::Duration::from_micros(
            rng.next() % u64::try_from(window.as_micros()).unwrap_or(60_000),
        ))
        .await;
        server.kill();
        for task in tasks {
            // A request cut by the kill was not acknowledged: it may or may not have been
            // committed, so an API whose delete was cut is no longer expected either way.
            let Ok((id, ok)) = task.await else { continue };
            if !ok {
                cut += 1;
            }
            if id > usize::MAX / 2 {
                let v = usize::MAX - id;
                created.retain(|c| *c != v);
                if ok {
                    acked_deletes += 1;
                    deleted.push(v);
                }
            } else if ok {
                acked_creates += 1;
                created.push(id);
            }
        }
        server = start(options());
        // Every acknowledged write is there; a deleted API is gone with its operation.
        let api = server.api();
        let apis = api.get("/apis").await.expect(200).json();
        let names: std::collections::BTreeSet<String> = apis["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect();
        for id in &created {
            assert!(
                names.contains(&format!("a{id}")),
                "acknowledged API a{id} lost"
            );
            api.get(&format!("/apis/a{id}/operations/all"))
                .await
                .expect(200);
        }
        for id in &deleted {
            assert!(
                !names.contains(&format!("a{id}")),
                "acknowledged delete of a{id} undone"
            );
        }
    }
    let took = started.elapsed();
    server.stop();
    Killed {
        rounds,
        acked_creates,
        acked_deletes,
        cut,
        took,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_writes_loses_no_acknowledged_write_and_half_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = kill_rounds(
        || Options::new(dir.path()),
        std::time::Duration::from_millis(60),
    )
    .await;
    // SQLite agrees that the file is whole.
    use sqlx::Connection as _;
    let mut db = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.path().join("gatehouse.db").display()
    ))
    .await
    .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    println!(
        "SQLite: {} write bursts killed with SIGKILL in {:.1} s: {} acknowledged creates and {} \
         deletes, none lost or undone; {} writes cut by the kill; integrity_check ok",
        k.rounds,
        k.took.as_secs_f64(),
        k.acked_creates,
        k.acked_deletes,
        k.cut
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_postgresql_loses_no_acknowledged_write_and_half_writes_nothing() {
    let pg = gatehouse_store::testing::TempPostgres::start();
    let url = pg.database("killed").await;
    let dir = tempfile::tempdir().unwrap();
    let k = kill_rounds(
        || {
            let mut options = Options::new(dir.path());
            options.args = vec!["--database-url".into(), url.clone()];
            options
        },
        std::time::Duration::from_millis(200),
    )
    .await;
    // The database agrees: every operation belongs to an API, and the revision counts every
    // acknowledged change.
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entities o WHERE o.kind = 'operation' AND NOT EXISTS \
         (SELECT 1 FROM entities a WHERE a.kind = 'api' AND o.key LIKE a.key || '/%')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "operations without their API");
    println!(
        "PostgreSQL: {} write bursts killed with SIGKILL in {:.1} s: {} acknowledged creates \
         and {} deletes, none lost or undone; {} writes cut by the kill; no orphaned operation",
        k.rounds,
        k.took.as_secs_f64(),
        k.acked_creates,
        k.acked_deletes,
        k.cut
    );
}
