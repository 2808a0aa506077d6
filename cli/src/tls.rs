//! TLS flags. Every command takes `--tls-ca`, `--tls-cert` and `--tls-key`
//! (or `WEFT_TLS_CA`, `WEFT_TLS_CERT`, `WEFT_TLS_KEY`): servers serve
//! mutual TLS with them, clients connect with them. `weft up --tls` makes
//! a development CA in its data dir on first start and leaves the CA and
//! a client certificate where clients on this machine find them. See
//! `weft_proto::tls`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use weft_proto::tls::Tls;

/// The TLS flags every command takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// The CA certificate (PEM) peers' certificates must chain to; alone,
    /// a client trusts the cluster without showing a certificate.
    #[arg(long, global = true, env = "WEFT_TLS_CA", display_order = 901)]
    pub tls_ca: Option<PathBuf>,
    /// This process's certificate (PEM): servers show it to callers,
    /// clients to mutual TLS servers.
    #[arg(long, global = true, env = "WEFT_TLS_CERT", display_order = 902)]
    pub tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(long, global = true, env = "WEFT_TLS_KEY", display_order = 903)]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Loads the flags' settings and makes them this process's.
    pub fn install(&self) -> anyhow::Result<Option<Arc<Tls>>> {
        let tls = Tls::from_flags(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
        )?
        .map(Arc::new);
        if tls.is_some() {
            weft_proto::tls::set_tls(tls.clone());
        }
        Ok(tls)
    }
}

/// The start line of a server: what its listeners speak.
pub fn line(bind: std::net::IpAddr) -> anyhow::Result<String> {
    match weft_proto::tls::process_tls() {
        Some(tls) if tls.has_identity() => Ok(format!(
            "TLS on: mutual, peers and clients need a certificate from {}",
            tls.ca_path().display()
        )),
        Some(_) => anyhow::bail!(
            "a server needs --tls-cert and --tls-key besides --tls-ca (`weft certs init` makes them)"
        ),
        None if bind.is_loopback() => Ok(
            "TLS off: plaintext, for loopback development (--tls or --tls-cert to turn it on)"
                .into(),
        ),
        None => Ok(format!(
            "TLS off: plaintext on {bind}, readable by anyone on the network (--tls-cert to turn it on)"
        )),
    }
}

/// `weft up --tls`: the development CA and certificates in
/// `data_dir/tls` (made on first start), this process's settings, and the
/// CA with a client certificate left for clients on this machine that
/// reach `address`.
pub fn for_up(data_dir: &Path, address: &str, bind: std::net::IpAddr) -> anyhow::Result<()> {
    let dir = data_dir.join("tls");
    let hosts: Vec<String> = if bind.is_unspecified() || bind.is_loopback() {
        Vec::new()
    } else {
        vec![bind.to_string()]
    };
    crate::server::certs::init(&dir, &hosts, 365)?;
    let tls = Tls::load(
        &dir.join("ca.pem"),
        Some((&dir.join("node.pem"), &dir.join("node-key.pem"))),
    )
    .with_context(|| format!("the certificates in {} cannot be used", dir.display()))?;
    weft_proto::tls::set_tls(Some(Arc::new(tls)));
    if let Some(local) = weft_proto::tls::local_tls_dir(address) {
        for (from, to) in [
            ("ca.pem", "ca.pem"),
            ("client.pem", "client.pem"),
            ("client-key.pem", "client-key.pem"),
        ] {
            let text = std::fs::read_to_string(dir.join(from))?;
            crate::auth::write_private(&local.join(to), &text)?;
        }
        // Clients use the files only while this process lives.
        crate::auth::write_private(&local.join("pid"), &std::process::id().to_string())?;
    }
    Ok(())
}

/// Forgets what an earlier `weft up --tls` left for `address`, so a
/// plaintext cluster there is not dialled with TLS.
pub fn forget_local(address: &str) {
    if let Some(local) = weft_proto::tls::local_tls_dir(address) {
        let _ = std::fs::remove_dir_all(local);
    }
}
