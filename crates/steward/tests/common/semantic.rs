//! Test helpers for the semantic tests: curl with response headers, device
//! ingest over HTTP with a device token, the vectors' folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Gateway;

/// `../shared/vectors` beside the repository, or `$STEWARD_VECTORS` (for a
/// checkout elsewhere, such as a git worktree).
pub fn vectors() -> PathBuf {
    match std::env::var_os("STEWARD_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

pub struct Reply {
    pub code: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// curl with the admin token (unless `auth` is false) and extra arguments.
pub fn get(gw: &Gateway, path: &str, auth: bool, extra: &[&str]) -> Reply {
    let headers = gw.data.with_extension(format!("h{}", std::process::id()));
    let url = format!("http://{}{}", gw.http, path);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-g",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-D",
    ])
    .arg(&headers);
    if auth {
        cmd.args(["-H", &format!("Authorization: Bearer {}", gw.admin)]);
    }
    let out = cmd.args(extra).arg(&url).output().unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let raw = std::fs::read_to_string(&headers).unwrap_or_default();
    let headers = raw
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        code: code.parse().unwrap(),
        headers,
        body: body.to_string(),
    }
}

/// POST a payload as a device (its token) to its telemetry endpoint; 201 expected.
pub fn ingest(gw: &Gateway, device: &str, token: &str, content_type: &str, body: &[u8]) {
    let file = gw.data.with_extension(format!("body-{device}"));
    std::fs::write(&file, body).unwrap();
    let (code, reply) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{device}/telemetry"),
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            &format!("Content-Type: {content_type}"),
            "--data-binary",
            &format!("@{}", file.display()),
        ],
    );
    assert_eq!(code, 201, "ingest for {device}: {reply}");
}

/// A model made with `steward model add` (decoder, thing spec, mapping as JSON).
pub fn add_model(gw: &Gateway, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["model", "add", name, "--manufacturer", "Acme"];
    args.extend_from_slice(extra);
    gw.cli(&args)
}
