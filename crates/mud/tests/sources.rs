//! MUD URLs from device certificates (RFC 8520 §11): id-pe-mudURL and id-pe-mudsigner,
//! written the way Steward's CA would write them, then read back.

use mud::source::{
    OID_MUD_SIGNER, OID_MUD_URL, mud_signer_from_cert, mud_url_extension_value, mud_url_from_cert,
};
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509Extension, X509NameBuilder};

fn device_cert(exts: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "thermo-0001")
        .unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    for (oid, der) in exts {
        let obj = Asn1Object::from_str(oid).unwrap();
        let val = Asn1OctetString::new_from_bytes(der).unwrap();
        b.append_extension(X509Extension::new_from_der(&obj, false, &val).unwrap())
            .unwrap();
    }
    b.sign(&key, MessageDigest::sha256()).unwrap();
    b.build().to_der().unwrap()
}

#[test]
fn mud_url_and_signer_from_a_device_certificate() {
    let url = "https://mud.maker.example/thermo-1.json";
    let mut signer = X509NameBuilder::new().unwrap();
    signer
        .append_entry_by_nid(Nid::ORGANIZATIONNAME, "Maker")
        .unwrap();
    signer
        .append_entry_by_nid(Nid::COMMONNAME, "mud.maker.example")
        .unwrap();
    let signer_der = signer.build().to_der().unwrap();
    let der = device_cert(&[
        (OID_MUD_URL, mud_url_extension_value(url).unwrap()),
        (OID_MUD_SIGNER, signer_der),
    ]);
    assert_eq!(mud_url_from_cert(&der).unwrap().as_deref(), Some(url));
    // Rendered as SignatureInfo::signer_subject renders names, so they compare.
    assert_eq!(
        mud_signer_from_cert(&der).unwrap().as_deref(),
        Some("O=Maker, CN=mud.maker.example")
    );
}

#[test]
fn certificates_without_or_with_bad_extensions() {
    let plain = device_cert(&[]);
    assert_eq!(mud_url_from_cert(&plain).unwrap(), None);
    assert_eq!(mud_signer_from_cert(&plain).unwrap(), None);
    // An http URL in the extension is refused.
    let mut http = vec![0x16, 17];
    http.extend_from_slice(b"http://x.example/");
    assert!(mud_url_from_cert(&device_cert(&[(OID_MUD_URL, http)])).is_err());
    // A UTF8String instead of an IA5String is refused.
    let mut utf8 = vec![0x0c, 18];
    utf8.extend_from_slice(b"https://x.example/");
    assert!(mud_url_from_cert(&device_cert(&[(OID_MUD_URL, utf8)])).is_err());
    assert!(mud_url_from_cert(b"garbage").is_err());
}
