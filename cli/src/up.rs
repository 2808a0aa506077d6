//! `weft up`: an embedded single-node cluster, a controller and a host in
//! one process, in the foreground.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use weft_controller::{Controller, ControllerConfig, WeftService};
use weft_host::{Host, HostConfig};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Port to serve the client API on (0 picks a free one).
    #[arg(long, default_value_t = 7077)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Where state, blobs and compiled components are kept across restarts
    /// [default: $HOME/.weft]
    #[arg(long, env = "WEFT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Largest component upload accepted, in bytes.
    #[arg(long, default_value_t = weft_controller::DEFAULT_MAX_UPLOAD)]
    max_upload: usize,
    /// Default deadline of a call, in seconds.
    #[arg(long, default_value_t = weft_host::DEFAULT_TIMEOUT.as_secs_f64())]
    default_timeout: f64,
    /// Default memory limit of an instance, in bytes.
    #[arg(long, default_value_t = weft_host::DEFAULT_MEMORY_LIMIT)]
    default_memory_limit: u64,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?)
                .join(".weft")
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;

    let mut host_config = HostConfig::new(data_dir.join("cache"));
    host_config.default_timeout = std::time::Duration::from_secs_f64(args.default_timeout);
    host_config.default_memory_limit = args.default_memory_limit;
    let host = Arc::new(Host::new(host_config)?);
    let mut config = ControllerConfig::new(&data_dir);
    config.max_upload = args.max_upload;
    let controller = Arc::new(
        Controller::open(config, host)
            .with_context(|| format!("cannot open the state in {}", data_dir.display()))?,
    );

    let listener = TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let local = listener.local_addr()?;
    // Scripts and tests read this line to learn the port.
    println!(
        "weft up: listening on {local} (data dir {})",
        data_dir.display()
    );
    tracing::info!(%local, data_dir = %data_dir.display(), "weft is up");

    tonic::transport::Server::builder()
        .add_service(WeftService::new(controller).into_server())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown_signal())
        .await
        .context("the server failed")?;
    tracing::info!("weft stopped cleanly");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
