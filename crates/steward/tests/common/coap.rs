//! Test support for CoAP: Debian's libcoap `coap-client` (the OpenSSL build,
//! `coap-client-openssl`, from libcoap3-bin) over DTLS-PSK against a [`Gateway`],
//! and `steward device psk`.
#![allow(dead_code)]

use std::process::{Command, Output};

use super::Gateway;

/// libcoap's client built with OpenSSL (Debian ships one binary per TLS library).
pub const COAP_CLIENT: &str = "coap-client-openssl";

/// What coap-client saw.
#[derive(Debug)]
pub struct CoapReply {
    /// The response code of the last response, e.g. "2.04" (from `-v 6` output).
    pub code: Option<String>,
    /// Everything coap-client printed (responses, diagnostic payloads, DTLS errors).
    pub text: String,
    pub success: bool,
}

/// `steward device psk DEVICE` → the key (the last line of output).
pub fn psk(gw: &Gateway, device: &str) -> String {
    let out = gw.cli(&["device", "psk", device]);
    assert!(
        out.status.success(),
        "device psk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn reply(out: Output) -> CoapReply {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines like `v:1 t:ACK c:2.04 i:91b8 {01} [ ]`.
    let code = text
        .lines()
        .filter(|l| {
            l.starts_with("v:1 t:ACK") || l.starts_with("v:1 t:NON") || l.starts_with("v:1 t:CON")
        })
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("c:")))
        .rfind(|c| c.as_bytes().first().is_some_and(|b| b.is_ascii_digit()))
        .map(String::from);
    CoapReply {
        code,
        text,
        success: out.status.success(),
    }
}

/// Run coap-client against the gateway's CoAP/DTLS address with this PSK identity
/// and key; `args` are extra options (method, content-format, payload ...), `path`
/// the resource.
pub fn coap(gw: &Gateway, identity: &str, key: &str, args: &[&str], path: &str) -> CoapReply {
    super::require(COAP_CLIENT);
    let url = format!("coaps://{}{path}", gw.coaps);
    let out = Command::new("timeout")
        .args([
            "30",
            COAP_CLIENT,
            "-v",
            "6",
            "-B",
            "20",
            "-u",
            identity,
            "-k",
            key,
        ])
        .args(args)
        .arg(&url)
        .output()
        .unwrap();
    reply(out)
}

/// POST a payload to /telemetry with a content-format (CON unless `args` says `-N`).
pub fn post(
    gw: &Gateway,
    identity: &str,
    key: &str,
    cf: &str,
    payload: &str,
    args: &[&str],
) -> CoapReply {
    let mut a = vec!["-m", "post", "-t", cf, "-e", payload];
    a.extend_from_slice(args);
    coap(gw, identity, key, &a, "/telemetry")
}

/// POST a file's bytes to /telemetry.
pub fn post_file(
    gw: &Gateway,
    identity: &str,
    key: &str,
    cf: &str,
    file: &std::path::Path,
    args: &[&str],
) -> CoapReply {
    let f = file.to_str().unwrap();
    let mut a = vec!["-m", "post", "-t", cf, "-f", f];
    a.extend_from_slice(args);
    coap(gw, identity, key, &a, "/telemetry")
}

/// GET `path` block-wise (Block2) with `-b [num,]size`, the payload written to `out`.
pub fn get_blocks(
    gw: &Gateway,
    identity: &str,
    key: &str,
    block: &str,
    path: &str,
    out: &std::path::Path,
) -> CoapReply {
    let o = out.to_str().unwrap();
    coap(
        gw,
        identity,
        key,
        &["-m", "get", "-b", block, "-o", o],
        path,
    )
}

/// GET `path` with extra options (`-A 60` ...), the response payload written to `out`.
pub fn get_to(
    gw: &Gateway,
    identity: &str,
    key: &str,
    args: &[&str],
    path: &str,
    out: &std::path::Path,
) -> CoapReply {
    let o = out.to_str().unwrap();
    let mut a = vec!["-m", "get", "-o", o];
    a.extend_from_slice(args);
    coap(gw, identity, key, &a, path)
}

/// POST a status report to /update/status with content-format 50 (JSON).
pub fn post_status(gw: &Gateway, identity: &str, key: &str, report: &str) -> CoapReply {
    coap(
        gw,
        identity,
        key,
        &["-m", "post", "-t", "50", "-e", report],
        "/update/status",
    )
}

impl CoapReply {
    /// The last lines of the output (a block-wise transfer prints every block).
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
