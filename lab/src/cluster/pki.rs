//! The cluster's certificates and kubeconfigs, made fresh for each cluster:
//! one CA, the API server's serving certificate, a client certificate per
//! identity (the admin in `system:masters`, the controller-manager and the
//! scheduler as their bootstrap RBAC users, each node as
//! `system:node:<name>` in `system:nodes` for the Node authorizer), and the
//! service-account signing key. ECDSA P-256 throughout.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Making or writing a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused.
    #[error("making the certificate for {0}")]
    Cert(String, #[source] rcgen::Error),
    /// Writing a file failed.
    #[error("writing {0}")]
    Write(PathBuf, #[source] std::io::Error),
}

/// A certificate with its key, PEM.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate.
    pub cert: String,
    /// The private key (PKCS#8).
    pub key: String,
}

/// The cluster's authority and the files made from it.
pub struct Pki {
    dir: PathBuf,
    ca: Pair,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish()
    }
}

impl Pki {
    /// A new CA, written to `dir/ca.crt`.
    pub fn create(dir: &Path) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Write(dir.into(), e))?;
        let err = |e| PkiError::Cert("the CA".into(), e);
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "seamless-lab-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(err)?;
        let ca = Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        let pki = Pki {
            dir: dir.into(),
            ca,
            issuer: Issuer::new(params, key),
        };
        pki.write("ca.crt", &pki.ca.cert)?;
        Ok(pki)
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert
    }

    /// The path of a file in the PKI directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf, PkiError> {
        let p = self.path(name);
        std::fs::write(&p, text).map_err(|e| PkiError::Write(p.clone(), e))?;
        Ok(p)
    }

    /// The API server's serving certificate for these names and addresses,
    /// written as `apiserver.crt`/`apiserver.key`.
    pub fn serving(&self, dns: &[&str], ips: &[Ipv4Addr]) -> Result<Pair, PkiError> {
        let err = |e| PkiError::Cert("the API server".into(), e);
        let key = KeyPair::generate().map_err(err)?;
        let mut params =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(err)?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress((*ip).into())));
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        let pair = Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        self.write("apiserver.crt", &pair.cert)?;
        self.write("apiserver.key", &pair.key)?;
        Ok(pair)
    }

    /// A client certificate for user `cn` in groups `orgs`.
    pub fn client(&self, cn: &str, orgs: &[&str]) -> Result<Pair, PkiError> {
        let err = |e| PkiError::Cert(cn.into(), e);
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            params.distinguished_name.push(DnType::OrganizationName, *o);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// The service-account token signing key: `sa.key` (private) and
    /// `sa.pub` (public), as kube-apiserver's
    /// `--service-account-signing-key-file`/`--service-account-key-file`
    /// and the controller-manager's `--service-account-private-key-file`
    /// take them.
    pub fn service_account_key(&self) -> Result<(PathBuf, PathBuf), PkiError> {
        let key = KeyPair::generate().map_err(|e| PkiError::Cert("service accounts".into(), e))?;
        let private = self.write("sa.key", &key.serialize_pem())?;
        let public = self.write("sa.pub", &key.public_key_pem())?;
        Ok((private, public))
    }

    /// A kubeconfig (JSON, a YAML subset: every client reads it) for `user`
    /// against `server`, everything embedded; written as `name`.
    pub fn kubeconfig(&self, name: &str, server: &str, user: &Pair) -> Result<PathBuf, PkiError> {
        self.write(name, &kubeconfig(server, &self.ca.cert, user))
    }
}

/// The text of a self-contained kubeconfig.
pub fn kubeconfig(server: &str, ca_pem: &str, user: &Pair) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "seamless-lab", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{"name": "seamless-lab", "user": {
            "client-certificate-data": b64(&user.cert),
            "client-key-data": b64(&user.key),
        }}],
        "contexts": [{"name": "seamless-lab", "context": {
            "cluster": "seamless-lab", "user": "seamless-lab",
        }}],
        "current-context": "seamless-lab",
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_the_files_the_components_read() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(dir.path()).unwrap();
        pki.serving(&["kubernetes"], &[Ipv4Addr::LOCALHOST])
            .unwrap();
        let admin = pki.client("admin", &["system:masters"]).unwrap();
        pki.service_account_key().unwrap();
        let kc = pki
            .kubeconfig("admin.kubeconfig", "https://127.0.0.1:6443", &admin)
            .unwrap();
        for f in [
            "ca.crt",
            "apiserver.crt",
            "apiserver.key",
            "sa.key",
            "sa.pub",
        ] {
            let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
            assert!(text.starts_with("-----BEGIN "), "{f}: {text}");
        }
        // kube-rs reads it as any kubeconfig.
        let parsed = kube::config::Kubeconfig::read_from(&kc).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some("seamless-lab"));
        assert_eq!(
            parsed.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("https://127.0.0.1:6443")
        );
    }
}
