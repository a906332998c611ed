//! One run: connect every device (a bounded number of handshakes at a time), then
//! either hold them idle and sample the broker's memory, or start all publish loops
//! on one timeline (warm-up, measured window, drain of the last acknowledgements),
//! and report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::RunArgs;
use crate::client::{self, Shared, Stats, Timeline};
use crate::{devices, http, procfs};

/// Acknowledgements still awaited this long after the measured window are counted
/// as unacknowledged.
const DRAIN: Duration = Duration::from_secs(10);

pub async fn run(a: RunArgs) -> anyhow::Result<()> {
    if a.connections == 0 || a.records == 0 || a.window == 0 {
        bail!("--connections, --records and --window must be at least 1");
    }
    if !a.rate.is_finite() || a.rate < 0.0 || a.duration <= 0.0 || a.warmup < 0.0 {
        bail!("--rate must be ≥ 0, --duration > 0 and --warmup ≥ 0");
    }
    let entries = devices::read_list(&a.devices)?;
    if entries.len() < a.connections {
        bail!(
            "{} has {} devices; {} connections need as many: run `loadgen provision -n {}` first",
            a.devices.display(),
            entries.len(),
            a.connections,
            a.connections
        );
    }
    let ca = a.ca.clone().unwrap_or_else(|| a.devices.join("ca.crt"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&ca)
        .with_context(|| format!("reading CA {}", ca.display()))?
    {
        roots
            .add(cert.with_context(|| format!("reading CA {}", ca.display()))?)
            .with_context(|| format!("CA {}", ca.display()))?;
    }
    let server_name = ServerName::try_from(a.server_name.clone())
        .with_context(|| format!("--server-name `{}`", a.server_name))?;
    let shared = Arc::new(Shared {
        broker: a.broker,
        server_name,
        roots: Arc::new(roots),
        source_ips: a.source_ip.clone(),
        qos: a.qos,
        records: a.records,
        window: a.window,
        interval: (a.rate > 0.0).then(|| Duration::from_secs_f64(a.connections as f64 / a.rate)),
    });
    let server_rss_before = procfs::status_kib(a.server_pid, "VmRSS");

    // Connect everything.
    let (start_tx, start_rx) = watch::channel::<Option<Timeline>>(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let slots = Arc::new(Semaphore::new(a.connect_concurrency.max(1)));
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(a.connections);
    for (index, entry) in entries.into_iter().take(a.connections).enumerate() {
        let (shared, slots, ready_tx) = (shared.clone(), slots.clone(), ready_tx.clone());
        let (mut start_rx, stop_rx) = (start_rx.clone(), stop_rx.clone());
        let (dir, auth, idle) = (a.devices.clone(), a.auth, a.idle);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            let conn = {
                let _permit = slots.acquire().await;
                let mut result = Err(anyhow::anyhow!("not tried"));
                for attempt in 0..3u32 {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
                    }
                    result = match devices::credentials(&dir, &entry, auth) {
                        Ok(creds) => client::connect(&shared, creds, index).await,
                        Err(e) => Err(e),
                    };
                    if result.is_ok() {
                        break;
                    }
                }
                result
            };
            let conn = match conn {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{}: {e:#}", entry.name)));
                    stats.error("connect");
                    return stats;
                }
            };
            if idle {
                return conn.idle(stop_rx).await;
            }
            let Ok(t) = start_rx
                .wait_for(|t| t.is_some())
                .await
                .map(|t| t.expect("checked"))
            else {
                return stats;
            };
            conn.load(shared, t).await
        }));
    }
    drop(ready_tx);
    let (mut connected, mut failed) = (0usize, 0usize);
    let mut first_errors = Vec::new();
    let connect_deadline = connect_started + Duration::from_secs_f64(a.connect_timeout);
    let mut last_progress = Instant::now();
    while connected + failed < a.connections {
        match tokio::time::timeout_at(connect_deadline, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(e))) => {
                failed += 1;
                if first_errors.len() < 5 {
                    first_errors.push(e);
                }
            }
            Ok(None) => break,
            Err(_) => {
                eprintln!("connect timeout: {connected} connected, {failed} failed");
                break;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            eprintln!("  … {connected} connected, {failed} failed");
            last_progress = Instant::now();
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "[{}] {connected}/{} connected in {connect_secs:.1} s, {failed} failed",
        a.label, a.connections
    );
    for e in &first_errors {
        eprintln!("  connect error: {e}");
    }

    let mut out = Summary::default();
    out.put("label", &a.label);
    out.put("mode", if a.idle { "idle" } else { "load" });
    out.put("connections", a.connections);
    out.put("connected", connected);
    out.put("connect_failed", failed);
    out.put("connect_secs", format!("{connect_secs:.1}"));
    if let Some(e) = first_errors.first() {
        out.put("first_connect_error", e.replace(['\n', '\''], " "));
    }

    if a.idle {
        tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
        let rss = procfs::status_kib(a.server_pid, "VmRSS");
        let hwm = procfs::status_kib(a.server_pid, "VmHWM");
        let own = procfs::status_kib(None, "VmRSS");
        tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
        let rss_end = procfs::status_kib(a.server_pid, "VmRSS");
        let _ = stop_tx.send(true);
        let mut total = Stats::new();
        for t in tasks {
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(30), t).await {
                total.merge(&s);
            }
        }
        let mb = |k: Option<u64>| {
            k.map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into())
        };
        out.put("server_rss_before_mb", mb(server_rss_before));
        out.put("server_rss_mb", mb(rss));
        out.put("server_rss_end_mb", mb(rss_end));
        out.put("server_hwm_mb", mb(hwm));
        if let (Some(b), Some(r)) = (server_rss_before, rss)
            && connected > 0
        {
            out.put(
                "server_kb_per_conn",
                format!("{:.1}", (r.saturating_sub(b)) as f64 / connected as f64),
            );
        }
        out.put("loadgen_rss_mb", mb(own));
        out.put("errors", errors_text(&total.errors));
        return out.finish(&a);
    }

    // Load: one timeline for all connections.
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let measure_to = measure_from + Duration::from_secs_f64(a.duration);
    let timeline = Timeline {
        start,
        measure_from,
        measure_to,
        drain_until: measure_to + DRAIN,
    };
    let _ = start_tx.send(Some(timeline));
    tokio::time::sleep_until(measure_from).await;
    let m0 = scrape(a.metrics_url.as_deref()).await;
    let (s0, o0) = (procfs::cpu_seconds(a.server_pid), procfs::cpu_seconds(None));
    let w0 = a.server_pid.and_then(|p| procfs::write_bytes(Some(p)));
    tokio::time::sleep_until(measure_to).await;
    let w1 = a.server_pid.and_then(|p| procfs::write_bytes(Some(p)));
    let m1 = scrape(a.metrics_url.as_deref()).await;
    let (s1, o1) = (procfs::cpu_seconds(a.server_pid), procfs::cpu_seconds(None));
    let rss = procfs::status_kib(a.server_pid, "VmRSS");
    let mut total = Stats::new();
    for t in tasks {
        match tokio::time::timeout_at(timeline.drain_until + Duration::from_secs(10), t).await {
            Ok(Ok(s)) => total.merge(&s),
            _ => total.error("task_timeout"),
        }
    }
    let secs = a.duration;
    let latency = total.histogram();
    let ms = |q: f64| format!("{:.2}", latency.value_at_quantile(q) as f64 / 1000.0);
    out.put("qos", a.qos);
    out.put("records", a.records);
    out.put("window", a.window);
    out.put("target_rate", a.rate);
    out.put("duration_secs", secs);
    out.put(
        "sent_per_s",
        format!("{:.0}", total.sent_in_window as f64 / secs),
    );
    if a.qos == 1 {
        let msgs = total.acked_in_window as f64 / secs;
        out.put("acked_msgs_per_s", format!("{msgs:.0}"));
        out.put(
            "acked_readings_per_s",
            format!("{:.0}", msgs * a.records as f64),
        );
        out.put("latency_samples", latency.len());
        out.put("p50_ms", ms(0.50));
        out.put("p90_ms", ms(0.90));
        out.put("p99_ms", ms(0.99));
        out.put("p999_ms", ms(0.999));
        out.put("max_ms", format!("{:.2}", latency.max() as f64 / 1000.0));
    }
    out.put("late_sends", total.late);
    out.put("unacked", total.unacked);
    out.put("errors", errors_text(&total.errors));
    if let (Some(a0), Some(a1)) = (s0, s1) {
        out.put("server_cpu_cores", format!("{:.2}", (a1 - a0) / secs));
    }
    if let (Some(a0), Some(a1)) = (o0, o1) {
        out.put("loadgen_cpu_cores", format!("{:.2}", (a1 - a0) / secs));
    }
    if let (Some(w0), Some(w1)) = (w0, w1) {
        let bytes = w1.saturating_sub(w0) as f64;
        out.put(
            "server_disk_write_mb_per_s",
            format!("{:.1}", bytes / secs / 1e6),
        );
        if a.qos == 1 && total.acked_in_window > 0 {
            let readings = total.acked_in_window as f64 * a.records as f64;
            out.put(
                "server_disk_bytes_per_reading",
                format!("{:.0}", bytes / readings),
            );
        }
    }
    if let Some(r) = rss {
        out.put("server_rss_mb", format!("{:.1}", r as f64 / 1024.0));
    }
    if let (Some(m0), Some(m1)) = (m0, m1) {
        let d = |k: &str| m1.get(k).copied().unwrap_or(0.0) - m0.get(k).copied().unwrap_or(0.0);
        let commits = d("steward_commit_batch_readings_count");
        if commits > 0.0 {
            out.put("commits_per_s", format!("{:.0}", commits / secs));
            out.put(
                "commit_avg_readings",
                format!("{:.0}", d("steward_commit_batch_readings_sum") / commits),
            );
            out.put(
                "commit_avg_ms",
                format!(
                    "{:.2}",
                    1000.0 * d("steward_commit_duration_seconds_sum") / commits
                ),
            );
            out.put(
                "commit_busy_share",
                format!("{:.2}", d("steward_commit_duration_seconds_sum") / secs),
            );
        }
        let committed = d("steward_readings_committed_total");
        if committed > 0.0 {
            out.put(
                "server_readings_committed_per_s",
                format!("{:.0}", committed / secs),
            );
        }
        let errs: Vec<String> = m1
            .iter()
            .filter(|(k, _)| k.starts_with("steward_errors_total"))
            .filter_map(|(k, v)| {
                let dv = v - m0.get(k).copied().unwrap_or(0.0);
                (dv > 0.0).then(|| format!("{k}={dv}"))
            })
            .collect();
        if !errs.is_empty() {
            out.put("server_errors", errs.join(" "));
        }
    }
    out.finish(&a)
}

fn errors_text(e: &BTreeMap<String, u64>) -> String {
    if e.is_empty() {
        return "none".into();
    }
    e.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Prometheus text → sample name (with labels) → value; `None` without a URL or on error.
async fn scrape(url: Option<&str>) -> Option<BTreeMap<String, f64>> {
    let (authority, path) = http::split_url(url?).ok()?;
    let path = if path.is_empty() {
        "/metrics".to_string()
    } else {
        path
    };
    let (status, body) = http::request(&authority, "GET", &path, None, None)
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    Some(parse_prometheus(&String::from_utf8_lossy(&body)))
}

fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The report: printed for people, and written as KEY=VALUE lines for scripts.
#[derive(Default)]
struct Summary {
    fields: Vec<(String, String)>,
}

impl Summary {
    fn put(&mut self, k: &str, v: impl ToString) {
        self.fields.push((k.to_string(), v.to_string()));
    }

    fn finish(self, a: &RunArgs) -> anyhow::Result<()> {
        let mut text = String::new();
        for (k, v) in &self.fields {
            let _ = writeln!(text, "{k:>32}  {v}");
        }
        print!("{text}");
        if let Some(path) = &a.summary {
            let mut sh = String::new();
            for (k, v) in &self.fields {
                let _ = writeln!(sh, "{}='{}'", k.to_uppercase(), v.replace('\'', ""));
            }
            std::fs::write(path, sh).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let m = parse_prometheus(
            "# HELP x y\nsteward_commit_batch_readings_sum 120.0\nsteward_errors_total{kind=\"auth\"} 2\n",
        );
        assert_eq!(m["steward_commit_batch_readings_sum"], 120.0);
        assert_eq!(m["steward_errors_total{kind=\"auth\"}"], 2.0);
    }
}
