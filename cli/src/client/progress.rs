//! Progress of long CLI work (indicatif): a bar for bytes moved, a
//! spinner for waits, each with how long it has taken. Drawn on stderr
//! only when stderr is a terminal, so scripts, pipes and tests see nothing
//! of it and stdout keeps only the results.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One long step on the terminal; cleared when dropped.
pub struct Progress(ProgressBar);

impl Progress {
    fn new(bar: ProgressBar) -> Self {
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress(bar)
    }

    /// Bytes being moved, `total` in all: `what` names the step.
    pub fn bytes(what: &str, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(what.to_string());
        Self::new(bar)
    }

    /// A wait with no measure of how far it is: `what` names it.
    pub fn spinner(what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self::new(bar)
    }

    /// How many bytes are done.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }

    /// [`Progress::set`] for a callback that outlives this borrow.
    pub fn setter(&self) -> impl Fn(u64) + Send + Sync + 'static {
        let bar = self.0.clone();
        move |done| bar.set_position(done)
    }

    /// Prints `line` to stdout with the bar out of its way.
    pub fn println(&self, line: &str) {
        self.0.suspend(|| println!("{line}"));
    }

    /// Renames the step under way.
    pub fn say(&self, what: String) {
        self.0.set_message(what);
    }

    /// Moves on to the next step, with a spinner.
    pub fn then(&self, what: &str) {
        self.0.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.0.set_message(what.to_string());
        self.0.enable_steady_tick(Duration::from_millis(100));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Reads `path` whole, showing the bytes read.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let total = file.metadata()?.len();
    let progress = Progress::bytes(&format!("reading {}", path.display()), total);
    let mut data = Vec::with_capacity(total as usize);
    let mut chunk = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        progress.set(data.len() as u64);
    }
    Ok(data)
}

/// Writes `data` to `path`, showing the bytes written.
pub fn write_file(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let progress = Progress::bytes(&format!("writing {}", path.display()), data.len() as u64);
    let mut done = 0;
    for part in data.chunks(8 << 20) {
        file.write_all(part)?;
        done += part.len();
        progress.set(done as u64);
    }
    file.flush()
}
