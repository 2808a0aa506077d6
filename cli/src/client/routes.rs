//! `weft route`: HTTP routes served by every host's gateway.

use crate::client::connect;

#[derive(clap::Subcommand)]
pub enum RouteCommand {
    /// Serve PATH (exact, or a prefix ending in /...) with component NAME,
    /// which must export wasi:http/incoming-handler.
    Add {
        path: String,
        component: String,
        /// Requests handled at once per host; more wait, then get 503.
        #[arg(long, default_value_t = 64)]
        max_concurrency: u32,
        /// Deadline of one request in seconds (default: the host's).
        #[arg(long)]
        timeout: Option<f64>,
        /// Requests must carry one of the cluster's tokens
        /// (`authorization: Bearer TOKEN`); without it the route is public.
        #[arg(long)]
        auth: bool,
    },
    /// List the routes.
    List,
    /// Stop serving PATH.
    Remove { path: String },
}

pub async fn route(address: &str, command: RouteCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        RouteCommand::Add {
            path,
            component,
            max_concurrency,
            timeout,
            auth,
        } => {
            let route = weft_client::Route {
                path: path.clone(),
                component: component.clone(),
                max_concurrency,
                timeout_ms: timeout.map_or(0, |t| (t * 1000.0).round().max(1.0) as u64),
                auth,
            };
            let replaced = client.add_route(route).await?;
            println!(
                "{path} -> {component}{}",
                if replaced { " (replaced)" } else { "" }
            );
        }
        RouteCommand::List => {
            let routes = client.routes().await?;
            if routes.is_empty() {
                println!("no routes (try `weft route add /hello NAME`)");
            }
            for r in routes {
                println!(
                    "{}\t{}\tmax {} concurrent{}",
                    r.path,
                    r.component,
                    r.max_concurrency,
                    if r.auth { "\ttoken required" } else { "" }
                );
            }
        }
        RouteCommand::Remove { path } => {
            client.remove_route(&path).await?;
            println!("removed {path}");
        }
    }
    Ok(())
}
