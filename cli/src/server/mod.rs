//! The processes `weft` runs as part of a cluster, and their wiring:
//! `weft up` and `weft controller` (a controller replica, with an embedded
//! host for `up`: `replica.rs`), `weft host` (`host.rs`), the in-process
//! connection between an embedded host and its replica, the metrics
//! endpoint, the dashboard, and the TLS files `weft certs` makes.

pub mod autoscaler;
pub mod certs;
pub mod dashboard;
pub mod host;
pub mod http_server;
pub mod local_host;
pub mod metrics;
pub mod replica;
