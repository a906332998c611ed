//! Validation beyond the shape of the JSON: consistency of each ACE, references
//! between the two policies and the ACLs, and the MUD URL itself.
//!
//! The parser calls [`check_ace`] and [`check_references`] as it goes, so a
//! [`crate::Parsed`] file has already passed them; [`check_fetched_url`] needs
//! context the file does not carry (where it was fetched from).

use crate::compile::sides;
use crate::diag::{Diagnostic, JsonPath, Severity, Sink};
use crate::model::*;
use crate::parse::{ROOT_ACLS, ROOT_MUD};

/// Checks a MUD URL (RFC 8520 §3.3): an absolute https URL with a host and no
/// user information.
pub fn mud_url(u: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(u).map_err(|e| format!("mud-url '{u}' is not a valid URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "mud-url '{u}' uses the '{}' scheme; a MUD URL must use https (RFC 8520 §3.3), so that the file's origin is authenticated",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("mud-url '{u}' has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("mud-url '{u}' carries user information; remove it"));
    }
    Ok(url)
}

/// Checks an `inet:host` value: an IP address or a DNS name (RFC 1123 labels).
pub fn dns_name(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err("a DNS name has 1 to 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each label has 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "label '{label}' has characters other than letters, digits, '-' and '_'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label '{label}' starts or ends with '-'"));
        }
    }
    Ok(())
}

/// `00:11:22:33:44:55` (the `yang:mac-address` pattern).
pub(crate) fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Consistency of one ACE with itself and with its ACL's type.
pub(crate) fn check_ace(ace: &Ace, acl_type: Option<&AclType>, path: &JsonPath, sink: &mut Sink) {
    let mp = path.key("matches");
    if let Some(t) = acl_type {
        match &ace.matches.l3 {
            Some(L3Match::Ipv4(_)) if !t.allows_ipv4() => sink.error(
                &mp.key("ipv4"),
                format!(
                    "an ipv4 match in an ACL of type {} (RFC 8519 §4.1)",
                    t.identity()
                ),
            ),
            Some(L3Match::Ipv6(_)) if !t.allows_ipv6() => sink.error(
                &mp.key("ipv6"),
                format!(
                    "an ipv6 match in an ACL of type {} (RFC 8519 §4.1)",
                    t.identity()
                ),
            ),
            _ => {}
        }
        if ace.matches.eth.is_some() && !t.allows_eth() {
            sink.error(
                &mp.key("eth"),
                format!(
                    "an eth match in an ACL of type {} (RFC 8519 §4.1)",
                    t.identity()
                ),
            );
        }
    }
    let proto = ace.matches.l3.as_ref().and_then(|l| l.ip().protocol);
    let v6 = matches!(ace.matches.l3, Some(L3Match::Ipv6(_)));
    let (l4name, want): (&str, &[u8]) = match &ace.matches.l4 {
        Some(L4Match::Tcp(_)) => ("tcp", &[6]),
        Some(L4Match::Udp(_)) => ("udp", &[17]),
        Some(L4Match::Icmp(_)) if v6 => ("icmp", &[58]),
        Some(L4Match::Icmp(_)) => ("icmp", &[1]),
        None => ("", &[]),
    };
    if let Some(p) = proto
        && !want.is_empty()
        && !want.contains(&p)
    {
        sink.error(
            &mp,
            format!(
                "protocol {p} contradicts the {l4name} match (expected protocol {})",
                want[0]
            ),
        );
    }
    let mud = &ace.matches.mud;
    let n = [
        mud.manufacturer.is_some(),
        mud.same_manufacturer,
        mud.model.is_some(),
        mud.local_networks,
        mud.controller.is_some(),
        mud.my_controller,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if n > 1 {
        sink.error(
            &mp.key("ietf-mud:mud"),
            "more than one MUD abstraction in one ACE; write one ACE per abstraction (RFC 8520 §8)",
        );
    }
}

/// Cross-references: each policy's ACL exists, each ACE's peer side is well defined
/// for the direction it is used in, and every ACL is used.
pub(crate) fn check_references(
    file: &MudFile,
    acl_paths: &[(JsonPath, Vec<JsonPath>)],
    policy_paths: &[(Direction, JsonPath)],
    sink: &mut Sink,
) {
    let mut used = vec![false; file.acls.len()];
    let mut dirs = [
        (Direction::FromDevice, file.mud.from_device_policy.iter()),
        (Direction::ToDevice, file.mud.to_device_policy.iter()),
    ];
    let fallback = JsonPath::root().key(ROOT_MUD);
    for (dir, names) in dirs.iter_mut() {
        let mut ppaths = policy_paths
            .iter()
            .filter(|(d, _)| d == dir)
            .map(|(_, p)| p);
        for name in names {
            let ppath = ppaths.next().unwrap_or(&fallback);
            let Some(i) = file.acls.iter().position(|a| &a.name == name) else {
                sink.error(
                    ppath,
                    format!(
                        "{} names ACL '{name}', which is not defined in {ROOT_ACLS}",
                        dir.as_str()
                    ),
                );
                continue;
            };
            used[i] = true;
            let acl = &file.acls[i];
            for (j, ace) in acl.aces.iter().enumerate() {
                let apath = acl_paths
                    .get(i)
                    .and_then(|(_, aces)| aces.get(j))
                    .cloned()
                    .unwrap_or_else(|| JsonPath::root().key(ROOT_ACLS));
                let s = sides(ace, *dir);
                for d in &s.device_side {
                    sink.error(
                        &apath.key("matches"),
                        format!(
                            "ACE '{}' is used in the {} policy, where {d} describes the device itself, not its peer; MUD ACEs constrain the peer (RFC 8520 §2.1)",
                            ace.name,
                            dir.as_str()
                        ),
                    );
                }
                if s.peers.len() > 1 {
                    sink.error(
                        &apath.key("matches"),
                        format!(
                            "ACE '{}' names more than one peer ({}); write one ACE per peer",
                            ace.name,
                            s.peers
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
        }
    }
    for (i, acl) in file.acls.iter().enumerate() {
        if !used[i] {
            let p = acl_paths
                .get(i)
                .map(|(p, _)| p.clone())
                .unwrap_or_else(|| JsonPath::root().key(ROOT_ACLS));
            sink.warn(
                &p,
                format!(
                    "ACL '{}' is not used by from-device-policy or to-device-policy",
                    acl.name
                ),
            );
        }
    }
}

/// The mud-url inside the file must be the URL it was fetched from (RFC 8520
/// §3.3); otherwise one maker's file could be served as another's.
pub fn check_fetched_url(file: &MudFile, fetched_from: &str) -> Option<Diagnostic> {
    let path = JsonPath::root().key(ROOT_MUD).key("mud-url");
    let same = match (
        url::Url::parse(&file.mud.mud_url),
        url::Url::parse(fetched_from),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => file.mud.mud_url == fetched_from,
    };
    (!same).then(|| Diagnostic {
        severity: Severity::Error,
        path: path.as_str().to_owned(),
        message: format!(
            "mud-url '{}' differs from the URL the file was retrieved from, '{fetched_from}'",
            file.mud.mud_url
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(mud_url("https://example.com/a.json").is_ok());
        assert!(
            mud_url("http://example.com/a.json")
                .unwrap_err()
                .contains("https")
        );
        assert!(mud_url("https://u:p@example.com/").is_err());
        assert!(mud_url("not a url").is_err());
    }

    #[test]
    fn names() {
        assert!(dns_name("www.example.com").is_ok());
        assert!(dns_name("www.example.com.").is_ok());
        assert!(dns_name("192.0.2.1").is_ok());
        assert!(dns_name("bad..name").is_err());
        assert!(dns_name("-bad.example").is_err());
        assert!(dns_name("sp ace.example").is_err());
        assert!(is_mac("00:11:22:aa:BB:cc"));
        assert!(!is_mac("00:11:22:aa:BB"));
    }
}
