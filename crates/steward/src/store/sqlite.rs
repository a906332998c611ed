//! The embedded store: SQLite in WAL mode, one file in the data directory.
//!
//! One writer connection (registry changes and reading batches take turns on it) and
//! a few reader connections, so API queries never wait behind a commit. Several
//! processes may open the same file (the CLI beside a running server): SQLite's
//! locking and a busy timeout make them take turns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    ModelSemanticsRow, MudRecord, PolicyAudit, ReadingQuery, RegistryEvent, Store, StoreError,
};
use crate::config::Synchronous;
use crate::registry::{
    Device, DeviceStatus, Identity, IdentityKind, Lease, Model, Reading, ReadingValue, Strength,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    manufacturer TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    mud_url TEXT,
    decoder TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL REFERENCES models(name),
    zone TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL,
    firmware_version TEXT,
    tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    strength TEXT NOT NULL,
    created REAL NOT NULL,
    label TEXT,
    PRIMARY KEY (kind, value)
);
CREATE INDEX IF NOT EXISTS identities_device ON identities(device_id);
CREATE TABLE IF NOT EXISTS registry_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL
);
-- A small integer key per device: readings and their index carry it instead of
-- the device's text id, which keeps index entries small.
CREATE TABLE IF NOT EXISTS device_keys (
    key INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE
);
-- Readings in arrival order. The only index is (device, time): a batch from N
-- devices touches about N index pages, not one page per (device, name) series,
-- which is what bounds the bytes written per reading under load.
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    dev INTEGER NOT NULL,
    name TEXT NOT NULL,
    unit TEXT,
    v REAL,
    vs TEXT,
    vb INTEGER,
    vd BLOB,
    s REAL,
    t REAL NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_dev_time ON readings(dev, t);
-- The newest reading of each (device, name), kept up to date by each commit.
CREATE TABLE IF NOT EXISTS latest (
    dev INTEGER NOT NULL,
    name TEXT NOT NULL,
    reading INTEGER NOT NULL,
    t REAL NOT NULL,
    PRIMARY KEY (dev, name)
) WITHOUT ROWID;
-- DHCP leases (enforce::dhcp): one per address.
CREATE TABLE IF NOT EXISTS dhcp_leases (
    ip TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    client_id TEXT,
    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    hostname TEXT,
    vendor_class TEXT,
    mud_url TEXT,
    mud_url_error TEXT,
    expires REAL NOT NULL,
    updated REAL NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dhcp_leases_device ON dhcp_leases(device_id);
-- netpolicy: static addresses, the policy audit log, fetched MUD files.
CREATE TABLE IF NOT EXISTS static_addresses (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (device_id, address)
);
CREATE TABLE IF NOT EXISTS policy_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    summary TEXT NOT NULL,
    config TEXT
);
CREATE TABLE IF NOT EXISTS mud_results (
    url TEXT PRIMARY KEY,
    policy TEXT,
    error TEXT,
    fetched REAL NOT NULL,
    fresh_until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_semantics (
    model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    thing TEXT,
    ngsi TEXT,
    updated REAL NOT NULL
);
"#;

const READERS: usize = 4;

/// WAL frames (pages) beyond which the checkpointer resets the log, briefly
/// holding writers back: about 64 MiB with 4 KiB pages.
const WAL_RESET_FRAMES: i64 = 16_384;

/// Copy the WAL into the database without blocking anyone; when the log has grown
/// past [`WAL_RESET_FRAMES`] (a busy writer never leaves a gap for it to restart),
/// finish the copy and truncate it, which makes commits wait for that moment.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let (_busy, frames, _done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if frames > WAL_RESET_FRAMES {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// The layout this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// Bring a store of any earlier layout to [`SCHEMA_VERSION`], in one transaction:
/// either all of it happens or none.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt {
            table: "store",
            reason: format!(
                "the store has layout {version}, newer than this Steward knows ({SCHEMA_VERSION}); upgrade Steward"
            ),
        });
    }
    // IMMEDIATE: take the write lock first (waiting for it), so a server writing
    // beside us cannot turn this read-then-write into an instant SQLITE_BUSY.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Layout 0 kept readings with the device's text id and a (device, name, time)
    // index; move them to the keyed layout.
    let old_readings: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('readings') WHERE name = 'device_id'",
        [],
        |r| r.get(0),
    )?;
    if old_readings {
        tx.execute_batch(
            "DROP INDEX IF EXISTS readings_device_name_time;
             ALTER TABLE readings RENAME TO readings_v0;",
        )?;
    }
    tx.execute_batch(SCHEMA)?;
    if old_readings {
        tx.execute_batch(
            "INSERT OR IGNORE INTO device_keys (device_id) SELECT DISTINCT device_id FROM readings_v0;
             INSERT INTO readings (dev, name, unit, v, vs, vb, vd, s, t, received)
                 SELECT k.key, r.name, r.unit, r.v, r.vs, r.vb, r.vd, r.s, r.t, r.received
                 FROM readings_v0 r JOIN device_keys k ON k.device_id = r.device_id ORDER BY r.id;
             INSERT INTO latest (dev, name, reading, t)
                 SELECT dev, name, MAX(id), t FROM (
                     SELECT dev, name, id, t, MAX(t) OVER (PARTITION BY dev, name) AS newest
                     FROM readings)
                 WHERE t = newest GROUP BY dev, name;
             DROP TABLE readings_v0;",
        )?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// Device id → integer key, as the writer has seen them.
    keys: Mutex<HashMap<String, i64>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    path: PathBuf,
    sync: Synchronous,
    stop_checkpoints: Arc<AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

fn open(path: &Path, sync: Synchronous) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (its own
    // transaction is rolled back), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Open (creating if needed) the store file.
    pub fn open(path: &Path, sync: Synchronous) -> Result<SqliteStore, StoreError> {
        let mut writer = open(path, sync)?;
        migrate(&mut writer)?;
        // The pages a commit touches (index leaves of active devices, `latest`) stay
        // in memory instead of being read back for every batch: 64 MiB.
        writer.pragma_update(None, "cache_size", -65536)?;
        let readers = (0..READERS)
            .map(|_| open(path, sync).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            keys: Mutex::new(HashMap::new()),
            readers,
            next_reader: AtomicUsize::new(0),
            path: path.to_path_buf(),
            sync,
            stop_checkpoints: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The integer key of a device for the readings table, made on first use.
    fn device_key(
        keys: &mut HashMap<String, i64>,
        tx: &rusqlite::Transaction<'_>,
        device_id: &str,
    ) -> Result<i64, StoreError> {
        if let Some(k) = keys.get(device_id) {
            return Ok(*k);
        }
        tx.execute(
            "INSERT INTO device_keys (device_id) VALUES (?1) ON CONFLICT(device_id) DO NOTHING",
            [device_id],
        )?;
        let k: i64 = tx.query_row(
            "SELECT key FROM device_keys WHERE device_id = ?1",
            [device_id],
            |r| r.get(0),
        )?;
        keys.insert(device_id.to_string(), k);
        Ok(k)
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }

    fn identities(conn: &Connection, device_id: &str) -> Result<Vec<Identity>, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT kind, value, strength, created, label FROM identities WHERE device_id = ?1 ORDER BY created",
        )?;
        let rows = stmt.query_map([device_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, value, strength, created, label) = row?;
            out.push(Identity {
                kind: IdentityKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    table: "identities",
                    reason: format!("unknown kind `{kind}`"),
                })?,
                value,
                strength: Strength::parse(&strength).ok_or_else(|| StoreError::Corrupt {
                    table: "identities",
                    reason: format!("unknown strength `{strength}`"),
                })?,
                created,
                label,
            });
        }
        Ok(out)
    }

    fn device_row(conn: &Connection, r: &Row<'_>) -> Result<Device, StoreError> {
        let id: String = r.get(0)?;
        let status: String = r.get(4)?;
        let tags: String = r.get(8)?;
        let identities = Self::identities(conn, &id)?;
        Ok(Device {
            strength: identities.iter().map(|i| i.strength).max(),
            identities,
            name: r.get(1)?,
            model: r.get(2)?,
            zone: r.get(3)?,
            status: match status.as_str() {
                "active" => DeviceStatus::Active,
                "revoked" => DeviceStatus::Revoked,
                other => {
                    return Err(StoreError::Corrupt {
                        table: "devices",
                        reason: format!("unknown status `{other}` for {id}"),
                    });
                }
            },
            created: r.get(5)?,
            last_seen: r.get(6)?,
            firmware_version: r.get(7)?,
            tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt {
                table: "devices",
                reason: format!("tags of {id}: {e}"),
            })?,
            id,
        })
    }

    fn model_row(r: &Row<'_>) -> rusqlite::Result<Model> {
        let decoder: String = r.get(4)?;
        Ok(Model {
            id: r.get(0)?,
            manufacturer: r.get(1)?,
            name: r.get(2)?,
            mud_url: r.get(3)?,
            decoder: parse_decoder(&decoder).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
            })?,
            created: r.get(5)?,
        })
    }

    fn reading_row(r: &Row<'_>) -> rusqlite::Result<Reading> {
        let value = if let Some(v) = r.get::<_, Option<f64>>(3)? {
            Some(ReadingValue::Number(v))
        } else if let Some(s) = r.get::<_, Option<String>>(4)? {
            Some(ReadingValue::String(s))
        } else if let Some(b) = r.get::<_, Option<bool>>(5)? {
            Some(ReadingValue::Bool(b))
        } else {
            r.get::<_, Option<Vec<u8>>>(6)?.map(|d| {
                ReadingValue::Data(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d))
            })
        };
        Ok(Reading {
            device_id: r.get(0)?,
            name: r.get(1)?,
            unit: r.get(2)?,
            value,
            sum: r.get(7)?,
            time: r.get(8)?,
            received: r.get(9)?,
        })
    }
}

/// A model's decoder as stored: its JSON declaration (an early layout stored the
/// bare kind, such as `senml`).
fn parse_decoder(text: &str) -> Result<payload::Decoder, serde_json::Error> {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_value(serde_json::json!({ "kind": text })))
}

fn decoder_text(d: &payload::Decoder) -> String {
    serde_json::to_string(d).unwrap_or_else(|_| r#"{"kind":"senml"}"#.into())
}

const MODEL_COLUMNS: &str = "id, manufacturer, name, mud_url, decoder, created";
const DEVICE_COLUMNS: &str =
    "id, name, model, zone, status, created, last_seen, firmware_version, tags";
/// Columns of a reading as [`SqliteStore::reading_row`] reads them; `?1` is the device id.
const READING_COLUMNS: &str = "?1, r.name, r.unit, r.v, r.vs, r.vb, r.vd, r.s, r.t, r.received";

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl Store for SqliteStore {
    fn insert_model(&self, m: &Model) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO models (id, manufacturer, name, mud_url, decoder, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(name) DO NOTHING",
            params![
                m.id,
                m.manufacturer,
                m.name,
                m.mud_url,
                decoder_text(&m.decoder),
                m.created
            ],
        )?;
        Ok(())
    }

    fn model_by_name(&self, name: &str) -> Result<Option<Model>, StoreError> {
        let conn = self.reader();
        Ok(conn
            .query_row(
                &format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1"),
                [name],
                Self::model_row,
            )
            .optional()?)
    }

    fn models(&self) -> Result<Vec<Model>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY name"))?;
        let rows = stmt.query_map([], Self::model_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_model(&self, m: &Model) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "UPDATE models SET manufacturer = ?2, mud_url = ?3, decoder = ?4 WHERE name = ?1",
            params![m.name, m.manufacturer, m.mud_url, decoder_text(&m.decoder)],
        )?;
        Ok(())
    }

    fn delete_model(&self, name: &str) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let used: i64 = tx.query_row(
            "SELECT COUNT(*) FROM devices WHERE model = ?1",
            [name],
            |r| r.get(0),
        )?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "model `{name}` has {used} device(s); delete or move them first"
            )));
        }
        tx.execute("DELETE FROM models WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(())
    }

    fn insert_device(&self, d: &Device) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
        tx.execute(
            &format!("INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?8)"),
            params![d.id, d.name, d.model, d.zone, d.created, d.last_seen, d.firmware_version, tags],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a device named `{}` exists already", d.name))
            } else {
                e.into()
            }
        })?;
        // Running servers (the policy engine) follow the event log.
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'created')",
            [&d.id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn device(&self, id_or_name: &str) -> Result<Option<Device>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1"
        ))?;
        let mut rows = stmt.query([id_or_name])?;
        match rows.next()? {
            Some(r) => Ok(Some(Self::device_row(&conn, r)?)),
            None => Ok(None),
        }
    }

    fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY name"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Self::device_row(&conn, r)?);
        }
        Ok(out)
    }

    fn update_device(&self, d: &Device) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "UPDATE devices SET name = ?2, zone = ?3, firmware_version = ?4, tags = ?5 WHERE id = ?1",
            params![d.id, d.name, d.zone, d.firmware_version, tags],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("a device named `{}` exists already", d.name))
            } else {
                e.into()
            }
        })?;
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'updated')",
            [&d.id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn set_status(&self, device_id: &str, status: DeviceStatus) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let (s, kind) = match status {
            DeviceStatus::Active => ("active", "activated"),
            DeviceStatus::Revoked => ("revoked", "revoked"),
        };
        tx.execute(
            "UPDATE devices SET status = ?2 WHERE id = ?1",
            params![device_id, s],
        )?;
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, ?2)",
            params![device_id, kind],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn delete_device(&self, device_id: &str) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM identities WHERE device_id = ?1", [device_id])?;
        tx.execute("DELETE FROM devices WHERE id = ?1", [device_id])?;
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'deleted')",
            [device_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn add_identity(&self, device_id: &str, i: &Identity) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO identities (kind, value, device_id, strength, created, label) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![i.kind.as_str(), i.value, device_id, i.strength.as_str(), i.created, i.label],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("this identity belongs to a device already".into())
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    fn identity_owner(
        &self,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<String>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached("SELECT device_id FROM identities WHERE kind = ?1 AND value = ?2")?;
        Ok(stmt
            .query_row(params![kind.as_str(), value], |r| r.get(0))
            .optional()?)
    }

    fn events_since(&self, seq: i64) -> Result<Vec<RegistryEvent>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, device_id, kind FROM registry_events WHERE seq > ?1 ORDER BY seq LIMIT 1000",
        )?;
        let rows = stmt.query_map([seq], |r| {
            Ok(RegistryEvent {
                seq: r.get(0)?,
                device_id: r.get(1)?,
                kind: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn last_event(&self) -> Result<i64, StoreError> {
        let conn = self.reader();
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM registry_events",
            [],
            |r| r.get(0),
        )?)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.reader();
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn commit_readings(&self, readings: &[Reading]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let mut keys = lock(&self.keys);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO readings (dev, name, unit, v, vs, vb, vd, s, t, received)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            // Newest reading of each (device, name) and newest receipt of each
            // device in this batch: one upsert per series, one update per device.
            let mut newest: HashMap<(i64, &str), (i64, f64)> = HashMap::new();
            let mut seen_at: HashMap<&str, f64> = HashMap::new();
            for r in readings {
                let dev = Self::device_key(&mut keys, &tx, &r.device_id)?;
                let (v, vs, vb, vd) = match &r.value {
                    Some(ReadingValue::Number(v)) => (Some(*v), None, None, None),
                    Some(ReadingValue::String(s)) => (None, Some(s.as_str()), None, None),
                    Some(ReadingValue::Bool(b)) => (None, None, Some(*b), None),
                    Some(ReadingValue::Data(d)) => (
                        None,
                        None,
                        None,
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(d)
                            .ok(),
                    ),
                    None => (None, None, None, None),
                };
                insert.execute(params![
                    dev, r.name, r.unit, v, vs, vb, vd, r.sum, r.time, r.received
                ])?;
                let id = tx.last_insert_rowid();
                let slot = newest.entry((dev, r.name.as_str())).or_insert((id, r.time));
                if r.time >= slot.1 {
                    *slot = (id, r.time);
                }
                let at = seen_at.entry(&r.device_id).or_insert(r.received);
                *at = at.max(r.received);
            }
            let mut latest = tx.prepare_cached(
                "INSERT INTO latest (dev, name, reading, t) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(dev, name) DO UPDATE SET reading = excluded.reading, t = excluded.t
                 WHERE excluded.t >= latest.t",
            )?;
            for ((dev, name), (id, t)) in newest {
                latest.execute(params![dev, name, id, t])?;
            }
            let mut seen = tx.prepare_cached(
                "UPDATE devices SET last_seen = MAX(COALESCE(last_seen, 0), ?2) WHERE id = ?1",
            )?;
            for (device, at) in seen_at {
                seen.execute(params![device, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn start_maintenance(&self) -> Result<(), StoreError> {
        // Checkpoints move the write-ahead log into the database file. Done here, in
        // their own thread and connection, they stay out of the commit path.
        lock(&self.writer).pragma_update(None, "wal_autocheckpoint", 0)?;
        let conn = open(&self.path, self.sync)?;
        let stop = self.stop_checkpoints.clone();
        std::thread::Builder::new()
            .name("steward-checkpoint".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    if let Err(e) = checkpoint(&conn) {
                        tracing::warn!(error = %e, "WAL checkpoint");
                    }
                }
            })
            .map_err(|e| StoreError::Io {
                path: self.path.clone(),
                source: e,
            })?;
        Ok(())
    }

    fn readings(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {READING_COLUMNS} FROM readings r
             WHERE r.dev = (SELECT key FROM device_keys WHERE device_id = ?1)
               AND (?2 IS NULL OR r.name = ?2) AND (?3 IS NULL OR r.t >= ?3) AND (?4 IS NULL OR r.t <= ?4)
             ORDER BY r.t DESC, r.id DESC LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![q.device_id, q.name, q.since, q.until, q.limit as i64],
            Self::reading_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest(&self, device_id: &str) -> Result<Vec<Reading>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {READING_COLUMNS} FROM latest l JOIN readings r ON r.id = l.reading
             WHERE l.dev = (SELECT key FROM device_keys WHERE device_id = ?1)
             ORDER BY l.name"
        ))?;
        let rows = stmt.query_map([device_id], Self::reading_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_readings(&self) -> Result<u64, StoreError> {
        let conn = self.reader();
        Ok(conn.query_row("SELECT COUNT(*) FROM readings", [], |r| r.get::<_, i64>(0))? as u64)
    }
    // --- dhcp leases (enforce::dhcp) ---
    fn put_lease(&self, l: &Lease) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO dhcp_leases (ip, mac, client_id, device_id, hostname, vendor_class, mud_url, mud_url_error, expires, updated, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
                 device_id = excluded.device_id, hostname = excluded.hostname,
                 vendor_class = excluded.vendor_class, mud_url = excluded.mud_url,
                 mud_url_error = excluded.mud_url_error, expires = excluded.expires,
                 updated = excluded.updated, source = excluded.source",
            params![l.ip, l.mac, l.client_id, l.device_id, l.hostname, l.vendor_class,
                l.mud_url, l.mud_url_error, l.expires, l.updated, l.source],
        )?;
        // Leases of this device on other addresses are over.
        tx.execute(
            "DELETE FROM dhcp_leases WHERE device_id = ?1 AND ip != ?2",
            params![l.device_id, l.ip],
        )?;
        tx.execute(
            "DELETE FROM identities WHERE kind = 'ip' AND (value = ?1 OR device_id = ?2)",
            params![l.ip, l.device_id],
        )?;
        tx.execute(
            "INSERT INTO identities (kind, value, device_id, strength, created, label) VALUES ('ip', ?1, ?2, ?3, ?4, 'DHCP lease')",
            params![l.ip, l.device_id, Strength::Observed.as_str(), l.updated],
        )?;
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'lease')",
            [&l.device_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {LEASE_COLUMNS} FROM dhcp_leases ORDER BY ip"
        ))?;
        let rows = stmt.query_map([], lease_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn device_lease(&self, device_id: &str) -> Result<Option<Lease>, StoreError> {
        let conn = self.reader();
        Ok(conn
            .query_row(
                &format!("SELECT {LEASE_COLUMNS} FROM dhcp_leases WHERE device_id = ?1 ORDER BY updated DESC LIMIT 1"),
                [device_id],
                lease_row,
            )
            .optional()?)
    }

    fn delete_lease(&self, ip: &str) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let device: Option<String> = tx
            .query_row(
                "SELECT device_id FROM dhcp_leases WHERE ip = ?1",
                [ip],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute("DELETE FROM dhcp_leases WHERE ip = ?1", [ip])?;
        tx.execute(
            "DELETE FROM identities WHERE kind = 'ip' AND value = ?1",
            [ip],
        )?;
        if let Some(d) = device {
            tx.execute(
                "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'lease')",
                [&d],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    // --- coap ---
    fn replace_identity(&self, device_id: &str, i: &Identity) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM identities WHERE device_id = ?1 AND kind = ?2",
            params![device_id, i.kind.as_str()],
        )?;
        tx.execute(
            "INSERT INTO identities (kind, value, device_id, strength, created, label) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![i.kind.as_str(), i.value, device_id, i.strength.as_str(), i.created, i.label],
        )?;
        tx.commit()?;
        Ok(())
    }

    // --- policy (netpolicy) ---
    fn set_static_addresses(&self, device_id: &str, addrs: &[String]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM static_addresses WHERE device_id = ?1",
            [device_id],
        )?;
        for a in addrs {
            tx.execute(
                "INSERT OR IGNORE INTO static_addresses (device_id, address) VALUES (?1, ?2)",
                params![device_id, a],
            )?;
        }
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'addresses')",
            [device_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn static_addresses(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT device_id, address FROM static_addresses ORDER BY device_id, address",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn apply_policy(&self, config_json: &str, e: &PolicyAudit) -> Result<i64, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('policy.applied', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [config_json],
        )?;
        tx.execute(
            "INSERT INTO policy_audit (time, actor, action, reason, summary, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![e.time, e.actor, e.action, e.reason, e.summary, config_json],
        )?;
        let seq = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO registry_events (device_id, kind) VALUES ('', 'policy')",
            [],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    fn applied_policy(&self) -> Result<Option<String>, StoreError> {
        self.meta("policy.applied")
    }

    fn append_policy_audit(&self, e: &PolicyAudit) -> Result<i64, StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO policy_audit (time, actor, action, reason, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.time, e.actor, e.action, e.reason, e.summary],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn policy_audit(&self, limit: usize) -> Result<Vec<PolicyAudit>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, time, actor, action, reason, summary FROM policy_audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit.min(i64::MAX as usize) as i64], |r| {
            Ok(PolicyAudit {
                seq: r.get(0)?,
                time: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                reason: r.get(4)?,
                summary: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_mud_result(&self, m: &MudRecord) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO mud_results (url, policy, error, fetched, fresh_until) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(url) DO UPDATE SET policy = excluded.policy, error = excluded.error,
             fetched = excluded.fetched, fresh_until = excluded.fresh_until",
            params![m.url, m.policy, m.error, m.fetched, m.fresh_until],
        )?;
        Ok(())
    }

    fn mud_results(&self) -> Result<Vec<MudRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT url, policy, error, fetched, fresh_until FROM mud_results ORDER BY url",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MudRecord {
                url: r.get(0)?,
                policy: r.get(1)?,
                error: r.get(2)?,
                fetched: r.get(3)?,
                fresh_until: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn firmware_mud_urls(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.reader();
        // The table belongs to the update store (updates::store), created when
        // the update service first opens this database.
        let exists: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'device_mud_urls'",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(vec![]);
        }
        let mut stmt = conn
            .prepare_cached("SELECT device_id, mud_url FROM device_mud_urls ORDER BY device_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // --- semantic ---
    fn model_semantics(&self, model_id: &str) -> Result<Option<ModelSemanticsRow>, StoreError> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT model_id, thing, ngsi FROM model_semantics WHERE model_id = ?1",
                [model_id],
                |r| {
                    Ok(ModelSemanticsRow {
                        model_id: r.get(0)?,
                        thing: r.get(1)?,
                        ngsi: r.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    fn set_model_semantics(&self, row: &ModelSemanticsRow, now: f64) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO model_semantics (model_id, thing, ngsi, updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(model_id) DO UPDATE SET thing = excluded.thing, ngsi = excluded.ngsi, updated = excluded.updated",
            params![row.model_id, row.thing, row.ngsi, now],
        )?;
        Ok(())
    }

    fn all_model_semantics(&self) -> Result<Vec<ModelSemanticsRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT model_id, thing, ngsi FROM model_semantics ORDER BY model_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ModelSemanticsRow {
                model_id: r.get(0)?,
                thing: r.get(1)?,
                ngsi: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const LEASE_COLUMNS: &str = "ip, mac, client_id, device_id, hostname, vendor_class, mud_url, mud_url_error, expires, updated, source";

fn lease_row(r: &Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        ip: r.get(0)?,
        mac: r.get(1)?,
        client_id: r.get(2)?,
        device_id: r.get(3)?,
        hostname: r.get(4)?,
        vendor_class: r.get(5)?,
        mud_url: r.get(6)?,
        mud_url_error: r.get(7)?,
        expires: r.get(8)?,
        updated: r.get(9)?,
        source: r.get(10)?,
    })
}
