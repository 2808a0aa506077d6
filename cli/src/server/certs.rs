//! `weft certs`: a development CA and the certificates a cluster's nodes
//! and clients show each other (rcgen, ECDSA P-256). A production cluster
//! brings certificates from its own CA; these are for trying TLS on one
//! machine or a lab network.
//!
//! A CA directory holds `ca.pem` and `ca-key.pem`; every certificate is
//! `NAME.pem` beside `NAME-key.pem`, each key 0600.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The names every node certificate answers to on its own machine.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(clap::Subcommand)]
pub enum CertsCommand {
    /// Make a development CA in DIR, a node certificate (`node.pem`, for
    /// controllers and hosts, as server and as client) and a client
    /// certificate (`client.pem`, for the CLI and SDKs). Existing files
    /// are kept.
    Init {
        /// Where to write them.
        dir: PathBuf,
        /// More names or IP addresses the node certificate answers to,
        /// besides localhost, 127.0.0.1 and ::1.
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// How many days the certificates are valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Issue another certificate from the CA in DIR: `NAME.pem` and
    /// `NAME-key.pem`, for a node (server and client) or, with
    /// `--client`, a client only.
    Issue {
        /// The CA's directory (from `weft certs init`).
        dir: PathBuf,
        /// The certificate's name (its files' names too).
        #[arg(long)]
        name: String,
        /// Names or IP addresses it answers to as a server, besides
        /// localhost, 127.0.0.1 and ::1.
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// A client certificate only: it cannot serve.
        #[arg(long)]
        client: bool,
        /// How many days it is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

pub fn certs(command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init { dir, hosts, days } => {
            let made = init(&dir, &hosts, days)?;
            for path in made {
                println!("{}", path.display());
            }
            Ok(())
        }
        CertsCommand::Issue {
            dir,
            name,
            hosts,
            client,
            days,
        } => {
            let role = if client { Role::Client } else { Role::Node };
            let (cert, _) = issue(&dir, &name, role, &hosts, days)?;
            println!("{}", cert.display());
            Ok(())
        }
    }
}

/// What a certificate may do.
#[derive(Clone, Copy, PartialEq)]
pub enum Role {
    /// Serve and call: controllers and hosts.
    Node,
    /// Call only: the CLI and SDKs.
    Client,
}

/// The CA's parameters: rebuilt the same from its key each time, so
/// certificates issued later chain to the `ca.pem` made first. Its name
/// carries its key's digest: two development CAs never share a name, so a
/// certificate from the other is refused as unknown, not as forged.
fn ca_params(key: &KeyPair, days: u32) -> anyhow::Result<CertificateParams> {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(key.public_key_raw()));
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(
        DnType::CommonName,
        format!("weft development CA {}", &digest[..16]),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    valid_for(&mut params, days);
    Ok(params)
}

fn valid_for(params: &mut CertificateParams, days: u32) {
    let now = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
    // A little slack for clocks that disagree.
    params.not_before = now - std::time::Duration::from_secs(3600);
    params.not_after = now + std::time::Duration::from_secs(u64::from(days) * 86_400);
}

/// Makes the CA, `node` and `client` in `dir` unless they exist; returns
/// the certificate files.
pub fn init(dir: &Path, hosts: &[String], days: u32) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca = dir.join("ca.pem");
    if !ca.exists() {
        let key = KeyPair::generate()?;
        let cert = ca_params(&key, days)?.self_signed(&key)?;
        crate::auth::write_private(&dir.join("ca-key.pem"), &key.serialize_pem())?;
        std::fs::write(&ca, cert.pem())
            .with_context(|| format!("cannot write {}", ca.display()))?;
    }
    let mut made = vec![ca];
    for (name, role) in [("node", Role::Node), ("client", Role::Client)] {
        let cert = dir.join(format!("{name}.pem"));
        if !cert.exists() {
            issue(dir, name, role, hosts, days)?;
        }
        made.push(cert);
    }
    Ok(made)
}

/// Issues `NAME.pem` and `NAME-key.pem` from the CA in `dir`.
pub fn issue(
    dir: &Path,
    name: &str,
    role: Role,
    hosts: &[String],
    days: u32,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    anyhow::ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "`{name}` is not a certificate name: use letters, digits, -, _ and ."
    );
    let ca_key_path = dir.join("ca-key.pem");
    let ca_key = std::fs::read_to_string(&ca_key_path)
        .with_context(|| format!("cannot read the CA's key {}", ca_key_path.display()))?;
    let ca_key = KeyPair::from_pem(&ca_key)
        .with_context(|| format!("{} is not a PEM key", ca_key_path.display()))?;
    let issuer = Issuer::new(ca_params(&ca_key, days)?, ca_key);

    let names: Vec<String> = match role {
        Role::Node => LOOPBACK
            .iter()
            .map(|h| h.to_string())
            .chain(hosts.iter().cloned())
            .collect(),
        Role::Client => Vec::new(),
    };
    let mut params = CertificateParams::new(names)
        .with_context(|| format!("{hosts:?} are not host names or IP addresses"))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        Role::Node => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Role::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    valid_for(&mut params, days);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    crate::auth::write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok((cert_path, key_path))
}
