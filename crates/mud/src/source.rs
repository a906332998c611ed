//! Where a device's MUD URL comes from (RFC 8520 §9–§11):
//!
//! - the X.509 extension id-pe-mudURL (1.3.6.1.5.5.7.1.25, an IA5String) in the
//!   device's certificate, and id-pe-mudsigner (1.3.6.1.5.5.7.1.30, a Name) naming
//!   who must have signed the MUD file (RFC 8520 §11);
//! - DHCPv4 option 161 and DHCPv6 option 112, whose payload is the URL (§10).
//!
//! Steward's CA can put a model's MUD URL into the certificates it issues:
//! [`mud_url_extension_value`] gives the DER extension value to embed (for example
//! as an rcgen custom extension with OID [`OID_MUD_URL`]).
//! The DHCP server itself lives in the gateway; these functions only read payloads.

use crate::validate::mud_url;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// id-pe-mudURL (RFC 8520 §11).
pub const OID_MUD_URL: &str = "1.3.6.1.5.5.7.1.25";
/// id-pe-mudsigner (RFC 8520 §11).
pub const OID_MUD_SIGNER: &str = "1.3.6.1.5.5.7.1.30";
/// The same OIDs as integer arcs, for certificate builders.
pub const OID_MUD_URL_ARCS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 25];
pub const OID_MUD_SIGNER_ARCS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 30];
/// DHCPv4 option code for the MUD URL (RFC 8520 §10).
pub const DHCPV4_OPTION_MUD_URL: u8 = 161;
/// DHCPv6 option code for the MUD URL (RFC 8520 §10).
pub const DHCPV6_OPTION_MUD_URL: u16 = 112;

/// Why a MUD URL could not be read from a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("certificate is not DER X.509: {0}")]
    Certificate(String),
    #[error("{what} is not DER-encoded as expected: {detail}")]
    Der { what: &'static str, detail: String },
    #[error("MUD URL from {source_name}: {message}")]
    Url {
        source_name: &'static str,
        message: String,
    },
    #[error("DHCP options are truncated at byte {0}")]
    Truncated(usize),
}

fn extension<'a>(cert: &'a X509Certificate<'_>, oid: &str) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .map(|e| e.value)
}

/// The MUD URL in a DER device certificate, if it has the id-pe-mudURL extension.
pub fn mud_url_from_cert(der: &[u8]) -> Result<Option<String>, SourceError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| SourceError::Certificate(e.to_string()))?;
    let Some(v) = extension(&cert, OID_MUD_URL) else {
        return Ok(None);
    };
    let s = der_ia5(v).map_err(|detail| SourceError::Der {
        what: "id-pe-mudURL",
        detail,
    })?;
    check_url(&s, "certificate")?;
    Ok(Some(s))
}

/// The signer name in a DER device certificate's id-pe-mudsigner extension,
/// rendered as `O=..., CN=...` (compare with [`crate::SignatureInfo::signer_subject`]).
pub fn mud_signer_from_cert(der: &[u8]) -> Result<Option<String>, SourceError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| SourceError::Certificate(e.to_string()))?;
    let Some(v) = extension(&cert, OID_MUD_SIGNER) else {
        return Ok(None);
    };
    let (_, name) = X509Name::from_der(v).map_err(|e| SourceError::Der {
        what: "id-pe-mudsigner",
        detail: e.to_string(),
    })?;
    let parts: Vec<String> = name
        .iter_attributes()
        .map(|a| {
            let key = match a.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "ST".to_owned(),
                other => other.to_owned(),
            };
            format!("{key}={}", a.as_str().unwrap_or("?"))
        })
        .collect();
    Ok(Some(parts.join(", ")))
}

/// The DER value of an id-pe-mudURL extension carrying `url` (an IA5String).
pub fn mud_url_extension_value(url: &str) -> Result<Vec<u8>, SourceError> {
    check_url(url, "certificate")?;
    let b = url.as_bytes();
    let mut out = vec![0x16];
    match b.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend([0x81, n as u8]),
        n if n <= 0xffff => out.extend([0x82, (n >> 8) as u8, n as u8]),
        _ => {
            return Err(SourceError::Url {
                source_name: "certificate",
                message: "URL is too long".into(),
            });
        }
    }
    out.extend_from_slice(b);
    Ok(out)
}

fn der_ia5(v: &[u8]) -> Result<String, String> {
    let (&tag, rest) = v.split_first().ok_or("empty value")?;
    if tag != 0x16 {
        return Err(format!(
            "expected an IA5String (tag 0x16), found tag {tag:#04x}"
        ));
    }
    let (&l0, rest) = rest.split_first().ok_or("missing length")?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 2 || rest.len() < n {
            return Err("bad length".into());
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() != len {
        return Err(format!("length says {len} bytes, {} present", rest.len()));
    }
    if !rest.is_ascii() {
        return Err("IA5String holds non-ASCII bytes".into());
    }
    Ok(String::from_utf8_lossy(rest).into_owned())
}

fn check_url(s: &str, source_name: &'static str) -> Result<(), SourceError> {
    mud_url(s).map(|_| ()).map_err(|message| SourceError::Url {
        source_name,
        message,
    })
}

/// The MUD URL in the payload of DHCPv4 option 161 or DHCPv6 option 112 (the
/// bytes after code and length).
pub fn mud_url_from_dhcp_payload(payload: &[u8]) -> Result<String, SourceError> {
    let s = std::str::from_utf8(payload)
        .ok()
        .filter(|s| s.is_ascii() && !s.is_empty())
        .ok_or(SourceError::Url {
            source_name: "DHCP",
            message: "option payload is not a non-empty ASCII string".into(),
        })?;
    check_url(s, "DHCP")?;
    Ok(s.to_owned())
}

/// Finds option 161 in DHCPv4 options (the bytes after the magic cookie).
/// Repeated instances are concatenated (RFC 3396).
pub fn dhcpv4_mud_url(options: &[u8]) -> Result<Option<String>, SourceError> {
    let mut i = 0;
    let mut found: Option<Vec<u8>> = None;
    while i < options.len() {
        let code = options[i];
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let len = *options.get(i + 1).ok_or(SourceError::Truncated(i))? as usize;
        let data = options
            .get(i + 2..i + 2 + len)
            .ok_or(SourceError::Truncated(i))?;
        if code == DHCPV4_OPTION_MUD_URL {
            found.get_or_insert_with(Vec::new).extend_from_slice(data);
        }
        i += 2 + len;
    }
    found.map(|p| mud_url_from_dhcp_payload(&p)).transpose()
}

/// Finds option 112 in DHCPv6 options (code and length are 16-bit, RFC 8415 §21.1).
pub fn dhcpv6_mud_url(options: &[u8]) -> Result<Option<String>, SourceError> {
    let mut i = 0;
    while i < options.len() {
        let hdr = options.get(i..i + 4).ok_or(SourceError::Truncated(i))?;
        let code = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
        let data = options
            .get(i + 4..i + 4 + len)
            .ok_or(SourceError::Truncated(i))?;
        if code == DHCPV6_OPTION_MUD_URL {
            return mud_url_from_dhcp_payload(data).map(Some);
        }
        i += 4 + len;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mud.maker.example/dev.json";

    #[test]
    fn dhcpv4() {
        let mut opts = vec![53, 1, 1, 0];
        opts.push(161);
        opts.push(URL.len() as u8);
        opts.extend_from_slice(URL.as_bytes());
        opts.push(255);
        assert_eq!(dhcpv4_mud_url(&opts).unwrap().as_deref(), Some(URL));
        assert_eq!(dhcpv4_mud_url(&[53, 1, 1, 255]).unwrap(), None);
        assert!(matches!(
            dhcpv4_mud_url(&[161, 40, b'h']),
            Err(SourceError::Truncated(0))
        ));
        let http = b"http://x.example/";
        let mut bad = vec![161, http.len() as u8];
        bad.extend_from_slice(http);
        assert!(matches!(dhcpv4_mud_url(&bad), Err(SourceError::Url { .. })));
    }

    #[test]
    fn dhcpv4_split_option() {
        let (a, b) = URL.split_at(10);
        let mut opts = vec![161, a.len() as u8];
        opts.extend_from_slice(a.as_bytes());
        opts.extend([161, b.len() as u8]);
        opts.extend_from_slice(b.as_bytes());
        assert_eq!(dhcpv4_mud_url(&opts).unwrap().as_deref(), Some(URL));
    }

    #[test]
    fn dhcpv6() {
        let mut opts = vec![0, 1, 0, 2, 9, 9];
        opts.extend(112u16.to_be_bytes());
        opts.extend((URL.len() as u16).to_be_bytes());
        opts.extend_from_slice(URL.as_bytes());
        assert_eq!(dhcpv6_mud_url(&opts).unwrap().as_deref(), Some(URL));
        assert!(dhcpv6_mud_url(&[0, 112, 0, 50, 1]).is_err());
    }

    #[test]
    fn ia5_round_trip() {
        let v = mud_url_extension_value(URL).unwrap();
        assert_eq!(der_ia5(&v).unwrap(), URL);
        let long = format!("https://m.example/{}", "a".repeat(300));
        let v = mud_url_extension_value(&long).unwrap();
        assert_eq!(der_ia5(&v).unwrap(), long);
        assert!(der_ia5(&[0x0c, 1, b'a']).is_err());
        assert!(der_ia5(&[0x16, 5, b'a']).is_err());
    }
}
