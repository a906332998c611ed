//! A firmware campaign to many simulated devices against the real `steward serve`
//! (HTTPS + MQTT/TLS), every device running the real update agent in this
//! process: wall time from campaign creation to completion, Steward's CPU time
//! and peak memory (from /proc), payload bytes served per second.
//!
//! `CAMPAIGN_BENCH_DEVICES` (default 2000) devices, `CAMPAIGN_BENCH_PAYLOAD`
//! (default 262144) bytes of payload, waves 1 %, 10 %, 50 %, 100 %.
//! Run: `cargo bench -p steward --bench campaign` (add `--profile dev` to measure
//! a debug build).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/updates.rs"]
mod fleet;

use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (utime + stime in seconds, peak RSS in MiB) of a process.
fn proc_stats(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12 (proc(5)); 100 ticks/s.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    (cpu, hwm)
}

fn main() {
    let n = env("CAMPAIGN_BENCH_DEVICES", 2000);
    let size = env("CAMPAIGN_BENCH_PAYLOAD", 256 * 1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let setup = Instant::now();
        let f = fleet::Fleet::start("bench", n, "notices_per_tick = 2000\n").await;
        let (fw, _) = f.release(1, &fleet::payload(size, 1), None);
        let handles = f
            .agents_connected(|_, o| o.install_time = Duration::from_millis(200))
            .await;
        println!(
            "setup: {n} devices connected in {:.1} s",
            setup.elapsed().as_secs_f64()
        );
        let pid = f.gw.pid();
        let (cpu0, _) = proc_stats(pid);
        let start = Instant::now();
        let id = f
            .create_campaign(serde_json::json!({"firmware": fw, "waves": "1%,10%,50%,100%"}))
            .await;
        let p = f
            .wait_campaign(&id, 1800, "the campaign to complete", |p| {
                fleet::state(p) == "completed"
            })
            .await;
        let wall = start.elapsed().as_secs_f64();
        let (cpu1, hwm) = proc_stats(pid);
        let installs: u32 = handles.iter().map(|h| h.stats().installs).sum();
        assert_eq!(installs as usize, n, "every device installed once: {p}");
        let bytes = (n * size) as f64;
        println!("campaign to {n} devices, {size}-byte payload, waves 1/10/50/100 %:");
        println!("  wall time            {wall:.1} s");
        println!(
            "  steward CPU          {:.1} s ({:.0} % of one core)",
            cpu1 - cpu0,
            (cpu1 - cpu0) / wall * 100.0
        );
        println!("  steward peak RSS     {hwm:.0} MiB");
        println!(
            "  payload served       {:.1} MiB/s ({:.0} MiB in all)",
            bytes / wall / 1048576.0,
            bytes / 1048576.0
        );
    });
}
