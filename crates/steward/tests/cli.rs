//! The command line on a data directory: first run, the registry commands, a
//! device-generated CSR (openssl) whose key never leaves the device, the config
//! template.

mod common;

use std::process::Command;

use common::*;

fn steward(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn registry_commands_and_first_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = steward(&data, &["device", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    // First run: the admin token is announced once, stored 0600, never in the store.
    assert!(text(&out).contains("admin token"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let db = std::fs::read(data.join("steward.db")).unwrap();
    assert!(
        !db.windows(token.trim().len())
            .any(|w| w == token.trim().as_bytes())
    );
    let again = steward(&data, &["device", "list"]);
    assert!(
        !text(&again).contains("admin token"),
        "the token was shown twice"
    );

    let certs = tmp.path().join("certs");
    let out = steward(
        &data,
        &[
            "device",
            "add",
            "pump-1",
            "--model",
            "pump",
            "--out",
            certs.to_str().unwrap(),
            "--zone",
            "trusted",
            "--tag",
            "water",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    for f in ["pump-1.crt", "pump-1.key", "ca.crt"] {
        assert!(certs.join(f).exists(), "{f}");
    }
    let mode = std::fs::metadata(certs.join("pump-1.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let show: serde_json::Value =
        serde_json::from_slice(&steward(&data, &["device", "show", "pump-1"]).stdout).unwrap();
    assert_eq!(show["id"], id.as_str());
    assert_eq!(show["zone"], "trusted");
    assert_eq!(show["tags"][0], "water");
    assert_eq!(show["strength"], "certificate");

    let dup = steward(
        &data,
        &[
            "device",
            "add",
            "pump-1",
            "--model",
            "pump",
            "--out",
            certs.to_str().unwrap(),
        ],
    );
    assert!(!dup.status.success());
    assert!(text(&dup).contains("exists already"), "{}", text(&dup));
    let bad = steward(
        &data,
        &[
            "device",
            "add",
            "no spaces",
            "--model",
            "pump",
            "--out",
            certs.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("name"), "{}", text(&bad));

    let up = steward(
        &data,
        &[
            "device",
            "update",
            &id,
            "--zone",
            "quarantine",
            "--firmware",
            "1.2.3",
        ],
    );
    assert!(up.status.success(), "{}", text(&up));
    let list: serde_json::Value =
        serde_json::from_slice(&steward(&data, &["device", "list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["zone"], "quarantine");
    assert_eq!(list[0]["firmware_version"], "1.2.3");
    let models: serde_json::Value =
        serde_json::from_slice(&steward(&data, &["model", "list"]).stdout).unwrap();
    assert_eq!(models[0]["name"], "pump");
    assert_eq!(models[0]["decoder"]["kind"], "senml");

    assert!(
        steward(&data, &["device", "revoke", "pump-1"])
            .status
            .success()
    );
    assert!(
        steward(&data, &["device", "delete", "pump-1"])
            .status
            .success()
    );
    let gone = steward(&data, &["device", "show", "pump-1"]);
    assert!(!gone.status.success());
    assert!(text(&gone).contains("no device"), "{}", text(&gone));
}

#[test]
fn device_csr_keeps_its_key() {
    require("openssl");
    require("mosquitto_pub");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let dir = tmp.path().join("device");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("own.key");
    let csr = dir.join("own.csr");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=whatever",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = gw.cli(&[
        "device",
        "add",
        "own-key",
        "--model",
        "meter",
        "--out",
        dir.to_str().unwrap(),
        "--csr",
        csr.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        !dir.join("own-key.key").exists(),
        "Steward wrote a key although the device made its own"
    );
    let creds = DeviceCreds {
        id: id.clone(),
        name: "own-key".into(),
        cert: dir.join("own-key.crt"),
        key,
        ca: dir.join("ca.crt"),
    };
    let a = tls_args_with(
        &gw,
        &creds,
        &[
            "-q",
            "1",
            "-t",
            &format!("steward/v1/devices/{id}/telemetry"),
            "-m",
            r#"[{"n":"x","v":1}]"#,
        ],
    );
    let out = mosquitto_pub(&a);
    assert!(text(&out).contains("received PUBACK"), "{}", text(&out));

    // A file that is not a CSR leaves no device behind.
    std::fs::write(dir.join("junk.csr"), "hello").unwrap();
    let out = gw.cli(&[
        "device",
        "add",
        "junk",
        "--model",
        "meter",
        "--out",
        dir.to_str().unwrap(),
        "--csr",
        dir.join("junk.csr").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("certificate signing request"),
        "{}",
        text(&out)
    );
    assert!(!gw.cli(&["device", "show", "junk"]).status.success());
}

#[test]
fn config_template_parses_and_bad_config_is_named() {
    let out = Command::new(BIN)
        .args(["config", "template"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let template = String::from_utf8(out.stdout).unwrap();
    assert!(template.contains("max_packet_size"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("steward.toml");
    std::fs::write(&path, template).unwrap();
    let data = tmp.path().join("data");
    let ok = Command::new(BIN)
        .args(["device", "list", "--config"])
        .arg(&path)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    std::fs::write(&path, "[mqtt]\nmax_packet_size = \"big\"\n").unwrap();
    let bad = Command::new(BIN)
        .args(["device", "list", "--config"])
        .arg(&path)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("steward.toml") && text(&bad).contains("max_packet_size"),
        "{}",
        text(&bad)
    );
}
