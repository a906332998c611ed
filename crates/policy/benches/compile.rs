//! `cargo bench -p policy`: compile the effective policies of 1,000 and 10,000
//! devices, each with a real-sized MUD file (the Cisco luminaire vector plus
//! generated files of ~40 rules and 8 DNS names per model), and print seconds
//! and rule counts, so growth with the number of devices shows.

use mud::model::{Direction, IpPrefix, PortMatch};
use mud::{Action, DevicePolicy, Peer, Protocol, Provenance, Rule};
use policy::{Capability, ConsentRule, Deny, Device, Inputs, PolicyConfig, Selector, Strength};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

const MODELS: usize = 50;

fn rule(url: &str, n: usize, dir: Direction, peer: Peer, proto: Protocol, port: u16) -> Rule {
    Rule {
        direction: dir,
        peer,
        ip_version: None,
        protocol: proto,
        peer_ports: Some(PortMatch::Eq { port }),
        device_ports: None,
        initiated_by: (proto == Protocol::Tcp).then_some(Direction::FromDevice),
        icmp_type: None,
        icmp_code: None,
        ethertype: None,
        action: Action::Accept,
        provenance: Provenance {
            mud_url: url.into(),
            acl: format!("acl-{}", dir.as_str()),
            ace: format!("ace{n}"),
        },
    }
}

/// A generated MUD policy of a realistic size: 8 cloud names (TCP 443 both
/// ways), NTP/DNS to fixed servers, same-manufacturer, my-controller, and a
/// couple of local-network and public-prefix rules: 40 rules.
fn model_policy(m: usize) -> DevicePolicy {
    let url = format!("https://maker{}.example/model{m}", m % 10);
    let mut rules = vec![];
    for i in 0..8 {
        let name = format!("svc{i}.cloud{m}.example.com");
        for dir in [Direction::FromDevice, Direction::ToDevice] {
            rules.push(rule(
                &url,
                rules.len(),
                dir,
                Peer::DnsName(name.clone()),
                Protocol::Tcp,
                443,
            ));
            rules.push(rule(
                &url,
                rules.len(),
                dir,
                Peer::DnsName(name.clone()),
                Protocol::Udp,
                443,
            ));
        }
    }
    for dir in [Direction::FromDevice, Direction::ToDevice] {
        rules.push(rule(
            &url,
            rules.len(),
            dir,
            Peer::SameManufacturer,
            Protocol::Tcp,
            8080,
        ));
        rules.push(rule(
            &url,
            rules.len(),
            dir,
            Peer::MyController,
            Protocol::Udp,
            5684,
        ));
        rules.push(rule(
            &url,
            rules.len(),
            dir,
            Peer::LocalNetworks,
            Protocol::Udp,
            5683,
        ));
        let p = IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)),
            len: 24,
        };
        rules.push(rule(
            &url,
            rules.len(),
            dir,
            Peer::Prefix(p),
            Protocol::Tcp,
            8883,
        ));
    }
    DevicePolicy {
        mud_url: url,
        mfg_name: None,
        model_name: Some(format!("model{m}")),
        is_supported: true,
        cache_validity_hours: 48,
        rules,
        default_action: Action::Deny,
    }
}

fn inputs(n: usize) -> Inputs {
    let mut mud = BTreeMap::new();
    let lum_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/mud/cisco-luminaire/Luminaire_150.json");
    let mut urls = vec![];
    if let Ok(bytes) = std::fs::read(&lum_path)
        && let Ok(parsed) = mud::parse(&bytes, &mud::ParseOptions::default())
        && let Ok(p) = mud::compile(&parsed.file)
    {
        urls.push(p.mud_url.clone());
        mud.insert(p.mud_url.clone(), p);
    }
    for m in 0..MODELS {
        let p = model_policy(m);
        urls.push(p.mud_url.clone());
        mud.insert(p.mud_url.clone(), p);
    }
    let mut config = PolicyConfig::default();
    config.site.gateway = vec!["10.0.0.1".parse().expect("literal")];
    for u in &urls {
        config
            .site
            .my_controllers
            .insert(u.clone(), vec!["10.0.0.2".parse().expect("literal")]);
    }
    let cap = |s: &str| s.parse::<Capability>().expect("literal");
    config.consent = vec![
        ConsentRule {
            name: "verified".into(),
            description: None,
            selector: Selector {
                strength_at_least: Some(Strength::Certificate),
                ..Default::default()
            },
            grant: vec![
                cap("mud"),
                cap("telemetry"),
                cap("commands"),
                cap("updates"),
            ],
            deny: vec![],
        },
        ConsentRule {
            name: "fleet".into(),
            description: None,
            selector: Selector {
                tags: vec!["fleet".into()],
                ..Default::default()
            },
            grant: vec![cap("lateral:same-manufacturer")],
            deny: vec!["198.51.100.0/24:8883/tcp".parse::<Deny>().expect("literal")],
        },
    ];
    let devices = (0..n)
        .map(|i| Device {
            id: format!("dev{i:05}"),
            zone: Some(if i % 10 == 0 { "restricted" } else { "trusted" }.into()),
            mud_url: Some(urls[i % urls.len()].clone()),
            strength: if i % 4 == 0 {
                Strength::Declared
            } else {
                Strength::Certificate
            },
            tags: if i % 2 == 0 {
                vec!["fleet".into()]
            } else {
                vec![]
            },
            addresses: vec![IpAddr::V4(Ipv4Addr::new(
                10,
                (1 + i / 65536) as u8,
                ((i / 256) % 256) as u8,
                (i % 256) as u8,
            ))],
            ..Default::default()
        })
        .collect();
    Inputs {
        config,
        devices,
        mud,
    }
}

fn main() {
    println!(
        "policy compile benchmark ({} MUD models + luminaire)",
        MODELS
    );
    println!(
        "{:>8} {:>10} {:>10} {:>8} {:>10} {:>12} {:>12}",
        "devices", "compile s", "rules", "groups", "withheld", "explain/s", "plan s"
    );
    for n in [1_000usize, 10_000] {
        let inp = inputs(n);
        let t = Instant::now();
        let c = match policy::compile(&inp) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("compile failed: {e}");
                std::process::exit(1);
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let withheld: usize = c.policies.values().map(|p| p.withheld.len()).sum();
        let dest: policy::Destination = "svc3.cloud7.example.com:443/tcp".parse().expect("literal");
        let t = Instant::now();
        let q = 1000.min(n);
        for i in 0..q {
            let _ = c.explain(&format!("dev{i:05}"), &dest);
        }
        let eps = q as f64 / t.elapsed().as_secs_f64();
        let mut changed = inp.clone();
        changed.config.consent.pop();
        let t = Instant::now();
        let p = policy::plan(&inp, &changed);
        let plan_s = t.elapsed().as_secs_f64();
        println!(
            "{n:>8} {secs:>10.3} {:>10} {:>8} {withheld:>10} {eps:>12.0} {plan_s:>12.3}   ({} devices change in the plan)",
            c.rule_count(),
            c.groups.len(),
            p.map(|p| p.changes.len()).unwrap_or(0)
        );
    }
}
