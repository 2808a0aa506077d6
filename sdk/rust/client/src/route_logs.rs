//! A route's log: what its HTTP handlers wrote, kept by every host that
//! served it (`route:PATH` on each). A reader asks every live host and
//! merges the lines by when they were written; each host keeps its own
//! cursor, so a follower reads on without repeating or skipping lines.

use weft_proto::v1 as pb;

use crate::{Client, ClientError, LogsQuery, objects};

/// The hosts serving a route's log, with where each read got to.
#[derive(Debug, Clone)]
pub struct RouteLogs {
    source: String,
    /// (host id, address, next line to read there).
    hosts: Vec<(String, String, u64)>,
    since_micros: u64,
    read_once: bool,
}

/// One read of a route's log.
#[derive(Debug, Default)]
pub struct RouteLines {
    /// The lines, oldest first, each with the id of the host that kept it.
    pub lines: Vec<(String, pb::LogLine)>,
    /// Hosts that could not be read, with why.
    pub unread: Vec<(String, ClientError)>,
}

impl Client {
    /// The log of route `path` (as `weft route list` prints it) on every
    /// live host; [`RouteLogs::read`] reads it.
    pub async fn route_logs(
        &mut self,
        path: &str,
        query: LogsQuery,
    ) -> Result<RouteLogs, ClientError> {
        let hosts = self
            .list_nodes()
            .await?
            .into_iter()
            .filter(|n| n.alive && !n.address.is_empty())
            .map(|n| (n.id, n.address, 0))
            .collect();
        Ok(RouteLogs {
            source: weft_proto::logs::route_source(path),
            hosts,
            since_micros: query.since_micros,
            read_once: false,
        })
    }
}

impl RouteLogs {
    /// How many hosts the log is read from.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// The lines written since the last read (the first read: all kept, or
    /// the last `tail` of them across hosts when `tail` > 0).
    pub async fn read(&mut self, tail: u64) -> RouteLines {
        let first = !self.read_once;
        self.read_once = true;
        let mut out = RouteLines::default();
        for (id, address, next) in &mut self.hosts {
            let request = pb::LogsRequest {
                source: self.source.clone(),
                tail: if first { tail } else { 0 },
                from_line: *next,
                since_micros: self.since_micros,
            };
            let read = async {
                let mut rpc = objects::host_rpc(address).await?;
                Ok::<_, ClientError>(rpc.logs(request).await?.into_inner())
            };
            match read.await {
                Ok(reply) => {
                    *next = reply.next_line.max(*next);
                    out.lines
                        .extend(reply.lines.into_iter().map(|l| (id.clone(), l)));
                }
                Err(e) => out.unread.push((id.clone(), e)),
            }
        }
        out.lines.sort_by_key(|(_, line)| line.at_micros);
        if first && tail > 0 {
            let extra = out.lines.len().saturating_sub(tail as usize);
            out.lines.drain(..extra);
        }
        out
    }
}
