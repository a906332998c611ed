//! The messaging ACL comes from the device's effective policy (no second
//! configuration): with real clients (mosquitto_pub/sub, curl), a device moved
//! to the `quarantine` zone can no longer publish telemetry or subscribe to
//! commands but still takes updates; an owner's zone that denies `commands`
//! takes commands away; moving the device back restores everything. CoAP
//! (coap-client over DTLS-PSK) follows the same ACL.

#[path = "common/coap.rs"]
mod coap_support;
mod common;

use common::{Gateway, mosquitto_pub, require, text, tls_args_with};
use std::process::Command;

fn telemetry(id: &str) -> String {
    format!("steward/v1/devices/{id}/telemetry")
}

/// Subscribe once with MQTT 5 and report whether the SUBACK granted it.
fn subscribe_granted(gw: &Gateway, d: &common::DeviceCreds, filter: &str) -> bool {
    let args = tls_args_with(
        gw,
        d,
        &["-V", "mqttv5", "-t", filter, "-C", "1", "-W", "2", "-d"],
    );
    let out = Command::new("mosquitto_sub").args(&args).output().unwrap();
    let t = text(&out);
    assert!(t.contains("received SUBACK"), "{filter}: {t}");
    !(t.contains("denied") || t.contains("135"))
}

fn publish(gw: &Gateway, d: &common::DeviceCreds, topic: &str, msg: &str) -> String {
    text(&mosquitto_pub(&tls_args_with(
        gw,
        d,
        &["-V", "mqttv5", "-q", "1", "-t", topic, "-m", msg],
    )))
}

/// Whether mosquitto_pub's output shows the publish acknowledged with success.
fn acked(out: &str) -> bool {
    out.contains("received PUBACK") && !out.contains("RC:135")
}

fn zone_of(gw: &Gateway, id: &str) -> String {
    gw.admin_get(&format!("/api/v1/devices/{id}/policy"))["zone"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn set_zone(gw: &Gateway, id: &str, zone: &str) {
    let out = gw.cli(&["device", "update", id, "--zone", zone]);
    assert!(out.status.success(), "{}", text(&out));
    Gateway::wait_for(&format!("the policy to put {id} in {zone}"), 20, || {
        zone_of(gw, id) == zone
    });
}

#[test]
fn quarantine_and_zone_denies_shape_what_devices_may_publish_and_subscribe() {
    require("mosquitto_pub");
    require("mosquitto_sub");
    require("curl");
    require(coap_support::COAP_CLIENT);
    let tmp = tempfile::tempdir().unwrap();
    let config = r#"
[policy.zones.mute]
description = "devices that take no commands"
grant = ["telemetry", "updates"]
deny = ["commands"]
"#;
    let gw = Gateway::start(&tmp.path().join("data"), Some(config));
    let d = gw.add_device("meter-1", "aq-sensor");
    let other = gw.add_device("meter-2", "aq-sensor");
    let commands = format!("steward/v1/devices/{}/commands/#", d.id);
    let update = format!("steward/v1/devices/{}/update", d.id);
    let token = gw.token(&d.id);
    let auth = format!("Authorization: Bearer {token}");
    let http_post = |gw: &Gateway| {
        gw.curl(
            "POST",
            &format!("/api/v1/devices/{}/telemetry", d.id),
            &[
                "-H",
                &auth,
                "-H",
                "Content-Type: application/senml+json",
                "--data",
                r#"[{"n":"pm10","u":"ug/m3","v":7}]"#,
            ],
        )
    };

    // Restricted (where new devices land): messaging with Steward is granted.
    let t = publish(
        &gw,
        &d,
        &telemetry(&d.id),
        r#"[{"n":"pm10","u":"ug/m3","v":5}]"#,
    );
    assert!(acked(&t), "{t}");
    assert!(subscribe_granted(&gw, &d, &commands));
    assert!(subscribe_granted(&gw, &d, &update));
    assert_eq!(http_post(&gw).0, 201);
    assert_eq!(gw.readings(&d.id).len(), 2);

    // Quarantine: updates only. The running broker follows within moments (the
    // policy engine recompiles on the registry event).
    set_zone(&gw, &d.id, "quarantine");
    Gateway::wait_for(
        "quarantined telemetry to be refused (MQTT 5 0x87)",
        20,
        || {
            publish(
                &gw,
                &d,
                &telemetry(&d.id),
                r#"[{"n":"pm10","u":"ug/m3","v":6}]"#,
            )
            .contains("RC:135")
        },
    );
    let stored = gw.readings(&d.id).len();
    assert!(!subscribe_granted(&gw, &d, &commands), "no commands");
    assert!(
        subscribe_granted(&gw, &d, &update),
        "updates still reach it"
    );
    let (code, body) = http_post(&gw);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("does not grant `telemetry`"), "{body}");
    // CoAP: the same ACL, 4.03 naming the capability.
    let key = coap_support::psk(&gw, &d.id);
    let r = coap_support::post(
        &gw,
        &d.id,
        &key,
        "110",
        r#"[{"n":"pm10","u":"ug/m3","v":9}]"#,
        &[],
    );
    assert_eq!(r.code.as_deref(), Some("4.03"), "{}", r.text);
    assert!(r.text.contains("does not grant `telemetry`"), "{}", r.text);
    assert_eq!(
        gw.readings(&d.id).len(),
        stored,
        "nothing stored while quarantined"
    );
    // The policy says why, in words.
    let words = gw.admin_get(&format!("/api/v1/devices/{}/policy", d.id))["text"].to_string();
    assert!(words.contains("zone `quarantine`"), "{words}");
    assert!(
        words.contains("may subscribe to MQTT steward/v1/devices/"),
        "{words}"
    );
    assert!(!words.contains("/telemetry"), "{words}");
    // Another device is not affected.
    let t = publish(
        &gw,
        &other,
        &telemetry(&other.id),
        r#"[{"n":"pm10","u":"ug/m3","v":1}]"#,
    );
    assert!(acked(&t), "{t}");

    // An owner's zone that denies commands: telemetry yes, commands no.
    set_zone(&gw, &d.id, "mute");
    Gateway::wait_for("telemetry to be accepted in zone mute", 20, || {
        let t = publish(
            &gw,
            &d,
            &telemetry(&d.id),
            r#"[{"n":"pm10","u":"ug/m3","v":8}]"#,
        );
        acked(&t)
    });
    assert!(!subscribe_granted(&gw, &d, &commands), "commands denied");

    // Back to restricted: everything again.
    set_zone(&gw, &d.id, "restricted");
    Gateway::wait_for("commands to be granted again", 20, || {
        subscribe_granted(&gw, &d, &commands)
    });
    let before = gw.readings(&d.id).len();
    assert_eq!(http_post(&gw).0, 201);
    let r = coap_support::post(
        &gw,
        &d.id,
        &key,
        "110",
        r#"[{"n":"pm10","u":"ug/m3","v":3}]"#,
        &[],
    );
    assert_eq!(r.code.as_deref(), Some("2.04"), "{}", r.text);
    assert_eq!(gw.readings(&d.id).len(), before + 2);

    // Every move is in the audit log: who, what changed for the device, when;
    // through the API the actor is the admin token.
    let admin = format!("Authorization: Bearer {}", gw.admin);
    let (code, body) = gw.curl(
        "PATCH",
        &format!("/api/v1/devices/{}", d.id),
        &[
            "-H",
            &admin,
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"tags":["roof"]}"#,
        ],
    );
    assert_eq!(code, 200, "{body}");
    let audit = gw.admin_get("/api/v1/policy/audit?limit=20");
    let entries = audit.as_array().unwrap();
    let moved = entries
        .iter()
        .find(|e| {
            e["action"] == "device"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("zone restricted → quarantine"))
        })
        .unwrap_or_else(|| panic!("{audit:#}"));
    assert!(
        moved["actor"].as_str().unwrap().starts_with("cli:"),
        "{moved:#}"
    );
    assert!(
        moved["summary"].as_str().unwrap().contains("telemetry"),
        "the entry says what the device lost: {moved:#}"
    );
    let tagged = entries
        .iter()
        .find(|e| e["reason"].as_str().is_some_and(|r| r.contains("roof")))
        .unwrap_or_else(|| panic!("{audit:#}"));
    assert!(
        tagged["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin-token:"),
        "{tagged:#}"
    );
}
