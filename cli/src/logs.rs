//! `weft logs TASK`: what a task's guest wrote to stdout and stderr, read
//! from the host that ran it.

use weft_proto::v1 as pb;

/// Which task, and how much of its output.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The task's id (as `weft submit` and `weft list tasks` print it).
    task: String,
    /// Only the last N lines.
    #[arg(long, short = 'n')]
    tail: Option<u64>,
    /// Begin each line with when the guest wrote it (UTC).
    #[arg(long, short = 't')]
    timestamps: bool,
}

pub async fn logs(address: &str, args: LogsArgs) -> anyhow::Result<()> {
    let mut client = crate::client_cmds::connect(address).await?;
    let reply = client.logs(&args.task, args.tail.unwrap_or(0)).await?;
    if !reply.found {
        eprintln!("task {} wrote nothing to stdout or stderr", args.task);
        return Ok(());
    }
    if reply.truncated {
        eprintln!("(older lines of task {} are no longer kept)", args.task);
    }
    let mut out = String::new();
    for line in &reply.lines {
        if args.timestamps {
            out.push_str(&stamp(line));
            out.push(' ');
        }
        out.push_str(&line.text);
        out.push('\n');
    }
    use std::io::Write;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `2026-11-30T05:41:02.123456Z` from microseconds since the epoch.
fn stamp(line: &pb::LogLine) -> String {
    let micros = line.at_micros;
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
