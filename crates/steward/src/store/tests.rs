//! Store and group-commit tests on a real SQLite file.

use std::sync::Arc;

use super::commit::{CommitError, Committer};
use super::sqlite::SqliteStore;
use super::{ReadingQuery, Store};
use crate::config::Synchronous;
use crate::metrics::Metrics;
use crate::registry::{Device, DeviceStatus, Model, Reading, ReadingValue};

fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.db"), Synchronous::Normal).unwrap();
    (dir, Arc::new(s))
}

fn device(s: &SqliteStore, id: &str) {
    if s.model_by_name("m").unwrap().is_none() {
        s.insert_model(&Model {
            id: "m1".into(),
            manufacturer: "x".into(),
            name: "m".into(),
            mud_url: None,
            decoder: payload::Decoder::Senml,
            created: 0.0,
        })
        .unwrap();
    }
    s.insert_device(&Device {
        id: id.into(),
        name: format!("n-{id}"),
        model: "m".into(),
        zone: "restricted".into(),
        status: DeviceStatus::Active,
        created: 0.0,
        last_seen: None,
        firmware_version: None,
        tags: vec![],
        identities: vec![],
        strength: None,
    })
    .unwrap();
}

fn reading(dev: &str, name: &str, v: f64, t: f64) -> Reading {
    Reading {
        device_id: dev.into(),
        name: name.into(),
        unit: Some("W".into()),
        value: Some(ReadingValue::Number(v)),
        sum: None,
        time: t,
        received: t,
    }
}

#[test]
fn readings_query_filters_and_latest() {
    let (_d, s) = store();
    device(&s, "a");
    let mut rs = Vec::new();
    for i in 0..10 {
        rs.push(reading("a", "p", i as f64, 100.0 + i as f64));
        rs.push(reading("a", "q", -(i as f64), 100.0 + i as f64));
    }
    rs.push(Reading {
        value: Some(ReadingValue::Data("AAEC".into())),
        ..reading("a", "blob", 0.0, 50.0)
    });
    s.commit_readings(&rs).unwrap();
    let q = |name: Option<&str>, since, until, limit| {
        s.readings(&ReadingQuery {
            device_id: "a".into(),
            name: name.map(String::from),
            since,
            until,
            limit,
        })
        .unwrap()
    };
    assert_eq!(q(None, None, None, 100).len(), 21);
    let p = q(Some("p"), Some(103.0), Some(105.0), 100);
    assert_eq!(
        p.iter().map(|r| r.time).collect::<Vec<_>>(),
        vec![105.0, 104.0, 103.0]
    );
    assert_eq!(q(Some("p"), None, None, 2).len(), 2);
    let latest = s.latest("a").unwrap();
    assert_eq!(latest.len(), 3);
    let p = latest.iter().find(|r| r.name == "p").unwrap();
    assert_eq!(p.value, Some(ReadingValue::Number(9.0)));
    let blob = latest.iter().find(|r| r.name == "blob").unwrap();
    assert_eq!(blob.value, Some(ReadingValue::Data("AAEC".into())));
    assert_eq!(s.device("a").unwrap().unwrap().last_seen, Some(109.0));
}

#[test]
fn registry_events_record_revocations() {
    let (_d, s) = store();
    device(&s, "a");
    let start = s.last_event().unwrap();
    s.set_status("a", DeviceStatus::Revoked).unwrap();
    s.delete_device("a").unwrap();
    let ev = s.events_since(start).unwrap();
    assert_eq!(
        ev.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["revoked", "deleted"]
    );
    assert!(s.device("a").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_and_answers_everyone() {
    let (_d, s) = store();
    for i in 0..50 {
        device(&s, &format!("d{i}"));
    }
    let metrics = Arc::new(Metrics::new());
    let (committer, thread) = Committer::start(s.clone(), 10_000, metrics.clone());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = committer.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                c.commit(vec![reading(&format!("d{i}"), "x", j as f64, j as f64)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.count_readings().unwrap(), 1000);
    // Fewer transactions than submissions: submitters that waited together were
    // committed together.
    let rendered = metrics.render();
    let count_line = rendered
        .lines()
        .find(|l| l.starts_with("steward_commit_batch_readings_count"))
        .unwrap();
    let batches: f64 = count_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(batches <= 1000.0, "{count_line}");
    thread.stop().await;
    // After stop, submissions fail clearly instead of hanging.
    let err = committer
        .commit(vec![reading("d0", "x", 0.0, 0.0)])
        .await
        .unwrap_err();
    assert!(matches!(err, CommitError::Closed));
}

#[test]
fn a_layout_0_store_is_migrated_without_losing_readings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE readings (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, name TEXT NOT NULL,
                unit TEXT, v REAL, vs TEXT, vb INTEGER, vd BLOB, s REAL, t REAL NOT NULL, received REAL NOT NULL);
             CREATE INDEX readings_device_name_time ON readings(device_id, name, t);
             INSERT INTO readings (device_id, name, unit, v, t, received) VALUES
                ('a', 'p', 'W', 1, 10, 10), ('a', 'p', 'W', 2, 20, 20), ('b', 'q', NULL, 3, 5, 5);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    assert_eq!(s.count_readings().unwrap(), 3);
    let latest = s.latest("a").unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].value, Some(ReadingValue::Number(2.0)));
    assert_eq!(s.latest("b").unwrap()[0].name, "q");
    drop(s);
    // Opening again is a no-op.
    let s = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    assert_eq!(s.count_readings().unwrap(), 3);
}
