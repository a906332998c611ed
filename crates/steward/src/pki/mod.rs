//! Steward's private certificate authority: made on first run (ECDSA P-256), it
//! issues the gateway's server certificate and every device's client certificate,
//! and builds the rustls configuration that trusts exactly those (plus configured
//! maker CAs).
//!
//! Files in the data directory: `ca.crt`, `ca.key` (0600), `server.crt`,
//! `server.key` (0600). Private keys are written with mode 0600 from the start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// A certificate issued to a device.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: Option<String>,
    /// SHA-256 of the certificate's DER, hex: the device's identity in the registry.
    pub fingerprint: String,
}

pub struct Pki {
    ca_cert_pem: String,
    ca_cert_der: CertificateDer<'static>,
    ca_key: KeyPair,
    server_cert_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a file atomically with the given mode; `false` if it existed already
/// (another process won the race, and its file is kept).
pub fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<bool, PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(contents).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    // hard_link fails if the target exists: no process ever overwrites another's key.
    let won = match std::fs::hard_link(&tmp, path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(path)(e));
        }
    };
    std::fs::remove_file(&tmp).map_err(io(&tmp))?;
    Ok(won)
}

/// Wait a little for a file another process is writing.
fn read_when_ready(path: &Path) -> Result<String, PkiError> {
    for _ in 0..50 {
        match std::fs::read_to_string(path) {
            Ok(s) if !s.is_empty() => return Ok(s),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(path)(e)),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(path).map_err(io(path))
}

pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn first_pem_cert(pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Invalid {
        what: what.into(),
        reason: format!("no PEM certificate ({e})"),
    })
}

impl Pki {
    /// Load the CA and server certificate from `dir`, creating what is missing.
    pub fn load_or_create(dir: &Path, hostnames: &[String]) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let key_path = dir.join("ca.key");
        let crt_path = dir.join("ca.crt");
        if !key_path.exists() {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            if write_new_file(&key_path, key.serialize_pem().as_bytes(), 0o600)? {
                let mut params = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                dn.push(DnType::CommonName, "Steward device CA");
                dn.push(DnType::OrganizationName, "Steward");
                params.distinguished_name = dn;
                params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut params, 20 * 365);
                let cert = params.self_signed(&key)?;
                write_new_file(&crt_path, cert.pem().as_bytes(), 0o644)?;
            }
        }
        let ca_key_pem = read_when_ready(&key_path)?;
        let ca_cert_pem = read_when_ready(&crt_path)?;
        let ca_key = KeyPair::from_pem(&ca_key_pem)?;
        let ca_cert_der = first_pem_cert(&ca_cert_pem, &crt_path.display().to_string())?;

        let skey_path = dir.join("server.key");
        let scrt_path = dir.join("server.crt");
        if !skey_path.exists() || !scrt_path.exists() {
            let issuer = Issuer::from_ca_cert_der(&ca_cert_der, &ca_key)?;
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let mut params = CertificateParams::new(hostnames.to_vec())?;
            params
                .distinguished_name
                .push(DnType::CommonName, "Steward gateway");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            validity(&mut params, 825);
            let cert = params.signed_by(&key, &issuer)?;
            let _ = std::fs::remove_file(&skey_path);
            let _ = std::fs::remove_file(&scrt_path);
            write_new_file(&skey_path, key.serialize_pem().as_bytes(), 0o600)?;
            write_new_file(&scrt_path, cert.pem().as_bytes(), 0o644)?;
        }
        let server_cert_der = first_pem_cert(
            &read_when_ready(&scrt_path)?,
            &scrt_path.display().to_string(),
        )?;
        let server_key_der = PrivateKeyDer::from_pem_slice(read_when_ready(&skey_path)?.as_bytes())
            .map_err(|e| PkiError::Invalid {
                what: skey_path.display().to_string(),
                reason: format!("no PEM private key ({e})"),
            })?
            .secret_der()
            .to_vec();
        Ok(Pki {
            ca_cert_pem,
            ca_cert_der,
            ca_key,
            server_cert_der,
            server_key_der,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_cert_der
    }

    fn device_params(device_id: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device_id);
        dn.push(DnType::OrganizationName, "Steward device");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 10 * 365);
        params
    }

    /// A new key and certificate for a device.
    pub fn issue_device(&self, device_id: &str) -> Result<Issued, PkiError> {
        let issuer = Issuer::from_ca_cert_der(&self.ca_cert_der, &self.ca_key)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = Self::device_params(device_id).signed_by(&key, &issuer)?;
        Ok(Issued {
            fingerprint: fingerprint(cert.der()),
            cert_pem: cert.pem(),
            key_pem: Some(key.serialize_pem()),
        })
    }

    /// Check that a CSR parses and its signature holds.
    pub fn check_csr(&self, csr_pem: &str) -> Result<(), PkiError> {
        CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::Invalid {
            what: "certificate signing request".into(),
            reason: e.to_string(),
        })?;
        Ok(())
    }

    /// Sign a device-generated CSR. Only its public key is taken: the subject and
    /// extensions are Steward's, so a device cannot ask for a CA certificate.
    pub fn sign_device_csr(&self, device_id: &str, csr_pem: &str) -> Result<Issued, PkiError> {
        let mut csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::Invalid {
                what: "certificate signing request".into(),
                reason: e.to_string(),
            })?;
        csr.params = Self::device_params(device_id);
        let issuer = Issuer::from_ca_cert_der(&self.ca_cert_der, &self.ca_key)?;
        let cert = csr.signed_by(&issuer)?;
        Ok(Issued {
            fingerprint: fingerprint(cert.der()),
            cert_pem: cert.pem(),
            key_pem: None,
        })
    }

    /// TLS for the device endpoints: TLS 1.2 and 1.3, client certificates optional
    /// (token devices have none) but, when sent, they must chain to Steward's CA or
    /// a configured maker CA.
    pub fn server_tls(&self, maker_cas: &[PathBuf]) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert_der.clone())
            .map_err(|e| PkiError::Tls(format!("Steward CA: {e}")))?;
        for path in maker_cas {
            let pem = std::fs::read(path).map_err(io(path))?;
            let mut any = false;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| PkiError::Invalid {
                    what: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| PkiError::Invalid {
                    what: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                any = true;
            }
            if !any {
                return Err(PkiError::Invalid {
                    what: path.display().to_string(),
                    reason: "no PEM certificate in maker CA file".into(),
                });
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| PkiError::Tls(e.to_string()))?;
        let key = PrivateKeyDer::try_from(self.server_key_der.clone())
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| PkiError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.server_cert_der.clone(), self.ca_cert_der.clone()],
                key,
            )
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        let b = Pki::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        assert_eq!(a.ca_pem(), b.ca_pem());
        for f in ["ca.key", "server.key"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let issued = a.issue_device("dev-1").unwrap();
        assert_eq!(issued.fingerprint.len(), 64);
        assert!(issued.key_pem.unwrap().contains("PRIVATE KEY"));
        a.server_tls(&[]).unwrap();
    }

    #[test]
    fn csr_is_signed_with_our_subject_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["evil.example".into()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        let issued = pki.sign_device_csr("dev-2", &csr).unwrap();
        assert!(issued.key_pem.is_none());
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(!cert.is_ca());
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "dev-2"
        );
        assert!(
            pki.check_csr(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            )
            .is_err()
        );
    }
}
