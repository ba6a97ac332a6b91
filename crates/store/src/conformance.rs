//! One suite of the `Store` contract, run against every backend: SQLite on a temporary file,
//! PostgreSQL on a throwaway server ([`crate::testing::TempPostgres`]). A second handle on the
//! same database plays another node.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::audit::Actor;
use gatehouse_model::{Change, Kind, Record};

use crate::testing::TempPostgres;
use crate::{PostgresStore, Signal, SqliteStore, Store, StoreError};

fn record(kind: Kind, key: &str, revision: u64, body: &str, sealed: Option<&[u8]>) -> Record {
    Record {
        kind,
        key: key.into(),
        revision,
        body: body.into(),
        sealed: sealed.map(<[u8]>::to_vec),
    }
}

fn key_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Operation => "orders/get-order",
        Kind::Policy => "api:orders",
        _ => "orders",
    }
}

/// Every case, against two handles (`a`, `b`) on one fresh database.
async fn suite<F, Fut>(open: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = (Arc<dyn Store>, Arc<dyn Store>)>,
{
    let (a, b) = open(1).await;
    empty_then_every_kind_round_trips(a.as_ref(), b.as_ref()).await;
    let (a, b) = open(2).await;
    stale_commits_are_refused_and_write_nothing(a.as_ref(), b.as_ref()).await;
    let (a, b) = open(3).await;
    a_change_set_that_fails_halfway_writes_nothing(a.as_ref()).await;
    let (a, b2) = open(4).await;
    racing_commits_one_wins(a, b2).await;
    let _ = b;
    let (a, b) = open(5).await;
    meta_is_set_once_across_handles(a.as_ref(), b.as_ref()).await;
    let (a, b) = open(6).await;
    every_commit_is_audited_in_its_transaction(a.as_ref(), b.as_ref()).await;
}

async fn empty_then_every_kind_round_trips(a: &dyn Store, b: &dyn Store) {
    let empty = a.load().await.unwrap();
    assert_eq!((empty.revision, empty.records.len()), (0, 0));
    assert_eq!(a.revision().await.unwrap(), 0);

    // Every kind, with and without sealed secrets; bytes of every value survive.
    let secret: Vec<u8> = (0..=255u8).collect();
    let puts: Vec<Change> = Kind::ALL
        .iter()
        .map(|&kind| {
            let sealed = matches!(kind, Kind::Certificate | Kind::Backend | Kind::Policy)
                .then_some(secret.as_slice());
            Change::Put(record(
                kind,
                key_of(kind),
                1,
                r#"{"name":"Zürich ✓","secret":"******"}"#,
                sealed,
            ))
        })
        .collect();
    assert_eq!(a.commit(0, &puts).await.unwrap(), 1);
    let loaded = b.load().await.unwrap();
    assert_eq!(loaded.revision, 1);
    assert_eq!(b.revision().await.unwrap(), 1);
    let mut expected: Vec<Record> = puts
        .iter()
        .map(|c| match c {
            Change::Put(r) => r.clone(),
            Change::Delete { .. } => unreachable!(),
        })
        .collect();
    expected.sort_by(|x, y| (x.kind, &x.key).cmp(&(y.kind, &y.key)));
    assert_eq!(loaded.records, expected);
    assert!(
        loaded
            .records
            .iter()
            .all(|r| !r.body.as_bytes().windows(4).any(|w| w == &secret[..4])),
        "secrets stay in the sealed column"
    );

    // Upsert and delete in one change.
    let next = a
        .commit(
            1,
            &[
                Change::Put(record(Kind::Api, "orders", 2, r#"{"v":2}"#, None)),
                Change::Delete {
                    kind: Kind::Operation,
                    key: "orders/get-order".into(),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(next, 2);
    let loaded = b.load().await.unwrap();
    assert_eq!(loaded.revision, 2);
    assert!(!loaded.records.iter().any(|r| r.kind == Kind::Operation));
    let api = loaded.records.iter().find(|r| r.kind == Kind::Api).unwrap();
    assert_eq!((api.revision, api.body.as_str()), (2, r#"{"v":2}"#));
}

async fn stale_commits_are_refused_and_write_nothing(a: &dyn Store, b: &dyn Store) {
    a.commit(0, &[Change::Put(record(Kind::Api, "a", 1, "{}", None))])
        .await
        .unwrap();
    // `b` still believes revision 0.
    let err = b
        .commit(0, &[Change::Put(record(Kind::Api, "b", 1, "{}", None))])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ),
        "{err:?}"
    );
    let loaded = a.load().await.unwrap();
    assert_eq!(loaded.revision, 1);
    assert_eq!(loaded.records.len(), 1);
}

async fn a_change_set_that_fails_halfway_writes_nothing(a: &dyn Store) {
    // The second write cannot be stored (a revision beyond the database's range), after the
    // first one was sent.
    let err = a
        .commit(
            0,
            &[
                Change::Put(record(Kind::Api, "first", 1, "{}", None)),
                Change::Put(record(Kind::Api, "second", u64::MAX, "{}", None)),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let loaded = a.load().await.unwrap();
    assert_eq!((loaded.revision, loaded.records.len()), (0, 0));
}

async fn racing_commits_one_wins(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    for round in 0..10u64 {
        let by_a = [Change::Put(record(
            Kind::Api,
            "x",
            round + 1,
            r#"{"by":"a"}"#,
            None,
        ))];
        let by_b = [Change::Put(record(
            Kind::Api,
            "x",
            round + 1,
            r#"{"by":"b"}"#,
            None,
        ))];
        let (ra, rb) = tokio::join!(a.commit(round, &by_a), b.commit(round, &by_b));
        let won: Vec<bool> = [&ra, &rb].iter().map(|r| r.is_ok()).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{ra:?} {rb:?}");
        let lost = if ra.is_ok() { rb } else { ra };
        assert!(matches!(lost, Err(StoreError::Conflict { .. })), "{lost:?}");
        assert_eq!(a.revision().await.unwrap(), round + 1);
    }
}

async fn meta_is_set_once_across_handles(a: &dyn Store, b: &dyn Store) {
    assert_eq!(a.meta("k").await.unwrap(), None);
    let (x, y) = tokio::join!(a.init_meta("k", "from-a"), b.init_meta("k", "from-b"));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x, y, "both handles agree on one value");
    assert_eq!(b.meta("k").await.unwrap().as_deref(), Some(x.as_str()));
    assert_eq!(a.init_meta("k", "later").await.unwrap(), x);
}

async fn every_commit_is_audited_in_its_transaction(a: &dyn Store, b: &dyn Store) {
    let alice = Actor {
        name: "admin token".into(),
        via: "api".into(),
        address: Some("192.0.2.7".into()),
    };
    a.commit_as(
        0,
        &[
            Change::Put(record(Kind::Api, "orders", 1, "{}", None)),
            Change::Put(record(Kind::Certificate, "c", 1, "{}", Some(b"sealed"))),
        ],
        &alice,
    )
    .await
    .unwrap();
    b.commit_as(
        1,
        &[
            Change::Put(record(Kind::Api, "orders", 2, r#"{"v":2}"#, None)),
            Change::Delete {
                kind: Kind::Certificate,
                key: "c".into(),
            },
        ],
        &Actor::system(),
    )
    .await
    .unwrap();
    // A refused commit leaves no event.
    let stale = a
        .commit_as(
            0,
            &[Change::Put(record(Kind::Api, "x", 1, "{}", None))],
            &alice,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));

    let events = a.audit_events(100).await.unwrap();
    let seen: Vec<(&str, &str, &str, u64, u64, &str)> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.key.as_str(),
                e.operation.as_str(),
                e.revision_before,
                e.revision_after,
                e.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("certificate", "c", "delete", 1, 2, "system"),
            ("api", "orders", "update", 1, 2, "system"),
            ("certificate", "c", "create", 0, 1, "admin token"),
            ("api", "orders", "create", 0, 1, "admin token"),
        ]
    );
    assert_eq!(events[3].address.as_deref(), Some("192.0.2.7"));
    assert_eq!(events[3].via, "api");
    assert!(events.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(a.audit_events(1).await.unwrap().len(), 1);

    // Retention: everything before a moment after the events goes.
    let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(a.prune_audit(later).await.unwrap(), 4);
    assert!(b.audit_events(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_path_buf();
    suite(|n| {
        let path = dir.join(format!("case{n}.db"));
        async move {
            let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            (a, b)
        }
    })
    .await;
    let store = SqliteStore::open(&dir.join("feed.db")).await.unwrap();
    assert!(store.follow().is_none(), "one writer: no feed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let server = TempPostgres::start();
    let server = &server;
    suite(|n| async move {
        let url = server.database(&format!("case{n}")).await;
        let a: Arc<dyn Store> =
            Arc::new(PostgresStore::open(&url, Duration::from_secs(5)).unwrap());
        let b: Arc<dyn Store> =
            Arc::new(PostgresStore::open(&url, Duration::from_secs(5)).unwrap());
        (a, b)
    })
    .await;

    // Two nodes starting at once on a new database migrate once.
    let url = server.database("together").await;
    let x = PostgresStore::open(&url, Duration::from_secs(5)).unwrap();
    let y = PostgresStore::open(&url, Duration::from_secs(5)).unwrap();
    let (rx, ry) = tokio::join!(x.revision(), y.revision());
    assert_eq!((rx.unwrap(), ry.unwrap()), (0, 0));

    // A commit on one node reaches the other's feed, after the feed's first Resync.
    let mut feed = y.follow().unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), feed.recv())
        .await
        .unwrap();
    assert_eq!(first, Some(Signal::Resync));
    x.commit(0, &[Change::Put(record(Kind::Api, "a", 1, "{}", None))])
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .unwrap();
    assert_eq!(next, Some(Signal::Revision(1)));

    // The database away: the feed says so, and resynchronises when it is back.
    server.pause();
    let lost = tokio::time::timeout(Duration::from_secs(10), feed.recv())
        .await
        .unwrap();
    assert_eq!(lost, Some(Signal::Lost));
    assert!(x.revision().await.is_err(), "no database, no answer");
    server.resume();
    let back = tokio::time::timeout(Duration::from_secs(20), feed.recv())
        .await
        .unwrap();
    assert_eq!(back, Some(Signal::Resync));
    x.commit(1, &[Change::Put(record(Kind::Api, "b", 2, "{}", None))])
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .unwrap();
    assert_eq!(next, Some(Signal::Revision(2)));
}
