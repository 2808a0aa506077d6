//! `weft logs TASK`: what a task's guest wrote to stdout and stderr, read
//! from the host that ran it; `--follow` keeps reading as it writes,
//! until it ends. `weft logs ROUTE` (a path, `/hello/...`): what the
//! route's HTTP handlers wrote, on every host serving it, merged in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_client::{ClientError, LogsQuery};
use weft_proto::v1 as pb;

/// How often a follower reads again.
const FOLLOW_EVERY: Duration = Duration::from_millis(50);

/// Which task, and how much of its output.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// A task's id (as `weft submit` and `weft list tasks` print it), an
    /// actor's (as `weft actor create` prints it), a job's id or name (its
    /// driver's latest attempt), or a route's path (as `weft route list`
    /// prints it) for what its HTTP handlers wrote.
    task: String,
    /// Only the last N lines.
    #[arg(long, short = 'n')]
    tail: Option<u64>,
    /// Begin each line with when the guest wrote it (UTC).
    #[arg(long, short = 't')]
    timestamps: bool,
    /// Keep printing lines as the task writes them, until it ends (a task
    /// not started yet is waited for).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only lines written in the last DURATION: `90s`, `5m`, `2h`, `1d`
    /// (plain numbers are seconds).
    #[arg(long, value_parser = parse_duration)]
    since: Option<Duration>,
}

pub async fn logs(address: &str, args: LogsArgs) -> anyhow::Result<()> {
    let mut client = crate::client::connect(address).await?;
    let since_micros = match args.since {
        Some(d) => now_micros().saturating_sub(d.as_micros() as u64),
        None => 0,
    };
    let mut query = LogsQuery {
        tail: args.tail.unwrap_or(0),
        from_line: 0,
        since_micros,
    };
    if args.task.starts_with('/') {
        return route_logs(&mut client, &args, query).await;
    }
    let mut printed_any = false;
    loop {
        let read = match client.logs(&args.task, query).await {
            Ok(read) => read,
            Err(ClientError::Rpc(s))
                if args.follow && s.code() == tonic::Code::FailedPrecondition =>
            {
                tokio::time::sleep(FOLLOW_EVERY).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let reply = read.reply;
        if reply.truncated && query.from_line == 0 && query.tail == 0 {
            eprintln!("(older lines of task {} are no longer kept)", args.task);
        }
        printed_any |= !reply.lines.is_empty();
        if !print(&reply.lines, args.timestamps)? {
            return Ok(());
        }
        query.from_line = reply.next_line.max(query.from_line);
        query.tail = 0;
        // A read after the task ended has everything it wrote.
        if !args.follow || !read.running {
            if !printed_any && !reply.found {
                eprintln!("task {} wrote nothing to stdout or stderr", args.task);
            }
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// A route's log, from every live host, merged by time (each line led by
/// its host's id when more than one host serves). A route never ends:
/// `--follow` reads until interrupted or until stdout's reader goes.
async fn route_logs(
    client: &mut weft_client::Client,
    args: &LogsArgs,
    query: LogsQuery,
) -> anyhow::Result<()> {
    let mut log = client.route_logs(&args.task, query).await?;
    anyhow::ensure!(log.hosts() > 0, "no live host serves routes");
    let named = log.hosts() > 1;
    let mut first = true;
    loop {
        let read = log.read(query.tail).await;
        for (host, e) in &read.unread {
            eprintln!("(host {host} cannot be read: {e})");
        }
        if first && read.lines.is_empty() && !args.follow {
            eprintln!("route {} has no handler output on any live host", args.task);
        }
        let shown: Vec<pb::LogLine> = read
            .lines
            .into_iter()
            .map(|(host, mut line)| {
                if named {
                    line.text = format!("{host}: {}", line.text);
                }
                line
            })
            .collect();
        if !print(&shown, args.timestamps)? || !args.follow {
            return Ok(());
        }
        first = false;
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// Writes `lines` to stdout; false once its reader has gone (`| head`),
/// which is not an error.
fn print(lines: &[pb::LogLine], timestamps: bool) -> anyhow::Result<bool> {
    if lines.is_empty() {
        return Ok(true);
    }
    let mut out = String::new();
    for line in lines {
        if timestamps {
            out.push_str(&stamp(line));
            out.push(' ');
        }
        out.push_str(&line.text);
        out.push('\n');
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => other.map(|()| true).map_err(Into::into),
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `90s`, `5m`, `2h`, `1d`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds_per = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`: use s, m, h or d"
            ));
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 5m, 2h or 1d"))?;
    Ok(Duration::from_secs_f64(n * seconds_per))
}

/// `2026-11-30T05:41:02.123456Z` from microseconds since the epoch.
fn stamp(line: &pb::LogLine) -> String {
    utc(line.at_micros)
}

/// Microseconds since the epoch as a UTC time, `2026-11-30T05:41:02.123456Z`.
pub(crate) fn utc(micros: u64) -> String {
    let secs = (micros / 1_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        micros % 1_000_000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(
            parse_duration("3w")
                .unwrap_err()
                .contains("unknown unit `w`")
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn stamps_are_utc_dates() {
        let line = pb::LogLine {
            at_micros: 1_796_017_262_123_456,
            text: String::new(),
        };
        assert_eq!(stamp(&line), "2026-11-30T05:41:02.123456Z");
        let epoch = pb::LogLine::default();
        assert_eq!(stamp(&epoch), "1970-01-01T00:00:00.000000Z");
    }
}
