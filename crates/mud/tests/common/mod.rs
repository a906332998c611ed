//! Test PKI: a maker CA and signer certificates, made with the openssl crate.
#![allow(dead_code)]

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

pub struct Pki {
    pub cert: X509,
    pub key: PKey<Private>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn build(
    subject_o: &str,
    cn: Option<&str>,
    issuer: Option<&Pki>,
    is_ca: bool,
    not_before: i64,
    not_after: i64,
) -> Pki {
    let key = key();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, subject_o)
        .unwrap();
    if let Some(cn) = cn {
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    }
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(rand_serial()).unwrap()).unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|i| i.cert.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
    } else {
        b.append_extension(KeyUsage::new().digital_signature().build().unwrap())
            .unwrap();
    }
    let signing_key = issuer.map(|i| &i.key).unwrap_or(&key);
    b.sign(signing_key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    Pki {
        cert_pem: cert.to_pem().unwrap(),
        key_pem: key.private_key_to_pem_pkcs8().unwrap(),
        cert,
        key,
    }
}

fn rand_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    N.fetch_add(1, Ordering::Relaxed) + std::process::id()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const DAY: i64 = 86_400;

/// A maker CA valid from yesterday for ten years.
pub fn ca(org: &str) -> Pki {
    build(org, None, None, true, now() - DAY, now() + 3650 * DAY)
}

/// A maker CA valid over [not_before, not_after] (unix seconds).
pub fn ca_between(org: &str, not_before: i64, not_after: i64) -> Pki {
    build(org, None, None, true, not_before, not_after)
}

/// A signing certificate issued by `ca`, valid from yesterday for a year.
pub fn signer(ca: &Pki, cn: &str) -> Pki {
    let org = ca
        .cert
        .subject_name()
        .entries()
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap();
    build(
        &org,
        Some(cn),
        Some(ca),
        false,
        now() - DAY,
        now() + 365 * DAY,
    )
}

/// A signing certificate valid over [not_before, not_after] (unix seconds).
pub fn signer_between(ca: &Pki, cn: &str, not_before: i64, not_after: i64) -> Pki {
    build("Maker", Some(cn), Some(ca), false, not_before, not_after)
}
