//! Unit tests of the ruleset and the enforcer, on the recorder backend. The lab
//! tests (crates/steward/tests/enforce.rs) run the same ruleset in the kernel.

use super::nft::{self, Recorder};
use super::*;
use crate::clock::ManualClock;
use serde_json::Value;

fn inputs(toml_policy: &str) -> policy::Inputs {
    let config: policy::PolicyConfig = toml::from_str(toml_policy).expect("policy toml");
    let dev = |id: &str, ip: &str, zone: Option<&str>, mud: Option<&str>| policy::Device {
        id: id.into(),
        zone: zone.map(str::to_string),
        mud_url: mud.map(str::to_string),
        addresses: vec![ip.parse().unwrap()],
        ..Default::default()
    };
    let mud_json = br#"{"ietf-mud:mud":{"mud-version":1,"mud-url":"https://mud.example.test/cam.json",
      "last-update":"2024-01-01T00:00:00Z","cache-validity":48,"is-supported":true,
      "systeminfo":"cam","from-device-policy":{"access-lists":{"access-list":[{"name":"fr"}]}},
      "to-device-policy":{"access-lists":{"access-list":[{"name":"to"}]}}},
      "ietf-access-control-list:acls":{"acl":[
       {"name":"fr","type":"ipv4-acl-type","aces":{"ace":[{"name":"cloud","matches":{
         "ipv4":{"ietf-acldns:dst-dnsname":"api.example.test","protocol":6},
         "tcp":{"destination-port":{"operator":"eq","port":443}}},"actions":{"forwarding":"accept"}}]}},
       {"name":"to","type":"ipv4-acl-type","aces":{"ace":[{"name":"cloud-back","matches":{
         "ipv4":{"ietf-acldns:src-dnsname":"api.example.test","protocol":6},
         "tcp":{"source-port":{"operator":"eq","port":443}}},"actions":{"forwarding":"accept"}}]}}]}}"#;
    let parsed = mud::parse(mud_json, &mud::ParseOptions::default()).expect("mud parses");
    let dp = mud::compile(&parsed.file).expect("mud compiles");
    policy::Inputs {
        config,
        devices: vec![
            dev(
                "cam1",
                "10.77.0.11",
                Some("trusted"),
                Some("https://mud.example.test/cam.json"),
            ),
            dev("unknown", "10.77.0.12", None, None),
        ],
        mud: [("https://mud.example.test/cam.json".to_string(), dp)].into(),
    }
}

fn addressing(i: &policy::Inputs) -> Addressing {
    Addressing {
        ips: i
            .devices
            .iter()
            .map(|d| (d.id.clone(), d.addresses.clone()))
            .collect(),
        macs: [("unknown".to_string(), vec!["02:77:00:00:00:02".to_string()])].into(),
    }
}

fn enforcer() -> (Enforcer, Arc<Recorder>, Arc<ManualClock>) {
    struct Shared(Arc<Recorder>);
    impl Backend for Shared {
        fn apply(&self, doc: &Value) -> Result<(), EnforceError> {
            self.0.apply(doc)
        }
        fn list(&self) -> Result<Value, EnforceError> {
            self.0.list()
        }
    }
    let rec = Arc::new(Recorder::default());
    let clock = ManualClock::new(1_000_000.0);
    let cfg = EnforceConfig {
        mode: Mode::Nftables,
        ..Default::default()
    };
    let e = Enforcer::with_backend(
        cfg,
        vec!["br-lan".into()],
        Some(Box::new(Shared(rec.clone()))),
        clock.clone(),
    );
    (e, rec, clock)
}

fn docs(rec: &Recorder) -> Vec<Value> {
    rec.docs.lock().unwrap().clone()
}

/// The commands of a document that add an object of `kind`.
fn added<'a>(doc: &'a Value, kind: &str) -> Vec<&'a Value> {
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.get("add").and_then(|a| a.get(kind)))
        .collect()
}

/// The `vmap` statements of a chain.
fn vmaps(doc: &Value, chain: &str) -> Vec<Value> {
    added(doc, "rule")
        .into_iter()
        .filter(|r| r["chain"] == chain)
        .filter_map(|r| r["expr"][0].get("vmap").cloned())
        .collect()
}

#[test]
fn schema_round_trip_is_lossless() {
    // What we hand the nftables crate is what nft receives: nothing is dropped
    // by its typed schema on the way.
    let i = inputs("");
    let c = policy::compile(&i).unwrap();
    let a = addressing(&i);
    let (doc, _) = nft::build(&nft::BuildInput {
        compiled: &c,
        config: &EnforceConfig::default(),
        lan: &["br-lan".to_string()],
        macs: &a.macs,
        addresses: &a.ips,
        learned: &nft::Learned::default(),
        now: 0,
        generation: 7,
    });
    let typed: nftables::schema::Nftables = serde_json::from_value(doc.clone()).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    let norm = |v: &Value| serde_json::from_str::<Value>(&v.to_string()).unwrap();
    // Compare command by command for a readable failure.
    let (a, b) = (norm(&doc), norm(&back));
    for (x, y) in a["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["nftables"].as_array().unwrap())
    {
        assert_eq!(strip_nulls(x), strip_nulls(y));
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| {
                    !v.is_null()
                        || *k == "counter"
                        || *k == "accept"
                        || *k == "drop"
                        || *k == "return"
                })
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        x => x.clone(),
    }
}

#[test]
fn start_installs_the_base_table_first() {
    let (e, rec, _) = enforcer();
    e.start(&policy::Site::default()).unwrap();
    let d = docs(&rec);
    assert_eq!(d.len(), 1);
    // No device chain, no device in the maps: everything from the LAN ends in the
    // unclassified drop, except DHCP and DNS to Steward.
    let chains: Vec<&str> = added(&d[0], "chain")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(chains, ["from_lan", "to_lan", "forward", "input"]);
    assert!(
        !d[0].to_string().contains("vmap"),
        "no device, no verdict map"
    );
    let text = d[0].to_string();
    assert!(text.contains("DHCP to Steward"));
    assert!(text.contains("DNS to Steward"));
}

#[test]
fn devices_get_their_own_chains_and_map_entries() {
    let (e, rec, _) = enforcer();
    let i = inputs("");
    let c = Arc::new(policy::compile(&i).unwrap());
    let applied = e.apply(c.clone(), addressing(&i)).unwrap();
    assert_eq!(applied.devices, 2);
    let d = docs(&rec);
    let doc = &d[0];
    // One transaction that replaces the table.
    let cmds = doc["nftables"].as_array().unwrap();
    assert!(cmds[0]["add"]["table"].is_object());
    assert!(cmds[1]["delete"]["table"].is_object());
    let from_lan = vmaps(doc, "from_lan");
    assert_eq!(from_lan.len(), 2, "IPv4 and MAC (no IPv6 address known)");
    let elems = from_lan[0]["data"]["set"].as_array().unwrap();
    assert_eq!(elems.len(), 2);
    assert_eq!(elems[0][0], "10.77.0.11");
    assert_eq!(elems[0][1]["goto"]["target"], "d0_out");
    assert_eq!(from_lan[1]["key"]["payload"]["protocol"], "ether");
    assert_eq!(from_lan[1]["data"]["set"][0][0], "02:77:00:00:00:02");
    let to_lan = vmaps(doc, "to_lan");
    assert_eq!(to_lan[0]["data"]["set"][1][1]["goto"]["target"], "d1_in");
    // The camera's MUD name rule became a set of the name, keyed by
    // (device address . peer address), initially empty.
    let sets = added(doc, "set");
    let name_set = sets.iter().find(|s| s["name"] == "n0_4").unwrap();
    assert!(name_set.get("elem").is_none());
    assert_eq!(name_set["flags"], serde_json::json!(["timeout"]));
    assert_eq!(
        name_set["type"],
        serde_json::json!(["ipv4_addr", "ipv4_addr"])
    );
    let rules = added(doc, "rule");
    let by_name = rules
        .iter()
        .find(|r| r["chain"] == "d0_out" && r.to_string().contains("@n0_4"))
        .unwrap();
    assert!(by_name.to_string().contains("\"concat\""), "{by_name}");
    // The unknown (restricted) device may use HTTPS to the Internet, rate limited.
    let rules = added(doc, "rule");
    let d1_out: Vec<&&Value> = rules.iter().filter(|r| r["chain"] == "d1_out").collect();
    assert!(d1_out.iter().any(|r| r.to_string().contains("\"limit\"")));
    assert!(d1_out.last().unwrap()["expr"].to_string().contains("drop"));
}

#[test]
fn dns_answers_fill_only_allowed_names_of_the_asking_device() {
    let (e, rec, clock) = enforcer();
    let i = inputs("");
    e.apply(Arc::new(policy::compile(&i).unwrap()), addressing(&i))
        .unwrap();
    let api: IpAddr = "203.0.113.10".parse().unwrap();
    let cam: IpAddr = "10.77.0.11".parse().unwrap();
    let other: IpAddr = "10.77.0.12".parse().unwrap();
    let stranger: IpAddr = "10.77.0.99".parse().unwrap();
    let ttl = Duration::from_secs(30);
    assert_eq!(
        e.allow_resolved(cam, "API.example.test.", &[api], ttl)
            .unwrap(),
        1
    );
    assert_eq!(
        e.allow_resolved(cam, "evil.example.test", &[api], ttl)
            .unwrap(),
        0
    );
    assert_eq!(
        e.allow_resolved(other, "api.example.test", &[api], ttl)
            .unwrap(),
        0
    );
    assert_eq!(
        e.allow_resolved(stranger, "api.example.test", &[api], ttl)
            .unwrap(),
        0
    );
    let d = docs(&rec);
    assert_eq!(d.len(), 2, "one apply, one element add");
    let add = d[1].to_string();
    // TTL 30 s + 30 s grace.
    // The pair (the asking device . the answer), TTL 30 s + 30 s grace.
    assert!(add.contains("n0_4") && add.contains("60"), "{add}");
    assert!(
        add.contains(r#"{"concat":["10.77.0.11","203.0.113.10"]}"#),
        "{add}"
    );

    // Hundreds of addresses: at most the configured number per name are held.
    let many: Vec<IpAddr> = (0..300u32)
        .map(|n| IpAddr::from(std::net::Ipv4Addr::from(0xC633_6400 + n)))
        .collect();
    assert_eq!(
        e.allow_resolved(cam, "api.example.test", &many, ttl)
            .unwrap(),
        255,
        "256 per name, one held already"
    );

    // A re-apply keeps learned addresses that have not expired, with what is left.
    clock.set(1_000_010.0);
    e.apply(Arc::new(policy::compile(&i).unwrap()), addressing(&i))
        .unwrap();
    let last = docs(&rec).pop().unwrap();
    let elems = name_elements(&last, "n0_4");
    let first = &elems[0]["elem"];
    assert_eq!(first["timeout"], 50);
    assert_eq!(first["val"]["concat"][0], "10.77.0.11");
    // After expiry they are gone.
    clock.set(1_000_200.0);
    e.apply(Arc::new(policy::compile(&i).unwrap()), addressing(&i))
        .unwrap();
    let last = docs(&rec).pop().unwrap();
    assert!(name_elements(&last, "n0_4").is_empty());
}

/// The elements a document adds to set `name` (in `add element` commands).
fn name_elements(doc: &Value, name: &str) -> Vec<Value> {
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["add"]["element"]["name"] == name)
        .flat_map(|c| c["add"]["element"]["elem"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn two_devices_claiming_one_address_are_both_left_out() {
    let (e, rec, _) = enforcer();
    let i = inputs("");
    let mut a = addressing(&i);
    a.ips
        .insert("unknown".into(), vec!["10.77.0.11".parse().unwrap()]);
    e.apply(Arc::new(policy::compile(&i).unwrap()), a).unwrap();
    let d = docs(&rec);
    let from_lan = vmaps(&d[0], "from_lan");
    // Only the MAC entry is left.
    assert_eq!(from_lan.len(), 1);
    assert_eq!(from_lan[0]["key"]["payload"]["protocol"], "ether");
}

#[test]
fn off_mode_applies_nothing_but_keeps_the_policy() {
    let e = Enforcer::new(EnforceConfig::default(), vec![], ManualClock::new(0.0));
    assert!(!e.enabled());
    let i = inputs("");
    let c = Arc::new(policy::compile(&i).unwrap());
    e.start(&policy::Site::default()).unwrap();
    let applied = e.apply(c.clone(), addressing(&i)).unwrap();
    // The policy is kept (explain, messaging) ...
    assert_eq!(e.compiled().unwrap().policies.len(), 2);
    assert_eq!(applied.devices, 2);
    assert_eq!(applied.rules, c.rule_count());
    // ... but no table is built, and DNS answers open nothing.
    assert_eq!((applied.bytes, applied.elements), (0, 0));
    let cam: IpAddr = "10.77.0.11".parse().unwrap();
    let api: IpAddr = "203.0.113.10".parse().unwrap();
    assert_eq!(
        e.allow_resolved(cam, "api.example.test", &[api], Duration::from_secs(30))
            .unwrap(),
        0
    );
}

#[test]
fn odd_names_in_comments_are_reduced_to_ascii() {
    let (e, rec, _) = enforcer();
    let mut i = inputs("");
    // A MUD ACE name with quotes, newlines and non-ASCII ends up in a comment
    // only as printable ASCII.
    let dp = i.mud.values_mut().next().unwrap();
    dp.rules[0].provenance.ace = "x\"; flush ruleset;\n\u{202e}évil".into();
    e.apply(Arc::new(policy::compile(&i).unwrap()), addressing(&i))
        .unwrap();
    let d = docs(&rec);
    for r in added(&d[0], "rule") {
        if let Some(c) = r.get("comment") {
            let c = c.as_str().unwrap();
            assert!(
                c.chars().all(|ch| ch.is_ascii_graphic() || ch == ' '),
                "{c:?}"
            );
            assert!(!c.contains('"'));
        }
    }
}
