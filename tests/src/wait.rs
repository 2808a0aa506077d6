//! Waiting on facts: the suite's one way to wait for something that
//! happens elsewhere (a process starting, a leader being elected, a host
//! being declared dead), instead of a fixed sleep that is too short under
//! load and too long otherwise.
//!
//! A check answers `Ok(value)` once the fact holds, or `Err(why not)`; the
//! last reason is what a timeout reports, so a failure says what was seen.
//!
//! ```no_run
//! use std::time::Duration;
//! let n: u64 = weft_tests::eventually(Duration::from_secs(5), || {
//!     let seen = std::fs::read_to_string("/tmp/count").map_err(|e| e.to_string())?;
//!     seen.trim().parse::<u64>().map_err(|e| e.to_string())
//! })
//! .unwrap();
//! ```

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// The first pause between checks; pauses double up to [`MAX_PAUSE`], so
/// a fact that holds soon is seen soon and a slow one is not polled hard.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Checks `check` until it answers `Ok`, for up to `timeout`; the error
/// names the timeout and the check's last answer.
pub fn eventually<T, E: Display>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(why) if Instant::now() >= deadline => {
                anyhow::bail!("not so within {timeout:?}: {why}")
            }
            Err(_) => {}
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// [`eventually`] for a check that is a future (a test's async client).
pub async fn eventually_async<T, E: Display, F: Future<Output = Result<T, E>>>(
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(why) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("not so within {timeout:?}: {why}")
            }
            Err(_) => {}
        }
        tokio::time::sleep_until((tokio::time::Instant::now() + pause).min(deadline)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// `Ok(())` when `holds`, else `Err(why)`: a yes-or-no fact as a check.
pub fn fact(holds: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if holds { Ok(()) } else { Err(why()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_the_fact_holds() {
        let mut calls = 0;
        let got = eventually(Duration::from_secs(5), || {
            calls += 1;
            if calls < 3 { Err("not yet") } else { Ok(calls) }
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn a_timeout_reports_the_last_reason() {
        let started = Instant::now();
        let mut calls = 0;
        let e = eventually(Duration::from_millis(100), || -> Result<(), String> {
            calls += 1;
            Err(format!("seen {calls}"))
        })
        .unwrap_err()
        .to_string();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(
            e.contains("within 100ms") && e.contains(&format!("seen {calls}")),
            "{e}"
        );
    }

    #[test]
    fn async_checks_are_awaited() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut calls = 0;
        let got = rt.block_on(eventually_async(Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move { if n < 2 { Err("no") } else { Ok(n) } }
        }));
        assert_eq!(got.unwrap(), 2);
        assert!(fact(false, || "why".into()).is_err() && fact(true, String::new).is_ok());
    }
}
