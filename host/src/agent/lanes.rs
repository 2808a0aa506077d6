//! Actor threads ("lanes"): each is one thread with its own single-thread
//! runtime and its own port, serving `WeftHost` there. An actor lives on
//! one lane, and its callers connect to that lane's port, so a call's
//! whole path on the host (the connection, the actor's mailbox, its
//! instance, the reply) stays on one thread: no cross-thread wakeups,
//! which dominate a small call's cost. Several lanes give several actors
//! cores of their own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use tokio::runtime::Handle;

use super::{Agent, HostService};

/// One actor thread.
pub(crate) struct Lane {
    pub(crate) handle: Handle,
    /// Where its callers connect, and the Unix socket callers on this
    /// machine use (a loopback round trip through it costs about half
    /// one through TCP).
    pub(crate) address: String,
    pub(crate) socket: Option<String>,
}

/// The lanes of a host, started with its first actor.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: std::sync::OnceLock<Vec<Lane>>,
    next: AtomicUsize,
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for socket in self
            .lanes
            .get()
            .into_iter()
            .flatten()
            .filter_map(|l| l.socket.as_ref())
        {
            let _ = std::fs::remove_file(socket);
        }
    }
}

impl Lanes {
    /// The lane for the next actor (round robin), starting `count` lanes
    /// bound to `address`'s IP the first time; `None` when there are none
    /// (then actors run on the host's main runtime and port).
    /// Unix sockets are named `<sockets>-<n>.sock`.
    pub(crate) fn pick(
        &self,
        agent: &Arc<Agent>,
        address: &str,
        count: usize,
        sockets: &str,
    ) -> Option<&Lane> {
        let lanes = self.lanes.get_or_init(|| {
            let Ok(ip) = address.parse::<SocketAddr>().map(|a| a.ip()) else {
                return Vec::new();
            };
            (0..count)
                .filter_map(|i| {
                    // Unix socket paths are short (108 bytes with the NUL).
                    let socket = Some(format!("{sockets}-{i}.sock")).filter(|s| s.len() < 100);
                    let keys = agent.config.keys.clone();
                    match start(Arc::downgrade(agent), keys, SocketAddr::new(ip, 0), i, socket) {
                        Ok(lane) => Some(lane),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start an actor thread; actors share the main runtime");
                            None
                        }
                    }
                })
                .collect()
        });
        if lanes.is_empty() {
            return None;
        }
        lanes.get(self.next.fetch_add(1, Ordering::Relaxed) % lanes.len())
    }
}

fn start(
    agent: Weak<Agent>,
    keys: Arc<weft_proto::auth::Keys>,
    bind: SocketAddr,
    index: usize,
    socket: Option<String>,
) -> std::io::Result<Lane> {
    let listener = std::net::TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?.to_string();
    let unix = socket.as_ref().and_then(|path| {
        let _ = std::fs::remove_file(path);
        let bound = std::os::unix::net::UnixListener::bind(path)
            .and_then(|l| l.set_nonblocking(true).map(|()| l));
        bound
            .inspect_err(|e| tracing::warn!(path, error = %e, "no Unix socket for actor calls"))
            .ok()
    });
    let socket = socket.filter(|_| unix.is_some());
    let unix_agent = agent.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("weft-actors-{index}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(runtime.handle().clone()));
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => return tracing::warn!(error = %e, "actor thread cannot listen"),
                };
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let incoming = tokio_stream::StreamExt::map(incoming, |conn| {
                    conn.inspect(|stream| {
                        let _ = stream.set_nodelay(true);
                    })
                });
                let guard = weft_proto::auth::GuardLayer::new(keys);
                // TCP lanes speak this process's TLS; the Unix socket is
                // guarded by the file system.
                let tcp = match weft_proto::tls::server_builder() {
                    Ok(builder) => builder,
                    Err(e) => return tracing::warn!(error = %e, "actor thread cannot serve TLS"),
                };
                let tcp = tcp
                    .layer(guard.clone())
                    .add_service(HostService::weak(agent))
                    .serve_with_incoming(incoming);
                let unix = async move {
                    let Some(listener) = unix else {
                        return Ok(());
                    };
                    let listener = tokio::net::UnixListener::from_std(listener)?;
                    tonic::transport::Server::builder()
                        .layer(guard)
                        .add_service(HostService::weak(unix_agent))
                        .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(
                            listener,
                        ))
                        .await
                        .map_err(std::io::Error::other)
                };
                let (tcp, unix) = tokio::join!(tcp, unix);
                if let Err(e) = tcp {
                    tracing::warn!(error = %e, "actor thread's server failed");
                }
                if let Err(e) = unix {
                    tracing::warn!(error = %e, "actor thread's Unix socket server failed");
                }
            });
        })?;
    let handle = rx
        .recv()
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    tracing::info!(address, ?socket, "actor thread started");
    Ok(Lane {
        handle,
        address,
        socket,
    })
}
