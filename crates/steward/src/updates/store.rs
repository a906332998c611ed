//! The update service's tables, in the gateway's SQLite file (`steward.db`) beside
//! the registry's, over a connection of their own: trust anchors, firmware,
//! campaigns and their devices, each device's installed sequence numbers, its MUD
//! URL as its firmware set it, and model support periods.
//!
//! Every state change is one transaction; the service commits before it acts
//! (publishes a notice, acknowledges a report), so a crash repeats nothing and
//! loses nothing.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::UpdateError;
use super::campaign::{CampaignState, DeviceState, WaveCounts, WaveSpec};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS update_anchors (
    model TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (vendor_id, class_id)
);
CREATE TABLE IF NOT EXISTS firmware (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    component TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    payload_size INTEGER NOT NULL,
    mud_url TEXT,
    envelope BLOB NOT NULL,
    created REAL NOT NULL,
    UNIQUE (model, component, seq)
);
CREATE TABLE IF NOT EXISTS update_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    firmware TEXT NOT NULL REFERENCES firmware(id),
    selector TEXT NOT NULL,
    waves TEXT NOT NULL,
    threshold REAL NOT NULL,
    state TEXT NOT NULL,
    current_wave INTEGER,
    accepted_through INTEGER,
    reason TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS update_campaign_devices (
    campaign TEXT NOT NULL REFERENCES update_campaigns(id),
    device_id TEXT NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    notices INTEGER NOT NULL DEFAULT 0,
    notified_at REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (campaign, device_id)
);
CREATE INDEX IF NOT EXISTS update_campaign_devices_wave ON update_campaign_devices(campaign, wave, state);
CREATE TABLE IF NOT EXISTS device_firmware (
    device_id TEXT NOT NULL,
    component TEXT NOT NULL,
    seq INTEGER NOT NULL,
    firmware TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (device_id, component)
);
CREATE TABLE IF NOT EXISTS device_mud_urls (
    device_id TEXT PRIMARY KEY,
    mud_url TEXT NOT NULL,
    firmware TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS model_support (
    model TEXT PRIMARY KEY,
    support_until REAL
);
"#;

/// A maker's key for one model, and the SUIT identifiers that name the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anchor {
    pub model: String,
    pub vendor_id: String,
    pub class_id: String,
    pub key_pem: String,
}

/// An accepted firmware release (a verified envelope whose payload is stored).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Firmware {
    /// SHA-256 (hex) of the envelope.
    pub id: String,
    pub model: String,
    /// The component identifier, as `show` prints it.
    pub component: String,
    pub seq: u64,
    pub version: String,
    pub payload_digest: String,
    pub payload_size: u64,
    pub mud_url: Option<String>,
    pub created: f64,
}

/// Which devices a campaign targets: all conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Model name (default: the firmware's model; another model is refused).
    pub model: Option<String>,
    pub zone: Option<String>,
    /// The device must carry every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The device's current firmware version label.
    pub firmware_version: Option<String>,
}

/// A campaign row.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub firmware: String,
    pub selector: Selector,
    #[schema(value_type = Vec<Object>)]
    pub waves: Vec<WaveSpec>,
    pub failure_threshold: f64,
    #[schema(value_type = String)]
    pub state: CampaignState,
    pub current_wave: Option<usize>,
    pub accepted_through: Option<usize>,
    pub reason: Option<String>,
    pub created: f64,
    pub updated: f64,
}

/// One device's row in a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignDevice {
    pub device_id: String,
    pub wave: usize,
    pub state: DeviceState,
    pub reason: Option<String>,
    pub notices: u32,
    pub notified_at: Option<f64>,
    pub updated: f64,
}

/// A campaign and its per-wave counts: what `watch` and the SSE stream show.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub campaign: CampaignRow,
    #[schema(value_type = Vec<Object>)]
    pub waves: Vec<WaveCounts>,
}

pub struct UpdateStore {
    conn: Mutex<Connection>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn corrupt(what: &str) -> UpdateError {
    UpdateError::Corrupt(what.to_string())
}

fn campaign_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(CampaignRowRaw,)> {
    Ok((CampaignRowRaw {
        id: r.get(0)?,
        name: r.get(1)?,
        firmware: r.get(2)?,
        selector: r.get(3)?,
        waves: r.get(4)?,
        threshold: r.get(5)?,
        state: r.get(6)?,
        current_wave: r.get(7)?,
        accepted_through: r.get(8)?,
        reason: r.get(9)?,
        created: r.get(10)?,
        updated: r.get(11)?,
    },))
}

struct CampaignRowRaw {
    id: String,
    name: String,
    firmware: String,
    selector: String,
    waves: String,
    threshold: f64,
    state: String,
    current_wave: Option<i64>,
    accepted_through: Option<i64>,
    reason: Option<String>,
    created: f64,
    updated: f64,
}

impl CampaignRowRaw {
    fn typed(self) -> Result<CampaignRow, UpdateError> {
        Ok(CampaignRow {
            selector: serde_json::from_str(&self.selector)
                .map_err(|_| corrupt("campaign selector"))?,
            waves: serde_json::from_str(&self.waves).map_err(|_| corrupt("campaign waves"))?,
            state: CampaignState::parse(&self.state).ok_or_else(|| corrupt("campaign state"))?,
            id: self.id,
            name: self.name,
            firmware: self.firmware,
            failure_threshold: self.threshold,
            current_wave: self.current_wave.map(|w| w as usize),
            accepted_through: self.accepted_through.map(|w| w as usize),
            reason: self.reason,
            created: self.created,
            updated: self.updated,
        })
    }
}

const CAMPAIGN_COLS: &str = "id, name, firmware, selector, waves, threshold, state, current_wave, accepted_through, reason, created, updated";
const FIRMWARE_COLS: &str =
    "id, model, component, seq, version, payload_digest, payload_size, mud_url, created";

fn firmware_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Firmware> {
    Ok(Firmware {
        id: r.get(0)?,
        model: r.get(1)?,
        component: r.get(2)?,
        seq: r.get::<_, i64>(3)? as u64,
        version: r.get(4)?,
        payload_digest: r.get(5)?,
        payload_size: r.get::<_, i64>(6)? as u64,
        mud_url: r.get(7)?,
        created: r.get(8)?,
    })
}

/// A campaign device row as read: id, wave, state, reason, notices, notified at, updated.
type DeviceRow = (String, i64, String, Option<String>, i64, Option<f64>, f64);

/// What a device's accepted status report changes.
pub struct Applied {
    pub device_id: String,
    pub state: DeviceState,
    /// Set when the device reported success with a manifest carrying a MUD URL.
    pub mud_url: Option<String>,
    pub version: Option<String>,
}

impl UpdateStore {
    pub fn open(path: &Path) -> Result<UpdateStore, UpdateError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Only the first opening writes: a schema write while another process
        // (the CLI) starts a transaction would make that one fail as busy.
        let missing: bool = conn.query_row(
            "SELECT COUNT(*) = 0 FROM sqlite_master WHERE type = 'table' AND name = 'model_support'",
            [],
            |r| r.get(0),
        )?;
        if missing {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
        }
        Ok(UpdateStore {
            conn: Mutex::new(conn),
        })
    }

    // --- anchors ---

    pub fn set_anchor(&self, a: &Anchor, now: f64) -> Result<(), UpdateError> {
        let conn = lock(&self.conn);
        conn.execute(
            "INSERT INTO update_anchors (model, vendor_id, class_id, key_pem, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(model) DO UPDATE SET vendor_id = ?2, class_id = ?3, key_pem = ?4",
            params![a.model, a.vendor_id, a.class_id, a.key_pem, now],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                UpdateError::Conflict(format!(
                    "vendor-id {} with class-id {} is the anchor of another model already",
                    a.vendor_id, a.class_id
                ))
            }
            e => e.into(),
        })?;
        Ok(())
    }

    pub fn anchor_for(
        &self,
        vendor_id: &str,
        class_id: &str,
    ) -> Result<Option<Anchor>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT model, vendor_id, class_id, key_pem FROM update_anchors WHERE vendor_id = ?1 AND class_id = ?2",
                params![vendor_id, class_id],
                |r| {
                    Ok(Anchor {
                        model: r.get(0)?,
                        vendor_id: r.get(1)?,
                        class_id: r.get(2)?,
                        key_pem: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn anchor_of_model(&self, model: &str) -> Result<Option<Anchor>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT model, vendor_id, class_id, key_pem FROM update_anchors WHERE model = ?1",
                params![model],
                |r| {
                    Ok(Anchor {
                        model: r.get(0)?,
                        vendor_id: r.get(1)?,
                        class_id: r.get(2)?,
                        key_pem: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    // --- firmware ---

    /// Insert a release, refusing a sequence number not above every earlier
    /// release of the same model and component (anti-rollback at the gateway).
    pub fn insert_firmware(&self, f: &Firmware, envelope: &[u8]) -> Result<Firmware, UpdateError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        if let Some(existing) = tx
            .query_row(
                &format!("SELECT {FIRMWARE_COLS} FROM firmware WHERE id = ?1"),
                [&f.id],
                firmware_row,
            )
            .optional()?
        {
            return Ok(existing); // the same envelope again: idempotent
        }
        let highest: Option<i64> = tx.query_row(
            "SELECT MAX(seq) FROM firmware WHERE model = ?1 AND component = ?2",
            params![f.model, f.component],
            |r| r.get(0),
        )?;
        if let Some(h) = highest
            && (f.seq as i64) <= h
        {
            return Err(UpdateError::Rollback(format!(
                "sequence number {} is not above {h}, the newest release of model {} component {} \
                 (draft-ietf-suit-manifest §8.4.2: sequence numbers only grow)",
                f.seq, f.model, f.component
            )));
        }
        tx.execute(
            "INSERT INTO firmware (id, model, component, seq, version, payload_digest, payload_size, mud_url, envelope, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                f.id,
                f.model,
                f.component,
                f.seq as i64,
                f.version,
                f.payload_digest,
                f.payload_size as i64,
                f.mud_url,
                envelope,
                f.created
            ],
        )?;
        tx.commit()?;
        Ok(f.clone())
    }

    /// By id, or a unique prefix of at least 8 hex digits.
    pub fn firmware(&self, id: &str) -> Result<Option<Firmware>, UpdateError> {
        let conn = lock(&self.conn);
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut st = conn.prepare(&format!(
            "SELECT {FIRMWARE_COLS} FROM firmware WHERE id >= ?1 AND id < ?1 || 'g' LIMIT 2"
        ))?;
        let rows: Vec<Firmware> = st
            .query_map([id.to_ascii_lowercase()], firmware_row)?
            .collect::<Result<_, _>>()?;
        Ok(if rows.len() == 1 {
            rows.into_iter().next()
        } else {
            None
        })
    }

    pub fn envelope(&self, firmware: &str) -> Result<Option<Vec<u8>>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT envelope FROM firmware WHERE id = ?1",
                [firmware],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn firmware_list(&self) -> Result<Vec<Firmware>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(&format!(
            "SELECT {FIRMWARE_COLS} FROM firmware ORDER BY model, component, seq"
        ))?;
        Ok(st.query_map([], firmware_row)?.collect::<Result<_, _>>()?)
    }

    /// The newest release of each model (by sequence number).
    pub fn latest_firmware(&self, model: &str) -> Result<Option<Firmware>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {FIRMWARE_COLS} FROM firmware WHERE model = ?1 ORDER BY seq DESC LIMIT 1"
                ),
                [model],
                firmware_row,
            )
            .optional()?)
    }

    /// Whether a campaign offers the payload with this digest to this device:
    /// a device may download only what it has been offered, not every image
    /// the gateway holds.
    pub fn payload_offered_to(&self, device_id: &str, digest: &str) -> Result<bool, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn.query_row(
            "SELECT COUNT(*) > 0 FROM update_campaign_devices d
               JOIN update_campaigns c ON c.id = d.campaign
               JOIN firmware f ON f.id = c.firmware
              WHERE d.device_id = ?1 AND f.payload_digest = ?2",
            [device_id, digest],
            |r| r.get(0),
        )?)
    }

    // --- per-device sequence numbers ---

    /// Installed sequence number per (device, component).
    pub fn device_seq(&self, device_id: &str, component: &str) -> Result<Option<u64>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT seq FROM device_firmware WHERE device_id = ?1 AND component = ?2",
                params![device_id, component],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
    }

    /// Every device's installed firmware id per model component, for support tracking.
    pub fn device_firmware_all(&self) -> Result<Vec<(String, String, u64)>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare("SELECT device_id, component, seq FROM device_firmware")?;
        Ok(st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<Result<_, _>>()?)
    }

    pub fn device_mud_url(&self, device_id: &str) -> Result<Option<String>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT mud_url FROM device_mud_urls WHERE device_id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    // --- support ---

    pub fn set_support(&self, model: &str, until: Option<f64>) -> Result<(), UpdateError> {
        let conn = lock(&self.conn);
        conn.execute(
            "INSERT INTO model_support (model, support_until) VALUES (?1, ?2)
             ON CONFLICT(model) DO UPDATE SET support_until = ?2",
            params![model, until],
        )?;
        Ok(())
    }

    pub fn support_until(&self, model: &str) -> Result<Option<f64>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "SELECT support_until FROM model_support WHERE model = ?1",
                [model],
                |r| r.get::<_, Option<f64>>(0),
            )
            .optional()?
            .flatten())
    }

    // --- campaigns ---

    /// Create a campaign with its devices (already in wave order), in one transaction.
    pub fn insert_campaign(
        &self,
        c: &CampaignRow,
        devices: &[(String, usize)],
    ) -> Result<(), UpdateError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        tx.execute(
            &format!("INSERT INTO update_campaigns ({CAMPAIGN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
            params![
                c.id,
                c.name,
                c.firmware,
                serde_json::to_string(&c.selector).map_err(|e| UpdateError::Internal(e.to_string()))?,
                serde_json::to_string(&c.waves).map_err(|e| UpdateError::Internal(e.to_string()))?,
                c.failure_threshold,
                c.state.as_str(),
                c.current_wave.map(|w| w as i64),
                c.accepted_through.map(|w| w as i64),
                c.reason,
                c.created,
                c.updated
            ],
        )?;
        {
            let mut st = tx.prepare(
                "INSERT INTO update_campaign_devices (campaign, device_id, wave, state, updated) VALUES (?1, ?2, ?3, 'pending', ?4)",
            )?;
            for (d, w) in devices {
                st.execute(params![c.id, d, *w as i64, c.created])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn campaign(&self, id: &str) -> Result<Option<CampaignRow>, UpdateError> {
        let conn = lock(&self.conn);
        conn.query_row(
            &format!("SELECT {CAMPAIGN_COLS} FROM update_campaigns WHERE id = ?1 OR name = ?1"),
            [id],
            campaign_row,
        )
        .optional()?
        .map(|(r,)| r.typed())
        .transpose()
    }

    pub fn campaigns(&self) -> Result<Vec<CampaignRow>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(&format!(
            "SELECT {CAMPAIGN_COLS} FROM update_campaigns ORDER BY created"
        ))?;
        let raw: Vec<(CampaignRowRaw,)> =
            st.query_map([], campaign_row)?.collect::<Result<_, _>>()?;
        raw.into_iter().map(|(r,)| r.typed()).collect()
    }

    /// Campaigns the service drives (running), by id.
    pub fn running_campaigns(&self) -> Result<Vec<String>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare("SELECT id FROM update_campaigns WHERE state = 'running'")?;
        Ok(st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
    }

    pub fn wave_counts(&self, campaign: &str) -> Result<Vec<WaveCounts>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT wave, state, COUNT(*) FROM update_campaign_devices WHERE campaign = ?1 GROUP BY wave, state",
        )?;
        let rows: Vec<(i64, String, i64)> = st
            .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let n = rows.iter().map(|r| r.0 as usize + 1).max().unwrap_or(0);
        let mut waves = vec![WaveCounts::default(); n];
        for (w, s, c) in rows {
            let s = DeviceState::parse(&s).ok_or_else(|| corrupt("campaign device state"))?;
            for _ in 0..c {
                waves[w as usize].add(s);
            }
        }
        Ok(waves)
    }

    pub fn progress(&self, campaign: &str) -> Result<Option<Progress>, UpdateError> {
        let Some(c) = self.campaign(campaign)? else {
            return Ok(None);
        };
        let waves = self.wave_counts(&c.id)?;
        Ok(Some(Progress { campaign: c, waves }))
    }

    pub fn campaign_devices(&self, campaign: &str) -> Result<Vec<CampaignDevice>, UpdateError> {
        let conn = lock(&self.conn);
        let mut st = conn.prepare(
            "SELECT device_id, wave, state, reason, notices, notified_at, updated FROM update_campaign_devices
             WHERE campaign = ?1 ORDER BY wave, device_id",
        )?;
        let rows: Vec<DeviceRow> = st
            .query_map([campaign], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(d, w, s, reason, n, at, up)| {
                Ok(CampaignDevice {
                    device_id: d,
                    wave: w as usize,
                    state: DeviceState::parse(&s)
                        .ok_or_else(|| corrupt("campaign device state"))?,
                    reason,
                    notices: n as u32,
                    notified_at: at,
                    updated: up,
                })
            })
            .collect()
    }

    /// Set the campaign's state (and reason); `from` guards against a race with
    /// another process (only changes a campaign still in one of those states).
    pub fn set_campaign_state(
        &self,
        id: &str,
        from: &[CampaignState],
        to: CampaignState,
        reason: Option<&str>,
        accept_current: bool,
        now: f64,
    ) -> Result<bool, UpdateError> {
        let conn = lock(&self.conn);
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let list =
            serde_json::to_string(&from).map_err(|e| UpdateError::Internal(e.to_string()))?;
        let n = conn.execute(
            "UPDATE update_campaigns SET state = ?2, reason = COALESCE(?3, reason), updated = ?4,
                 accepted_through = CASE WHEN ?5 THEN current_wave ELSE accepted_through END
             WHERE id = ?1 AND state IN (SELECT value FROM json_each(?6))",
            params![id, to.as_str(), reason, now, accept_current, list],
        )?;
        Ok(n == 1)
    }

    /// Start a wave: its pending devices become notified, in the same
    /// transaction that records the wave as current. Returns those devices.
    pub fn start_wave(&self, id: &str, wave: usize, now: f64) -> Result<Vec<String>, UpdateError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE update_campaigns SET current_wave = ?2, updated = ?3
             WHERE id = ?1 AND state = 'running' AND (current_wave IS NULL OR current_wave < ?2)",
            params![id, wave as i64, now],
        )?;
        if changed == 0 {
            return Ok(Vec::new());
        }
        let devices: Vec<String> = {
            let mut st = tx.prepare(
                "UPDATE update_campaign_devices SET state = 'notified', notified_at = ?3, notices = notices + 1, updated = ?3
                 WHERE campaign = ?1 AND wave = ?2 AND state = 'pending' RETURNING device_id",
            )?;
            st.query_map(params![id, wave as i64, now], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        tx.commit()?;
        Ok(devices)
    }

    /// Devices of a running campaign's started waves that have not finished and
    /// have not been heard from since `before`: they get their notice again.
    /// Records the new notice time first.
    pub fn due_for_notice(
        &self,
        id: &str,
        before: f64,
        now: f64,
        limit: usize,
    ) -> Result<Vec<String>, UpdateError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        let devices: Vec<String> = {
            let mut st = tx.prepare(
                "UPDATE update_campaign_devices SET notified_at = ?3, notices = notices + 1
                 WHERE rowid IN (
                     SELECT d.rowid FROM update_campaign_devices d JOIN update_campaigns c ON c.id = d.campaign
                     WHERE d.campaign = ?1 AND c.state = 'running' AND d.wave <= c.current_wave
                       AND d.state IN ('notified', 'downloading', 'installing')
                       AND d.updated < ?2 AND COALESCE(d.notified_at, 0) < ?2
                     LIMIT ?4)
                 RETURNING device_id",
            )?;
            st.query_map(params![id, before, now, limit as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        tx.commit()?;
        Ok(devices)
    }

    /// The campaign whose notice a device that asks for one (CoAP `GET /update`)
    /// gets: of the running campaigns with the device in a started wave and not
    /// finished (notified, downloading, installing: the devices
    /// [`Self::due_for_notice`] notices again), the oldest. In the same statement
    /// the answer is recorded as a delivered notice (time and count), as a
    /// published one is before it goes out.
    pub fn notice_for(&self, device_id: &str, now: f64) -> Result<Option<String>, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn
            .query_row(
                "UPDATE update_campaign_devices SET notified_at = ?2, notices = notices + 1
                 WHERE rowid = (
                     SELECT d.rowid FROM update_campaign_devices d JOIN update_campaigns c ON c.id = d.campaign
                     WHERE d.device_id = ?1 AND c.state = 'running' AND d.wave <= c.current_wave
                       AND d.state IN ('notified', 'downloading', 'installing')
                     ORDER BY c.created, c.id LIMIT 1)
                 RETURNING campaign",
                params![device_id, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Devices that have not finished and have been silent since `before`: failed
    /// with "timed out".
    pub fn time_out(&self, id: &str, before: f64, now: f64) -> Result<usize, UpdateError> {
        let conn = lock(&self.conn);
        Ok(conn.execute(
            "UPDATE update_campaign_devices SET state = 'failed', reason = 'timed out: no report from the device', updated = ?3
             WHERE campaign = ?1 AND state IN ('notified', 'downloading', 'installing') AND updated < ?2",
            params![id, before, now],
        )?)
    }

    /// Apply a device's status report, in one transaction: the campaign device
    /// row, and on success the device's sequence number (never lowered), its MUD
    /// URL if the manifest carries one, and a registry event for other servers.
    pub fn apply_report(
        &self,
        campaign: &str,
        device_id: &str,
        state: DeviceState,
        reason: Option<&str>,
        now: f64,
    ) -> Result<Option<Applied>, UpdateError> {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT d.state, c.firmware FROM update_campaign_devices d JOIN update_campaigns c ON c.id = d.campaign
                 WHERE d.campaign = ?1 AND d.device_id = ?2",
                params![campaign, device_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((current, firmware)) = row else {
            return Err(UpdateError::NotFound(format!(
                "device {device_id} is not in campaign {campaign}"
            )));
        };
        let current =
            DeviceState::parse(&current).ok_or_else(|| corrupt("campaign device state"))?;
        match super::campaign::transition(current, state) {
            super::campaign::Transition::Repeat => return Ok(None),
            super::campaign::Transition::Refuse => {
                return Err(UpdateError::Invalid(format!(
                    "device {device_id} is {} in campaign {campaign}: it cannot become {}",
                    current.as_str(),
                    state.as_str()
                )));
            }
            super::campaign::Transition::Apply(_) => {}
        }
        tx.execute(
            "UPDATE update_campaign_devices SET state = ?3, reason = ?4, updated = ?5 WHERE campaign = ?1 AND device_id = ?2",
            params![campaign, device_id, state.as_str(), reason, now],
        )?;
        let mut applied = Applied {
            device_id: device_id.to_string(),
            state,
            mud_url: None,
            version: None,
        };
        if state == DeviceState::Succeeded {
            let (component, seq, mud, version): (String, i64, Option<String>, String) = tx
                .query_row(
                    "SELECT component, seq, mud_url, version FROM firmware WHERE id = ?1",
                    [&firmware],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            tx.execute(
                "INSERT INTO device_firmware (device_id, component, seq, firmware, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(device_id, component) DO UPDATE SET seq = ?3, firmware = ?4, updated = ?5 WHERE seq < ?3",
                params![device_id, component, seq, firmware, now],
            )?;
            if let Some(url) = &mud {
                tx.execute(
                    "INSERT INTO device_mud_urls (device_id, mud_url, firmware, updated) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(device_id) DO UPDATE SET mud_url = ?2, firmware = ?3, updated = ?4",
                    params![device_id, url, firmware, now],
                )?;
                // The registry's event log: the policy engine recompiles on it.
                tx.execute(
                    "INSERT INTO registry_events (device_id, kind) VALUES (?1, 'mud-url')",
                    [device_id],
                )?;
            }
            applied.mud_url = mud;
            applied.version = Some(version);
        }
        tx.commit()?;
        Ok(Some(applied))
    }
}
