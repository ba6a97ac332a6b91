//! Several `gatehouse serve` nodes on one PostgreSQL (a throwaway server the test starts):
//! changes made on any node reach every node's gateway, concurrent edits lose nothing, and
//! the nodes keep serving while the database is away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_store::testing::TempPostgres;
use serde_json::json;

use crate::support::backend::{self, Backend};
use crate::support::pki::TestCa;
use crate::support::server::{Api, Options, Server, start, try_start};
use crate::support::setup::{trust_backend, upload_pem, use_certificate};

/// The master key every node of a test cluster shares.
const KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// A PostgreSQL server, nodes on it, and a back end that reports the client certificate.
struct Cluster {
    nodes: Vec<Server>,
    dirs: Vec<tempfile::TempDir>,
    url: String,
    pg: TempPostgres,
    ca: TestCa,
    _backend: Backend,
}

fn node_options(dir: &std::path::Path, url: &str, key: &str) -> Options {
    let mut options = Options::new(dir);
    options.args = vec!["--database-url".into(), url.into()];
    options.env = vec![("GATEHOUSE_MASTER_KEY".into(), key.into())];
    options
}

impl Cluster {
    /// `n` nodes; the first one configures a back end requiring a client certificate and the
    /// API `echo` to it, with `certificates` client certificates uploaded.
    async fn start(n: usize, certificates: usize) -> (Self, Vec<String>) {
        let pg = TempPostgres::start();
        let url = pg.database("cluster").await;
        let ca = TestCa::new("Cluster CA");
        let backend =
            backend::start(backend::Options::mtls(ca.server(&["localhost"], -1, 30))).await;
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir().unwrap();
            nodes.push(start(node_options(dir.path(), &url, KEY)));
            dirs.push(dir);
        }
        let api = nodes[0].api();
        trust_backend(&api, &ca, &backend).await;
        let mut thumbs = Vec::new();
        for i in 0..certificates {
            let (pem, _) = ca.client(&format!("node-client-{i}"));
            thumbs.push(upload_pem(&api, &format!("c{i}"), &pem).await);
        }
        use_certificate(&api, "echo", "c0").await;
        let cluster = Self {
            nodes,
            dirs,
            url,
            pg,
            ca,
            _backend: backend,
        };
        cluster.converge().await;
        (cluster, thumbs)
    }

    /// Waits until every node serves the revision node 0 serves.
    async fn converge(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut revisions = Vec::new();
            for node in &self.nodes {
                revisions.push(node.api().get("/health").await.json()["revision"].as_u64());
            }
            if revisions.iter().all(|r| r.is_some() && *r == revisions[0]) {
                return revisions[0].unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge: {revisions:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The thumbprint the back end saw for a call through `gw`, or the error status.
async fn presented(gw: &Api) -> Result<String, u16> {
    let reply = gw.get("/echo/who").await;
    if reply.status.as_u16() != 200 {
        return Err(reply.status.as_u16());
    }
    Ok(reply.json()["clientThumbprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_any_node_reach_every_gateway_within_a_second() {
    let (cluster, thumbs) = Cluster::start(3, 4).await;
    let gateways: Vec<Api> = cluster.nodes.iter().map(Server::gateway).collect();
    // The writer's own gateway (no propagation: the floor of a call after a change, with a new
    // back-end handshake) apart from the other nodes'.
    let (mut delays, mut writers) = (Vec::new(), Vec::new());
    let mut current = 0;
    for change in 0..200 {
        let writer = &cluster.nodes[change % 3];
        let next = (current + 1 + change % 3) % thumbs.len();
        let put_at = Instant::now();
        use_certificate(&writer.api(), "echo", &format!("c{next}")).await;
        current = next;
        // Every gateway at once, the writer's included: from the write's answer to the first
        // call that presents the new certificate.
        let mut seen = tokio::task::JoinSet::new();
        for (i, gw) in gateways.iter().enumerate() {
            let own = i == change % 3;
            let (gw, expected) = (gw.clone(), thumbs[current].clone());
            seen.spawn(async move {
                loop {
                    if presented(&gw).await.as_deref() == Ok(expected.as_str()) {
                        return (own, put_at.elapsed());
                    }
                    assert!(
                        put_at.elapsed() < Duration::from_secs(5),
                        "change {change} did not reach a node"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
        }
        for (own, delay) in seen.join_all().await {
            if own {
                writers.push(delay);
            } else {
                delays.push(delay);
            }
        }
    }
    writers.sort();
    println!(
        "the writer's own gateway: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&writers, 0.5).as_secs_f64() * 1e3,
        percentile(&writers, 0.99).as_secs_f64() * 1e3
    );
    delays.sort();
    let (p50, p99, max) = (
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
    );
    println!(
        "the other two nodes' gateways, 200 changes ({} observations): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_editing_one_entity_with_one_etag_lose_nothing() {
    let (cluster, _) = Cluster::start(2, 1).await;
    let (a, b) = (cluster.nodes[0].api(), cluster.nodes[1].api());
    let etag = a.get("/apis/echo").await.expect(200).etag();
    assert_eq!(
        b.get("/apis/echo").await.expect(200).etag(),
        etag,
        "one ETag for all nodes"
    );

    let body = |name: &str, url: &str| json!({"properties": {"path": "echo", "displayName": name, "serviceUrl": url}});
    let url = a.get("/apis/echo").await.json()["properties"]["serviceUrl"]
        .as_str()
        .unwrap()
        .to_owned();

    // One after the other: the second writer's ETag is stale once the first committed.
    a.put_with("/apis/echo", &body("from A", &url), &[("if-match", &etag)])
        .await
        .expect(200);
    cluster.converge().await;
    let refused = b
        .put_with("/apis/echo", &body("from B", &url), &[("if-match", &etag)])
        .await
        .expect(412);
    assert_eq!(refused.code(), "PreconditionFailed", "{}", refused.text());
    assert_eq!(
        b.get("/apis/echo").await.json()["properties"]["displayName"],
        json!("from A")
    );

    // At the same moment: one wins, the other is refused (412, or 409 when both passed the
    // ETag check and the store's revision decided), and the winner's edit is what every node
    // serves.
    let etag = a.get("/apis/echo").await.etag();
    let (body_a, body_b) = (body("race A", &url), body("race B", &url));
    let if_match = [("if-match", etag.as_str())];
    let (ra, rb) = tokio::join!(
        a.put_with("/apis/echo", &body_a, &if_match),
        b.put_with("/apis/echo", &body_b, &if_match),
    );
    let statuses = [ra.status.as_u16(), rb.status.as_u16()];
    let winner = match statuses {
        [200, 412 | 409] => "race A",
        [412 | 409, 200] => "race B",
        other => panic!("one must win and one be refused: {other:?}"),
    };
    cluster.converge().await;
    for node in [&a, &b] {
        assert_eq!(
            node.get("/apis/echo").await.json()["properties"]["displayName"],
            json!(winner)
        );
    }
}

/// A delete on one node racing an attach on another: whichever commits second is refused (its
/// revision is stale, or the check it makes on the current configuration fails), so no node
/// ever serves a reference to a missing certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_racing_an_attach_on_another_node_leaves_no_dangling_reference() {
    let (cluster, _) = Cluster::start(2, 1).await;
    let (a, b) = (cluster.nodes[0].api(), cluster.nodes[1].api());
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..8 {
        let (pem, _) = cluster.ca.client(&format!("victim-{round}"));
        upload_pem(&a, "victim", &pem).await;
        cluster.converge().await;
        let attach =
            json!({"properties": {"type": "clientCertificate", "certificateId": "victim"}});
        let (deleted, attached) = tokio::join!(
            a.delete("/certificates/victim"),
            b.put("/apis/echo/gatewayCredentials", &attach),
        );
        let (deleted, attached) = (deleted.status.as_u16(), attached.status.as_u16());
        *outcomes.entry((deleted, attached)).or_insert(0) += 1;
        assert!(
            (deleted == 204 || deleted == 200) != (attached == 200),
            "exactly one wins: delete {deleted}, attach {attached}"
        );
        cluster.converge().await;
        for node in [&a, &b] {
            let credentials = node.get("/apis/echo/gatewayCredentials").await.json();
            let exists = node.get("/certificates/victim").await.status.as_u16() == 200;
            let uses = credentials.to_string().contains("victim");
            assert!(
                !uses || exists,
                "a node serves a reference to a deleted certificate"
            );
            assert_eq!(uses, attached == 200);
        }
        use_certificate(&a, "echo", "c0").await;
        if a.get("/certificates/victim").await.status.as_u16() == 200 {
            a.delete("/certificates/victim").await.expect(204);
        }
    }
    println!("delete/attach races (delete status, attach status) x count: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_keep_serving_while_the_database_is_away() {
    let (mut cluster, thumbs) = Cluster::start(3, 2).await;
    let revision = cluster.converge().await;

    // Load through all three gateways for the whole outage (the third's pauses while that
    // node restarts, and resumes on the restarted node).
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = |gw: Api, stop: Arc<AtomicBool>| {
        let (ok, failed, expected) = (Arc::clone(&ok), Arc::clone(&failed), thumbs[0].clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match presented(&gw).await {
                    Ok(t) if t == expected => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop_third = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![
        load(cluster.nodes[0].gateway(), Arc::clone(&stop)),
        load(cluster.nodes[1].gateway(), Arc::clone(&stop)),
    ];
    let third_load = load(cluster.nodes[2].gateway(), Arc::clone(&stop_third));

    let outage = Instant::now();
    cluster.pg.pause();

    // Writes fail fast and change nothing; reads answer from memory; health says why.
    let api = cluster.nodes[1].api();
    let started = Instant::now();
    let refused = api
        .put(
            "/apis/echo/gatewayCredentials",
            &json!({"properties": {"type": "clientCertificate", "certificateId": "c1"}}),
        )
        .await
        .expect(503);
    println!(
        "a write while the database is away: 503 after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(refused.code(), "StoreUnavailable");
    api.get("/apis/echo").await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = api.get("/health").await.json();
        if health["status"] == json!("degraded") {
            assert_eq!(health["revision"].as_u64(), Some(revision));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health never said degraded: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A node restarted now serves its last configuration from its local snapshot.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;
    stop_third.store(true, Ordering::Relaxed);
    third_load.await.unwrap();
    let mut third = cluster.nodes.pop().unwrap();
    third.stop();
    let restarted = start(node_options(cluster.dirs[2].path(), &cluster.url, KEY));
    tasks.push(load(restarted.gateway(), Arc::clone(&stop)));
    assert!(
        restarted.wait_for_log("local snapshot"),
        "{}",
        restarted.logs()
    );
    assert_eq!(
        presented(&restarted.gateway()).await.as_deref(),
        Ok(thumbs[0].as_str())
    );
    let health = restarted.api().get("/health").await.json();
    assert_eq!(health["status"], json!("degraded"), "{health}");
    assert!(
        health["reasons"].to_string().contains("local snapshot"),
        "{health}"
    );

    // A new node with neither database nor snapshot refuses to start, saying why.
    let empty = tempfile::tempdir().unwrap();
    let Err((log, status)) = try_start(node_options(empty.path(), &cluster.url, KEY)) else {
        panic!("a node started with no database and no snapshot");
    };
    assert!(status.is_some_and(|s| !s.success()), "{log}");
    assert!(log.contains("no local snapshot"), "{log}");

    // The rest of thirty seconds away, under load.
    let away = Duration::from_secs(30).saturating_sub(outage.elapsed());
    tokio::time::sleep(away).await;
    cluster.pg.resume();
    cluster.nodes.push(restarted);

    // Back: every node says ok again, and a write on one reaches the others.
    let deadline = Instant::now() + Duration::from_secs(15);
    for node in &cluster.nodes {
        loop {
            let health = node.api().get("/health").await.json();
            if health["status"] == json!("ok") {
                break;
            }
            assert!(Instant::now() < deadline, "still degraded: {health}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "from the outage until every node said ok again: {ok} proxied requests, {failed} failed"
    );
    assert_eq!(failed, 0);
    assert!(ok > 100, "{ok}");

    use_certificate(&cluster.nodes[0].api(), "echo", "c1").await;
    for node in &cluster.nodes {
        let deadline = Instant::now() + Duration::from_secs(5);
        while presented(&node.gateway()).await.as_deref() != Ok(thumbs[1].as_str()) {
            assert!(Instant::now() < deadline, "the change did not reach a node");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_master_key_refuses_to_start() {
    let (cluster, _) = Cluster::start(1, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let other = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
    let Err((log, _)) = try_start(node_options(dir.path(), &cluster.url, other)) else {
        panic!("a node with another master key started");
    };
    assert!(log.contains("master key does not match"), "{log}");
    let _ = &cluster.ca;
}
