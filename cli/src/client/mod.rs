//! The commands that talk to a running cluster as its clients: components
//! and calls, tasks, actors, objects, jobs, routes, the key-value table,
//! logs and timelines, and `weft build`, which makes the components they
//! deploy. Nothing here serves: the processes that do are in `server/`.

pub mod actors;
pub mod build;
pub mod components;
pub mod groups;
pub mod jobs;
pub mod kv;
pub mod logs;
pub mod objects;
pub mod progress;
pub mod routes;
pub mod runtime_env;
pub mod serve;
pub mod tasks;
pub mod timeline;
pub mod tune;

use weft_client::Client;

/// A client of the cluster at `address` (one address or a list of
/// replicas: it follows the leader).
pub async fn connect(address: &str) -> anyhow::Result<Client> {
    Ok(Client::connect(address).await?)
}

/// Prints one line per item, or `none` when there are none: the shape of
/// every `list` command.
pub fn print_lines<T>(items: &[T], none: &str, line: impl Fn(&T) -> String) {
    if items.is_empty() {
        println!("{none}");
    }
    for item in items {
        println!("{}", line(item));
    }
}
