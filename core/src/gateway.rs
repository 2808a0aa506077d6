//! HTTP to weft's own gateways: a driver's Serve handles, and a host's
//! forwards to the gateway of the host where a replica runs. One pooled
//! client serves every request of its owner, so calls reuse connections
//! (and, where gateways speak HTTPS, their TLS sessions) instead of paying
//! a handshake each.

use std::time::Duration;

use weft_proto::tls::Tls;

/// How long an idle pooled connection to a gateway is kept.
const IDLE: Duration = Duration::from_secs(30);

/// A pooled client for gateways: plain HTTP, or HTTPS checked with the
/// cluster's CA when `tls` is given (the process's settings).
pub fn client(tls: Option<&Tls>) -> reqwest::Client {
    let config = match tls {
        Some(tls) => tls.https_client(),
        None => weft_proto::tls::trusting_nothing(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .tcp_nodelay(true)
        .pool_idle_timeout(IDLE)
        .no_proxy()
        .build()
        .expect("a client with preconfigured TLS and no proxy builds")
}

/// The URL of `path` (with its query) on the gateway at `address`.
pub fn url(address: &str, https: bool, path: &str) -> String {
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{address}{path}")
}
