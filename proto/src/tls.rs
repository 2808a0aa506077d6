//! TLS on weft's connections. A cluster started with certificates
//! (`--tls-cert`, `--tls-key`, `--tls-ca`) speaks only TLS, and mutual TLS
//! at that: every listener (controller, host, actor lanes, bulk streams)
//! asks its caller for a certificate signed by the cluster's CA, so a peer,
//! host or client without one is refused during the handshake, before any
//! token is read. The gateway serves HTTPS with the same certificate but
//! asks browsers for none: its routes are the user's app.
//!
//! A process uses, in order: its own settings ([`set_tls`]: the flags of
//! `weft controller`, `weft host` and the CLI), `WEFT_TLS_CA` with
//! `WEFT_TLS_CERT` and `WEFT_TLS_KEY`, the files `weft up --tls` left for
//! its address in `~/.weft/tls/<address>/`, or the last ones found. With
//! none, it speaks plaintext, which is for loopback development.
//!
//! rustls with ring is the one crypto provider, for tonic's channels and
//! servers and for the plain streams alike.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// Why TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        /// Which file it is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM of the kind it should.
    #[error("the {what} {path} holds no PEM {kind}")]
    Pem {
        /// Which file it is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What it should hold.
        kind: &'static str,
    },
    /// The flags given do not make a whole configuration.
    #[error("{0}")]
    Incomplete(String),
    /// rustls refused the certificates (a key that does not match, say).
    #[error("TLS settings refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA cannot check client certificates.
    #[error("the CA cannot verify clients: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// This party's own certificate would be refused by its peers.
    #[error("the certificate (--tls-cert) {path} would be refused: {source}")]
    Identity {
        /// Its path.
        path: PathBuf,
        /// Why, as a peer's verifier says it.
        source: rustls::Error,
    },
}

/// One party's TLS: the CA it trusts and, for servers and mutual TLS, its
/// own certificate and key. Everything is parsed and checked on load.
pub struct Tls {
    ca_path: PathBuf,
    ca_pem: Vec<u8>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    client: Arc<rustls::ClientConfig>,
    /// Asks callers for a certificate from the CA (None without an identity).
    server: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &self.ca_path)
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_path_buf(),
            kind: "certificate",
        });
    }
    Ok(certs)
}

impl Tls {
    /// Loads the CA at `ca` and, when given, a certificate and its key.
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsError> {
        let ca_pem = read("CA certificate (--tls-ca)", ca)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates("CA certificate (--tls-ca)", ca, &ca_pem)? {
            roots.add(cert)?;
        }
        let roots = Arc::new(roots);
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots.clone());
        let Some((cert_path, key_path)) = identity else {
            return Ok(Tls {
                ca_path: ca.to_path_buf(),
                ca_pem,
                identity: None,
                client: Arc::new(client.with_no_client_auth()),
                server: None,
            });
        };
        let cert_pem = read("certificate (--tls-cert)", cert_path)?;
        let key_pem = read("key (--tls-key)", key_path)?;
        let chain = certificates("certificate (--tls-cert)", cert_path, &cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::Pem {
            what: "key (--tls-key)",
            path: key_path.to_path_buf(),
            kind: "private key",
        })?;
        let client = client.with_client_auth_cert(chain.clone(), key.clone_key())?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()?;
        // Checked here as a peer would check it: an expired certificate,
        // or one from another CA, fails at start with its reason, where the
        // peer's refusal would reach this side as a closed connection.
        verifier
            .verify_client_cert(&chain[0], &chain[1..], rustls::pki_types::UnixTime::now())
            .map_err(|source| TlsError::Identity {
                path: cert_path.to_path_buf(),
                source,
            })?;
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        Ok(Tls {
            ca_path: ca.to_path_buf(),
            ca_pem,
            identity: Some((cert_pem, key_pem)),
            client: Arc::new(client),
            server: Some(Arc::new(server)),
        })
    }

    /// Loads a server's or client's settings from its three flags: all of
    /// them, only `--tls-ca` (a client without a certificate, which mutual
    /// TLS servers refuse), or none (plaintext).
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<Option<Self>, TlsError> {
        match (cert, key, ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Tls::load(ca, Some((cert, key))).map(Some),
            (None, None, Some(ca)) => Tls::load(ca, None).map(Some),
            (_, _, None) => Err(TlsError::Incomplete(
                "--tls-cert and --tls-key need --tls-ca: peers are checked against the CA".into(),
            )),
            _ => Err(TlsError::Incomplete(
                "--tls-cert and --tls-key go together".into(),
            )),
        }
    }

    /// The CA file these settings trust.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Whether this party has a certificate of its own (it can serve, and
    /// be a client of mutual TLS servers).
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The settings of a tonic server: its certificate, and callers must
    /// show one from the CA. None without an identity.
    pub fn tonic_server(&self) -> Option<ServerTlsConfig> {
        let (cert, key) = self.identity.as_ref()?;
        Some(
            ServerTlsConfig::new()
                .identity(Identity::from_pem(cert, key))
                .client_ca_root(Certificate::from_pem(&self.ca_pem)),
        )
    }

    /// The settings of a tonic channel.
    pub fn tonic_client(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem));
        match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
            None => config,
        }
    }

    /// rustls's settings for a client of a plain stream.
    pub fn rustls_client(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }

    /// rustls's settings for an HTTPS client of weft's gateways: this
    /// process's client settings (the cluster's CA, its certificate) asking
    /// for HTTP/1.1, the one protocol the gateways speak.
    pub fn https_client(&self) -> rustls::ClientConfig {
        let mut config = (*self.client).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    /// rustls's settings for a mutual TLS server of a plain stream.
    pub fn rustls_server(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.server.clone()
    }

    /// rustls's settings for a public HTTPS server (the gateway): this
    /// certificate, no client certificate asked for, HTTP/1.1.
    pub fn https_server(&self) -> Option<Result<Arc<rustls::ServerConfig>, TlsError>> {
        let (cert, key) = self.identity.as_ref()?;
        let made = (|| {
            let chain: Vec<_> = CertificateDer::pem_slice_iter(cert)
                .filter_map(Result::ok)
                .collect();
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
                TlsError::Incomplete("the key (--tls-key) is not a PEM private key".into())
            })?;
            let mut config = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })();
        Some(made)
    }
}

/// rustls's settings for a client that trusts no certificate: what an
/// HTTP client of plain-HTTP gateways is built with, so it never needs a
/// process-wide crypto provider (and an `https://` address fails).
pub fn trusting_nothing() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// The server name to check a peer's certificate against: the host part
/// of `address` (`host:port`, `[v6]:port`).
pub fn server_name(address: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::Incomplete(format!("`{host}` is not a host name or IP address")))
}

static PROCESS_TLS: RwLock<Option<Arc<Tls>>> = RwLock::new(None);
static LAST_FOUND: RwLock<Option<Arc<Tls>>> = RwLock::new(None);

/// Gives this process its TLS settings: every connection it opens and
/// every listener it serves uses them.
pub fn set_tls(tls: Option<Arc<Tls>>) {
    *PROCESS_TLS.write().unwrap_or_else(|p| p.into_inner()) = tls;
}

/// This process's own settings ([`set_tls`]).
pub fn process_tls() -> Option<Arc<Tls>> {
    PROCESS_TLS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Where `weft up --tls` leaves the CA and a client certificate for
/// clients on this machine that reach it at `address`.
pub fn local_tls_dir(address: &str) -> Option<PathBuf> {
    crate::auth::local_path("tls", address)
}

fn from_env() -> Result<Option<Tls>, TlsError> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let (cert, key, ca) = (
        var("WEFT_TLS_CERT"),
        var("WEFT_TLS_KEY"),
        var("WEFT_TLS_CA"),
    );
    let path = |v: &Option<std::ffi::OsString>| v.as_ref().map(PathBuf::from);
    let (cert, key, ca) = (path(&cert), path(&key), path(&ca));
    Tls::from_flags(cert.as_deref(), key.as_deref(), ca.as_deref())
}

/// The settings to reach `address` with (see the module's docs); None
/// means plaintext.
pub fn tls_for(address: &str) -> Result<Option<Arc<Tls>>, TlsError> {
    if let Some(tls) = process_tls() {
        return Ok(Some(tls));
    }
    let found = match from_env()? {
        Some(tls) => Some(tls),
        None => match local_tls_dir(address).filter(|dir| left_by_a_live_process(dir)) {
            Some(dir) => Some(Tls::load(
                &dir.join("ca.pem"),
                Some((&dir.join("client.pem"), &dir.join("client-key.pem"))),
            )?),
            None => None,
        },
    };
    let mut last = LAST_FOUND.write().unwrap_or_else(|p| p.into_inner());
    if let Some(tls) = found {
        *last = Some(Arc::new(tls));
    }
    Ok(last.clone())
}

/// Whether `dir` holds what a `weft up --tls` still running left there: a
/// killed one leaves its files behind, and a plaintext cluster that later
/// gets the same port must not be dialled with TLS.
fn left_by_a_live_process(dir: &Path) -> bool {
    let Ok(pid) = std::fs::read_to_string(dir.join("pid")) else {
        return false;
    };
    dir.join("ca.pem").exists() && Path::new("/proc").join(pid.trim()).exists()
}

/// Why a channel's endpoint could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The address is not one.
    #[error("bad address {address}: {source}")]
    Address {
        /// As given.
        address: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The TLS settings for it cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The endpoint of a channel to `address` (`host:port`): `https` with the
/// settings [`tls_for`] finds, else plaintext `http`.
pub fn endpoint(address: &str) -> Result<Endpoint, EndpointError> {
    let bad = |source| EndpointError::Address {
        address: address.to_string(),
        source,
    };
    match tls_for(address)? {
        None => Endpoint::from_shared(format!("http://{address}")).map_err(bad),
        Some(tls) => Endpoint::from_shared(format!("https://{address}"))
            .and_then(|e| e.tls_config(tls.tonic_client()))
            .map_err(bad),
    }
}

/// A server with this process's TLS, when it has a certificate.
pub fn server_builder() -> Result<tonic::transport::Server, tonic::transport::Error> {
    let builder = tonic::transport::Server::builder();
    match process_tls().and_then(|tls| tls.tonic_server()) {
        Some(config) => builder.tls_config(config),
        None => Ok(builder),
    }
}

/// The innermost cause of an error, where a transport names what went
/// wrong (`invalid peer certificate: UnknownIssuer`), with a hint for the
/// TLS refusals a user can mend.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    let hint = if reason.contains("CertificateRequired") {
        " (this cluster speaks mutual TLS: give a certificate from its CA with \
         --tls-cert/--tls-key or WEFT_TLS_CERT/WEFT_TLS_KEY)"
    } else if reason.contains("UnknownIssuer") || reason.contains("BadCertificate") {
        " (the certificate is not signed by the CA the other side trusts: check --tls-ca)"
    } else if reason.contains("Expired") {
        " (a certificate has expired: issue a new one with `weft certs issue`)"
    } else if reason.contains("InvalidContentType")
        || reason.contains("CorruptMessage")
        || reason.contains("frame with invalid size")
    {
        " (one side speaks TLS and the other plaintext: check --tls-ca)"
    } else {
        ""
    };
    format!("{reason}{hint}")
}

/// `reason` (why a connection to `address` broke), with a hint where
/// this process's TLS settings are the likely cause: a client without a
/// certificate meeting a mutual TLS server sees only a closed stream, and
/// a plaintext client meeting a TLS server only a protocol error.
pub fn explain(address: &str, reason: String) -> String {
    if reason.contains(" (") {
        return reason;
    }
    let hint = match tls_for(address) {
        Ok(Some(tls)) if !tls.has_identity() => {
            "; this client shows no certificate and a cluster with mutual TLS refuses it: \
             give --tls-cert/--tls-key (WEFT_TLS_CERT/WEFT_TLS_KEY)"
        }
        Ok(None) if reason.contains("protocol error") || reason.contains("broken pipe") => {
            "; this client speaks plaintext: if the cluster speaks TLS, give --tls-ca \
             (WEFT_TLS_CA) and a certificate"
        }
        _ => "",
    };
    format!("{reason}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_addresses() {
        assert!(matches!(
            server_name("127.0.0.1:7077").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:7077").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("node-2.weft:7077").unwrap(),
            ServerName::DnsName(_)
        ));
    }

    #[test]
    fn flags_must_make_a_whole() {
        let p = Path::new("/nonexistent");
        assert!(Tls::from_flags(None, None, None).unwrap().is_none());
        let half = Tls::from_flags(Some(p), Some(p), None).unwrap_err();
        assert!(half.to_string().contains("need --tls-ca"), "{half}");
        let alone = Tls::from_flags(Some(p), None, Some(p)).unwrap_err();
        assert!(alone.to_string().contains("go together"), "{alone}");
        let missing = Tls::from_flags(None, None, Some(p)).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent"), "{missing}");
    }
}
