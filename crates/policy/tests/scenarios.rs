//! Scenario tables (ChirpStack style): each case names what it shows, builds a
//! site from the real MUD vectors in `../shared/vectors/mud`, and checks the
//! verdict and provenance `steward explain` would print.

use policy::{
    Action, Capability, CapabilityKind, Compiled, ConsentRule, Deny, Device, Inputs, PolicyConfig,
    Prefix, Selector, Strength, compile, plan,
};
use std::collections::BTreeMap;
use std::path::Path;

const LUMINAIRE: &str = "https://luminaire.example.com/Luminaire_150";
const SAME_MFG: &str = "https://same-manufacturer-test.nist.local/super1";
const DNS_TEST: &str = "https://mud-dns-test.antd.nist.gov/super1";
const CTL_CLASS: &str = "https://controller-class-test.nist.local/super1";

fn mud(rel: &str) -> mud::DevicePolicy {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/mud")
        .join(rel);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let parsed =
        mud::parse(&bytes, &mud::ParseOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"));
    mud::compile(&parsed.file).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn dev(id: &str, zone: Option<&str>, mud_url: Option<&str>, addr: &str) -> Device {
    Device {
        id: id.into(),
        zone: zone.map(Into::into),
        mud_url: mud_url.map(Into::into),
        strength: Strength::Certificate,
        addresses: vec![addr.parse().unwrap()],
        ..Default::default()
    }
}

fn rule(name: &str, sel: Selector, grant: &[&str], deny: &[&str]) -> ConsentRule {
    ConsentRule {
        name: name.into(),
        description: None,
        selector: sel,
        grant: grant
            .iter()
            .map(|s| s.parse::<Capability>().unwrap())
            .collect(),
        deny: deny.iter().map(|s| s.parse::<Deny>().unwrap()).collect(),
    }
}

fn maker(m: &str) -> Selector {
    Selector {
        maker: Some(m.into()),
        ..Default::default()
    }
}

/// The test site: Steward at 10.0.0.1, one controller class, my-controller for
/// the luminaire, and six devices.
fn site(consent: Vec<ConsentRule>) -> Inputs {
    let mut config = PolicyConfig::default();
    config.site.gateway = vec!["10.0.0.1".parse().unwrap()];
    config.site.local_networks = vec!["10.0.0.0/8".parse().unwrap()];
    config.consent = consent;
    let mut mud_map = BTreeMap::new();
    mud_map.insert(
        LUMINAIRE.to_string(),
        mud("cisco-luminaire/Luminaire_150.json"),
    );
    mud_map.insert(
        SAME_MFG.to_string(),
        mud("nist/mud-same-manufacturer-test/mudfile-same-manufacturer-test.json"),
    );
    mud_map.insert(
        DNS_TEST.to_string(),
        mud("nist/mud-dns-test/mudfile-dns-test.json"),
    );
    mud_map.insert(
        CTL_CLASS.to_string(),
        mud("nist/mud-controllerclass-test/mudfile-controllerclass-test.json"),
    );
    Inputs {
        config,
        devices: vec![
            dev("unknown", None, None, "10.0.0.9"),
            dev("lum1", None, Some(LUMINAIRE), "10.0.0.10"),
            dev("sm1", None, Some(SAME_MFG), "10.0.0.21"),
            dev("sm2", None, Some(SAME_MFG), "10.0.0.22"),
            dev("dns1", Some("trusted"), Some(DNS_TEST), "10.0.0.30"),
            dev("ctl1", Some("trusted"), Some(CTL_CLASS), "10.0.0.40"),
        ],
        mud: mud_map,
    }
}

struct Case {
    name: &'static str,
    inputs: Inputs,
    device: &'static str,
    to: &'static str,
    verdict: Action,
    /// Substrings the explanation text must contain (provenance).
    says: &'static [&'static str],
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let compiled = compile(&c.inputs).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let e = compiled
            .explain(c.device, &c.to.parse().unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(e.verdict, c.verdict, "{}: {}", c.name, e.text);
        for s in c.says {
            assert!(
                e.text.contains(s),
                "{}: expected '{s}' in: {}",
                c.name,
                e.text
            );
        }
    }
}

#[test]
fn restricted_defaults() {
    let s = || site(vec![]);
    run(vec![
        Case {
            name: "HTTPS to the Internet, rate limited",
            inputs: s(),
            device: "unknown",
            to: "93.184.216.34:443/tcp",
            verdict: Action::Allow,
            says: &["zone `restricted`", "port 443", "at most 1mbit/s"],
        },
        Case {
            name: "HTTPS by name",
            inputs: s(),
            device: "unknown",
            to: "example.com:443/tcp",
            verdict: Action::Allow,
            says: &["zone `restricted`"],
        },
        Case {
            name: "plain HTTP to the Internet is denied",
            inputs: s(),
            device: "unknown",
            to: "93.184.216.34:80/tcp",
            verdict: Action::Deny,
            says: &["everything not allowed is denied"],
        },
        Case {
            name: "DNS through Steward",
            inputs: s(),
            device: "unknown",
            to: "10.0.0.1:53/udp",
            verdict: Action::Allow,
            says: &["Steward port 53", "zone `restricted`"],
        },
        Case {
            name: "NTP through Steward",
            inputs: s(),
            device: "unknown",
            to: "10.0.0.1:123/udp",
            verdict: Action::Allow,
            says: &["port 123"],
        },
        Case {
            name: "DNS elsewhere is denied",
            inputs: s(),
            device: "unknown",
            to: "8.8.8.8:53/udp",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "no lateral traffic, even HTTPS",
            inputs: s(),
            device: "unknown",
            to: "10.0.0.21:443/tcp",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "a MUD file alone grants nothing in restricted",
            inputs: s(),
            device: "lum1",
            to: "fw-update.luminaire.example.com:443/tcp",
            // still allowed: HTTPS to the Internet is the restricted baseline
            verdict: Action::Allow,
            says: &["the Internet", "zone `restricted`"],
        },
    ]);
    let c = compile(&s()).unwrap();
    let p = c.policy("unknown").unwrap();
    assert!(
        p.rules.iter().all(|r| r.flow == policy::Flow::FromDevice),
        "nothing inbound: {:#?}",
        p.rules
    );
    // Messaging with Steward only, on the device's own topics.
    let topics: Vec<&str> = p
        .messaging
        .publish
        .iter()
        .chain(&p.messaging.subscribe)
        .map(|g| g.topic.as_str())
        .collect();
    assert!(
        topics.contains(&"steward/v1/devices/unknown/telemetry")
            && topics.contains(&"steward/v1/devices/unknown/commands/#")
            && topics.contains(&"steward/v1/devices/unknown/update"),
        "{topics:?}"
    );
    assert!(
        topics
            .iter()
            .all(|t| t.starts_with("steward/v1/devices/unknown/")),
        "{topics:?}"
    );
    assert!(!p.has(CapabilityKind::Lateral));
}

#[test]
fn mud_intersected_with_consent() {
    let lum = |strength: Option<Strength>| {
        vec![rule(
            "luminaires",
            Selector {
                maker: Some("luminaire.example.com".into()),
                strength_at_least: strength,
                ..Default::default()
            },
            &["mud"],
            &[],
        )]
    };
    let mut declared = site(lum(Some(Strength::Certificate)));
    declared.devices[1].strength = Strength::Declared;
    run(vec![
        Case {
            name: "consented MUD rule allows its name, with ACE provenance",
            inputs: site(lum(None)),
            device: "lum1",
            to: "fw-update.luminaire.example.com:443/tcp",
            verdict: Action::Allow,
            says: &[
                "acl mud-21966-v4fr / ace cl0-frdev",
                "consent rule `luminaires`",
            ],
        },
        Case {
            name: "identity strength below the selector: no MUD",
            inputs: declared,
            device: "lum1",
            to: "fw-update.luminaire.example.com:80/tcp",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "MUD local-networks rule withheld without lateral consent",
            inputs: site(lum(None)),
            device: "lum1",
            to: "10.0.0.22:5683/udp",
            verdict: Action::Deny,
            says: &[],
        },
    ]);
    let c = compile(&site(lum(None))).unwrap();
    let p = c.policy("lum1").unwrap();
    let w: Vec<&str> = p.withheld.iter().map(|w| w.reason.as_str()).collect();
    assert!(w.iter().any(|r| r.contains("lateral")), "{w:?}");
    assert!(w.iter().any(|r| r.contains("my_controllers")), "{w:?}");
}

#[test]
fn denies_win() {
    run(vec![
        Case {
            name: "capability deny removes a zone's grant",
            inputs: site(vec![rule(
                "no-net",
                maker("luminaire.example.com"),
                &[],
                &["internet"],
            )]),
            device: "lum1",
            to: "93.184.216.34:443/tcp",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "traffic deny beats a consented MUD rule",
            inputs: site(vec![
                rule("luminaires", maker("luminaire.example.com"), &["mud"], &[]),
                rule(
                    "block-fw",
                    Selector::default(),
                    &[],
                    &["fw-update.luminaire.example.com"],
                ),
            ]),
            device: "lum1",
            to: "fw-update.luminaire.example.com:443/tcp",
            verdict: Action::Deny,
            says: &["consent rule `block-fw`"],
        },
        Case {
            name: "port deny beats the restricted HTTPS baseline",
            inputs: site(vec![rule(
                "no-443",
                Selector::default(),
                &[],
                &["*:443/tcp"],
            )]),
            device: "unknown",
            to: "93.184.216.34:443/tcp",
            verdict: Action::Deny,
            says: &["consent rule `no-443`"],
        },
        Case {
            name: "a prefix deny leaves other destinations alone",
            inputs: site(vec![rule(
                "no-doc",
                Selector::default(),
                &[],
                &["203.0.113.0/24"],
            )]),
            device: "unknown",
            to: "93.184.216.34:443/tcp",
            verdict: Action::Allow,
            says: &[],
        },
    ]);
    let c = compile(&site(vec![rule(
        "grant-then-deny",
        Selector::default(),
        &["telemetry"],
        &["telemetry"],
    )]))
    .unwrap();
    let p = c.policy("unknown").unwrap();
    assert!(!p.has(CapabilityKind::Telemetry));
    assert!(
        !p.messaging
            .may_publish("steward/v1/devices/unknown/telemetry")
    );
    assert!(
        p.withheld
            .iter()
            .any(|w| w.reason.contains("consent rule `grant-then-deny`"))
    );
}

#[test]
fn lateral_same_manufacturer_only_when_consented() {
    let mud_only = vec![rule(
        "supers",
        maker("same-manufacturer-test.nist.local"),
        &["mud"],
        &[],
    )];
    let with_lateral = vec![rule(
        "supers",
        maker("same-manufacturer-test.nist.local"),
        &["mud", "lateral:same-manufacturer"],
        &[],
    )];
    run(vec![
        Case {
            name: "MUD same-manufacturer without lateral consent",
            inputs: site(mud_only),
            device: "sm1",
            to: "10.0.0.22",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "same-manufacturer peer with lateral consent",
            inputs: site(with_lateral.clone()),
            device: "sm1",
            to: "10.0.0.22",
            verdict: Action::Allow,
            says: &["same-manufacturer-test.nist.local", "consent rule `supers`"],
        },
        Case {
            name: "peer named by device id",
            inputs: site(with_lateral.clone()),
            device: "sm2",
            to: "sm1",
            verdict: Action::Allow,
            says: &[],
        },
        Case {
            name: "a device of another maker stays out",
            inputs: site(with_lateral.clone()),
            device: "sm1",
            to: "10.0.0.10",
            verdict: Action::Deny,
            says: &[],
        },
    ]);
    let c = compile(&site(with_lateral)).unwrap();
    let keys: Vec<&policy::Group> = c.groups.values().collect();
    assert_eq!(keys.len(), 1, "one shared group: {keys:#?}");
    assert_eq!(keys[0].members, vec!["sm1", "sm2"]);
}

#[test]
fn abstractions_are_bound() {
    let mut with_ctl = site(vec![
        rule("ctl", maker("controller-class-test.nist.local"), &[], &[]),
        rule(
            "lum",
            maker("luminaire.example.com"),
            &["mud", "lateral:any"],
            &[],
        ),
    ]);
    with_ctl.config.site.controllers.insert(
        "https://controller.nist.local".into(),
        vec!["10.0.0.5".parse::<Prefix>().unwrap()],
    );
    with_ctl.config.site.my_controllers.insert(
        LUMINAIRE.into(),
        vec!["10.0.0.6".parse::<Prefix>().unwrap()],
    );
    run(vec![
        Case {
            name: "controller class bound to configured address",
            inputs: with_ctl.clone(),
            device: "ctl1",
            to: "10.0.0.5:80/tcp",
            verdict: Action::Allow,
            says: &[
                "controllers of class https://controller.nist.local (10.0.0.5)",
                "zone `trusted`",
            ],
        },
        Case {
            name: "controller class unconfigured: nothing",
            inputs: site(vec![]),
            device: "ctl1",
            to: "10.0.0.5:80/tcp",
            verdict: Action::Deny,
            says: &[],
        },
        Case {
            name: "my-controller bound",
            inputs: with_ctl.clone(),
            device: "lum1",
            to: "10.0.0.6:5684/udp",
            verdict: Action::Allow,
            says: &["its controller (10.0.0.6)", "ace myctl0-frdev"],
        },
        Case {
            name: "local-networks bound to the site's prefixes under lateral:any",
            inputs: with_ctl.clone(),
            device: "lum1",
            to: "10.200.0.7:5683/udp",
            verdict: Action::Allow,
            says: &["the local networks (10.0.0.0/8)"],
        },
        Case {
            name: "DNS names stay names",
            inputs: site(vec![]),
            device: "dns1",
            to: "www.nist.local:80/tcp",
            verdict: Action::Allow,
            says: &["www.nist.local port 80", "ace cl0-frdev", "zone `trusted`"],
        },
        Case {
            name: "an address is not a name",
            inputs: site(vec![]),
            device: "dns1",
            to: "192.0.2.80:80/tcp",
            verdict: Action::Deny,
            says: &["ask with the name"],
        },
    ]);
    let c = compile(&site(vec![])).unwrap();
    assert!(c.policy("ctl1").unwrap().withheld.iter().any(|w| {
        w.reason
            .contains("no controller of class https://controller.nist.local")
    }));
}

#[test]
fn explain_without_port_lists_the_ports() {
    let c = compile(&site(vec![])).unwrap();
    let e = c
        .explain("unknown", &"example.com".parse().unwrap())
        .unwrap();
    assert_eq!(e.verdict, Action::Allow);
    assert!(e.text.contains("only as these rules say"), "{}", e.text);
    assert_eq!(e.rules.len(), 1);
}

#[test]
fn describe_in_words() {
    let c = compile(&site(vec![rule(
        "luminaires",
        maker("luminaire.example.com"),
        &["mud", "telemetry"],
        &[],
    )]))
    .unwrap();
    let lines = c.describe("lum1").unwrap();
    let all = lines.join("\n");
    assert!(all.contains("may open TCP connections to fw-update.luminaire.example.com port 443 over IPv4 (MUD https://luminaire.example.com/Luminaire_150 acl mud-21966-v4fr / ace cl0-frdev, consent rule `luminaires`)"), "{all}");
    assert!(
        all.contains("may publish to MQTT steward/v1/devices/lum1/telemetry"),
        "{all}"
    );
    assert!(all.contains("not granted: MUD rule"), "{all}");
    assert_eq!(lines.first().map(String::as_str), Some("zone `restricted`"));
}

#[test]
fn plan_after_consent_change() {
    let old = site(vec![]);
    let new = site(vec![rule(
        "luminaires",
        maker("luminaire.example.com"),
        &["mud", "ntp"],
        &[],
    )]);
    let p = plan(&old, &new).unwrap();
    assert_eq!(p.changes.len(), 1, "{}", p.to_text());
    let ch = &p.changes[0];
    assert_eq!(ch.device, "lum1");
    // ntp is the restricted baseline already: only mud is new.
    assert_eq!(ch.capabilities_gained, vec!["mud"]);
    assert!(
        ch.gained.iter().any(|g| g
            == "may open TCP connections to fw-update.luminaire.example.com port 443 over IPv4"),
        "{:#?}",
        ch.gained
    );
    assert!(ch.lost.is_empty());
    // and back: everything lost
    let back = plan(&new, &old).unwrap();
    assert_eq!(back.changes[0].lost.len(), ch.gained.len());
    assert!(plan(&old, &old).unwrap().is_empty());
    assert!(p.to_text().contains("+ capability mud"));
}

#[test]
fn plan_zone_move_to_quarantine() {
    let old = site(vec![rule(
        "all-telemetry",
        Selector::default(),
        &["telemetry"],
        &[],
    )]);
    let mut new = old.clone();
    new.devices[4].zone = Some("quarantine".into());
    let p = plan(&old, &new).unwrap();
    assert_eq!(p.changes.len(), 1);
    let ch = &p.changes[0];
    assert_eq!(
        (ch.zone_before.as_deref(), ch.zone_after.as_deref()),
        (Some("trusted"), Some("quarantine"))
    );
    assert!(
        ch.capabilities_lost.contains(&"telemetry".to_string()),
        "consent ignored in quarantine"
    );
    assert!(ch.lost.iter().any(|l| l.contains("www.nist.local")));
}

#[test]
fn messaging_acl_from_grants() {
    let c = compile(&site(vec![])).unwrap();
    let trusted = &c.policy("dns1").unwrap().messaging;
    let cases = [
        (
            "publish telemetry",
            trusted.may_publish("steward/v1/devices/dns1/telemetry"),
            true,
        ),
        (
            "publish cbor telemetry",
            trusted.may_publish("steward/v1/devices/dns1/telemetry/cbor"),
            true,
        ),
        (
            "publish another device's telemetry",
            trusted.may_publish("steward/v1/devices/sm1/telemetry"),
            false,
        ),
        (
            "subscribe commands",
            trusted.may_subscribe("steward/v1/devices/dns1/commands/#"),
            true,
        ),
        (
            "subscribe one command",
            trusted.may_subscribe("steward/v1/devices/dns1/commands/reboot"),
            true,
        ),
        ("subscribe everything", trusted.may_subscribe("#"), false),
        (
            "subscribe update",
            trusted.may_subscribe("steward/v1/devices/dns1/update"),
            true,
        ),
        (
            "publish update status",
            trusted.may_publish("steward/v1/devices/dns1/update/status"),
            true,
        ),
        (
            "CoAP POST telemetry",
            trusted.may_post("/steward/v1/devices/dns1/telemetry"),
            true,
        ),
        (
            "publish with wildcard",
            trusted.may_publish("steward/v1/devices/dns1/+"),
            false,
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
    let mut q = site(vec![rule(
        "all",
        Selector::default(),
        &["telemetry", "internet"],
        &[],
    )]);
    q.devices[0].zone = Some("quarantine".into());
    let c = compile(&q).unwrap();
    let p = c.policy("unknown").unwrap();
    assert!(
        !p.messaging
            .may_publish("steward/v1/devices/unknown/telemetry")
    );
    assert!(
        p.messaging
            .may_subscribe("steward/v1/devices/unknown/update")
    );
    assert_eq!(
        c.explain("unknown", &"93.184.216.34:443/tcp".parse().unwrap())
            .unwrap()
            .verdict,
        Action::Deny
    );
}

#[test]
fn grade_and_tag_selectors() {
    let r = rule(
        "graded",
        Selector {
            grade_at_least: Some(policy::Grade::B),
            tags: vec!["street".into()],
            ..Default::default()
        },
        &["internet"],
        &[],
    );
    let cases: [(&str, Option<policy::Grade>, &[&str], Action); 4] = [
        (
            "grade A, tagged",
            Some(policy::Grade::A),
            &["street"],
            Action::Allow,
        ),
        (
            "grade B, tagged",
            Some(policy::Grade::B),
            &["street", "x"],
            Action::Allow,
        ),
        (
            "grade C, tagged",
            Some(policy::Grade::C),
            &["street"],
            Action::Deny,
        ),
        ("no label", None, &["street"], Action::Deny),
    ];
    for (name, grade, tags, want) in cases {
        let mut s = site(vec![r.clone()]);
        s.devices[0].grade = grade;
        s.devices[0].tags = tags.iter().map(|t| t.to_string()).collect();
        let c: Compiled = compile(&s).unwrap();
        let e = c
            .explain("unknown", &"93.184.216.34:22/tcp".parse().unwrap())
            .unwrap();
        assert_eq!(e.verdict, want, "{name}: {}", e.text);
    }
}

#[test]
fn config_from_toml() {
    let text = r#"
        default_zone = "restricted"

        [zones.cameras]
        description = "CCTV"
        grant = ["dns", "ntp", "mud"]

        [zones.restricted]
        grant = ["dns", "internet:443/tcp@256kbit/s"]

        [[consent]]
        name = "cams"
        match = { maker = "cams.example", strength_at_least = "certificate", grade_at_least = "B", tags = ["outdoor"] }
        grant = ["telemetry", "lateral:same-manufacturer,zone=cameras", "internet@2mbit/s"]
        deny = ["commands", "[2001:db8::1]:23/tcp", "198.51.100.0/24"]

        [site]
        local_networks = ["10.0.0.0/8", "fd00::/8"]
        gateway = ["10.0.0.1"]
        controllers = { "https://controller.example" = ["10.0.0.5"] }
    "#;
    let cfg: PolicyConfig = toml::from_str(text).unwrap();
    cfg.validate().unwrap();
    assert_eq!(
        cfg.consent[0].grant[1].to_string(),
        "lateral:same-manufacturer,zone=cameras"
    );
    assert_eq!(
        cfg.zone("restricted").unwrap().grant[1].to_string(),
        "internet:443/tcp@256kbit/s"
    );
    assert!(cfg.zone("quarantine").is_some());
    // round trip through serde
    let again: PolicyConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(again, cfg);
    let json: PolicyConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(json, cfg);
}

#[test]
fn bad_config_says_what_is_wrong() {
    let cases = [
        (
            "unknown capability",
            r#"[[consent]]
name = "x"
grant = ["teleport"]"#,
            "capability 'teleport'",
        ),
        (
            "bad rate",
            r#"[[consent]]
name = "x"
grant = ["internet@fast"]"#,
            "rate 'fast'",
        ),
        (
            "bad selector",
            r#"[[consent]]
name = "x"
grant = ["lateral:colour=red"]"#,
            "unknown key 'colour'",
        ),
        (
            "bad deny",
            r#"[[consent]]
name = "x"
deny = ["evil host!"]"#,
            "deny 'evil host!'",
        ),
        (
            "bad prefix",
            r#"[site]
local_networks = ["10.0.0.0/33"]"#,
            "10.0.0.0/33",
        ),
        (
            "unknown field",
            r#"[[consent]]
name = "x"
grants = ["mud"]"#,
            "grants",
        ),
    ];
    for (name, text, want) in cases {
        let e = toml::from_str::<PolicyConfig>(text)
            .expect_err(name)
            .to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
    let dup = PolicyConfig {
        consent: vec![
            rule("a", Selector::default(), &[], &[]),
            rule("a", Selector::default(), &[], &[]),
        ],
        ..Default::default()
    };
    assert!(
        dup.validate()
            .unwrap_err()
            .to_string()
            .contains("used twice")
    );
    let z = PolicyConfig {
        consent: vec![rule(
            "a",
            Selector {
                zone: Some("nowhere".into()),
                ..Default::default()
            },
            &[],
            &[],
        )],
        ..Default::default()
    };
    assert!(z.validate().unwrap_err().to_string().contains("'nowhere'"));
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let mut s = site(vec![]);
    s.devices.push(dev("sm1", None, None, "10.0.0.99"));
    assert!(matches!(
        compile(&s),
        Err(policy::PolicyError::DuplicateDevice(_))
    ));

    let mut s = site(vec![]);
    s.devices[0].zone = Some("no-such-zone".into());
    let c = compile(&s).unwrap();
    assert_eq!(c.policy("unknown").unwrap().zone, "restricted");
    assert!(c.warnings[0].contains("no-such-zone"));

    assert!(c.explain("ghost", &"example.com".parse().unwrap()).is_err());
    for bad in [
        "",
        "a b",
        "example.com:99999",
        "[::1",
        "10.0.0.0/8",
        "*",
        "host:x/tcp",
        "é.example",
    ] {
        assert!(
            bad.parse::<policy::Destination>().is_err(),
            "{bad:?} should not parse"
        );
    }
    for good in [
        "example.com",
        "example.com.:443",
        "[2001:db8::1]:443/tcp",
        "2001:db8::1",
        "10.0.0.1:53/udp",
    ] {
        assert!(
            good.parse::<policy::Destination>().is_ok(),
            "{good:?} should parse"
        );
    }
    // A MUD URL that is not in the MUD map (not fetched, or failed its signature).
    let mut s = site(vec![rule("all", Selector::default(), &["mud"], &[])]);
    s.devices[0].mud_url = Some("https://evil.example/mud".into());
    let c = compile(&s).unwrap();
    assert!(
        c.policy("unknown")
            .unwrap()
            .withheld
            .iter()
            .any(|w| w.reason.contains("not available"))
    );
}
