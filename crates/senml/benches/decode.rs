//! `cargo bench -p senml --bench decode`: SenML decode + resolve (RFC 8428 §4.6),
//! JSON and CBOR, in records/s and MB/s, on one core and on every core, beside
//! two anchors measured on the same bytes in the same run:
//!
//! - the floor: parsing the bytes into a generic value (`serde_json::Value`,
//!   `ciborium::Value`) and nothing more, i.e. what any decoder must pay;
//! - kpn-senml (PyPI), a SenML library for Python, decoding the same packs
//!   (`benches/kpn_senml_bench.py`, run with `python3`; `scripts/deps.sh` installs it).
//!
//! Packs: what devices send (10 records under one base name and base time,
//! relative times, units, one string value), and bigger ones (100 and 1,000
//! records) such as a gateway batch or a logger's backlog. Every record has its
//! own name: kpn-senml folds records with the same name into one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NOW: f64 = 1.7e9;
const RUN: Duration = Duration::from_millis(1500);

/// A pack of `n` records: a base name, base time and base unit on the first
/// record, relative times, mostly numbers, every tenth a string.
fn pack_json(n: usize) -> Vec<u8> {
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = serde_json::Map::new();
        if i == 0 {
            r.insert("bn".into(), "urn:dev:mac:0024befffe804ff1:".into());
            r.insert("bt".into(), 1.7e9.into());
            r.insert("bu".into(), "Cel".into());
            r.insert("bver".into(), 10.into());
        }
        r.insert("n".into(), format!("sensor{i}").into());
        r.insert("t".into(), (-(i as f64) * 0.5).into());
        if i % 10 == 9 {
            r.insert("vs".into(), "ok".into());
        } else {
            r.insert("u".into(), if i % 2 == 0 { "Cel" } else { "%RH" }.into());
            r.insert("v".into(), (20.0 + i as f64 * 0.125).into());
        }
        records.push(serde_json::Value::Object(r));
    }
    serde_json::to_vec(&records).expect("a JSON array of objects encodes")
}

/// One way of handling a pack: returns the number of records it produced.
type Decode = fn(&[u8]) -> usize;

struct Figure {
    records_per_s: f64,
    mb_per_s: f64,
}

/// Run `f` (which handles one pack and returns how many records it produced) on
/// `threads` threads for [`RUN`], and report the total rate.
fn measure(threads: usize, bytes: &[u8], f: impl Fn(&[u8]) -> usize + Sync) -> Figure {
    let (records, packs, elapsed) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let start = Instant::now();
                    let (mut records, mut packs) = (0usize, 0usize);
                    while start.elapsed() < RUN {
                        for _ in 0..16 {
                            records += std::hint::black_box(f(std::hint::black_box(bytes)));
                            packs += 1;
                        }
                    }
                    (records, packs, start.elapsed())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("benchmark thread"))
            .fold((0, 0, Duration::ZERO), |(r, p, e), (r2, p2, e2)| {
                (r + r2, p + p2, e.max(e2))
            })
    });
    let secs = elapsed.as_secs_f64();
    Figure {
        records_per_s: records as f64 / secs,
        mb_per_s: (packs * bytes.len()) as f64 / secs / 1e6,
    }
}

fn senml_json(bytes: &[u8]) -> usize {
    let pack = senml::Pack::from_json(bytes).expect("benchmark pack decodes");
    pack.resolve(NOW).expect("benchmark pack resolves").len()
}

fn senml_cbor(bytes: &[u8]) -> usize {
    let pack = senml::Pack::from_cbor(bytes).expect("benchmark pack decodes");
    pack.resolve(NOW).expect("benchmark pack resolves").len()
}

fn floor_json(bytes: &[u8]) -> usize {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Array(a)) => a.len(),
        _ => panic!("benchmark pack is a JSON array"),
    }
}

fn floor_cbor(bytes: &[u8]) -> usize {
    match ciborium::from_reader::<ciborium::Value, _>(bytes) {
        Ok(ciborium::Value::Array(a)) => a.len(),
        _ => panic!("benchmark pack is a CBOR array"),
    }
}

/// kpn-senml's figures for the packs in `dir`, keyed by file name:
/// (records/s, MB/s); or why there are none.
fn kpn_senml(dir: &Path) -> Result<Vec<(String, f64, f64)>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/kpn_senml_bench.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(RUN.as_secs_f64().to_string())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if let [name, rps, mbs] = cols[..] {
            let parse = |s: &str| s.parse::<f64>().map_err(|e| format!("{line:?}: {e}"));
            rows.push((name.to_string(), parse(rps)?, parse(mbs)?));
        }
    }
    Ok(rows)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cases = Vec::new();
    for n in [10, 100, 1000] {
        let json = pack_json(n);
        let pack = senml::Pack::from_json(&json).expect("generated pack decodes");
        let cbor = pack.to_cbor().expect("generated pack encodes as CBOR");
        for (format, bytes) in [("json", json.clone()), ("cbor", cbor)] {
            let file = format!("pack{n}.{format}");
            std::fs::write(dir.path().join(&file), &bytes).expect("write pack");
            cases.push((n, format, file, bytes));
        }
    }
    let kpn = kpn_senml(dir.path());

    println!("SenML decode + resolve, {cores} cores, {RUN:?} per figure");
    println!(
        "{:<10} {:>6} {:>7} | {:>22} | {:>22} | {:>22} | {:>22}",
        "pack",
        "bytes",
        "records",
        "senml 1 core rec/s MB/s",
        &format!("senml {cores} cores rec/s MB/s"),
        "floor 1 core rec/s MB/s",
        "kpn-senml rec/s MB/s"
    );
    for (n, format, file, bytes) in &cases {
        let (ours, floor): (Decode, Decode) = match *format {
            "json" => (senml_json, floor_json),
            _ => (senml_cbor, floor_cbor),
        };
        let one = measure(1, bytes, ours);
        let all = measure(cores, bytes, ours);
        let base = measure(1, bytes, floor);
        let reference = match &kpn {
            Ok(rows) => rows
                .iter()
                .find(|(name, _, _)| name == file)
                .map_or("missing".to_string(), |(_, r, m)| {
                    format!("{r:>12.0} {m:>8.2}")
                }),
            Err(_) => "n/a".to_string(),
        };
        println!(
            "{:<10} {:>6} {:>7} | {:>12.0} {:>9.2} | {:>12.0} {:>9.2} | {:>12.0} {:>9.2} | {:>22}",
            format!("{format} {n}"),
            bytes.len(),
            n,
            one.records_per_s,
            one.mb_per_s,
            all.records_per_s,
            all.mb_per_s,
            base.records_per_s,
            base.mb_per_s,
            reference
        );
    }
    if let Err(why) = kpn {
        println!("kpn-senml: no figures ({why}); scripts/deps.sh installs it");
    }
}
