//! What guests write to stdout and stderr, kept on the host that ran them
//! so `weft logs TASK` can read it from anywhere: one file per task under
//! the host's logs dir, each line stamped with when the guest wrote it.
//!
//! A task that writes nothing costs nothing (its file is opened on its
//! first line). Each source keeps at most [`Logs::per_source`] bytes: past
//! it, the file is rotated to `NAME.log.1` (replacing an older one), so a
//! reader gets the newest lines and is told older ones are gone. At most
//! [`MAX_SOURCES`] sources keep files: past that, the oldest file goes.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use weft_proto::v1 as pb;

/// Bytes each source keeps before it rotates: with the rotated file, a
/// reply to `Logs` stays under the host's 2 MiB message limit.
pub const PER_SOURCE: u64 = 1 << 20;

/// Sources with files at once, per host.
pub const MAX_SOURCES: usize = 10_000;

/// Every source's log on this host.
#[derive(Debug, Clone)]
pub struct Logs {
    dir: PathBuf,
    per_source: u64,
    /// Files made, oldest first, to remove past [`MAX_SOURCES`].
    sources: Arc<Mutex<VecDeque<PathBuf>>>,
}

impl Logs {
    /// Logs kept in `dir` (made on first use), at most `per_source` bytes
    /// for each source before rotation.
    pub fn new(dir: impl Into<PathBuf>, per_source: u64) -> Self {
        Logs {
            dir: dir.into(),
            per_source: per_source.max(4096),
            sources: Arc::default(),
        }
    }

    /// Logs in `dir`, emptied of what an earlier run of the host left
    /// (those tasks are gone with it).
    pub fn fresh(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Logs::new(dir, PER_SOURCE))
    }

    /// A writer for `source`'s lines (a task id).
    pub(crate) fn writer(&self, source: &str) -> LogWriter {
        LogWriter {
            inner: Arc::new(Mutex::new(Writer {
                path: self.dir.join(file_name(source)),
                file: None,
                written: 0,
                per_source: self.per_source,
                partial: Vec::new(),
                failed: false,
                sources: self.sources.clone(),
            })),
        }
    }

    /// The last `tail` lines of `source` (all kept when 0), oldest first;
    /// `None` when this host holds none.
    pub(crate) fn read(
        &self,
        source: &str,
        tail: usize,
    ) -> std::io::Result<Option<pb::LogsResponse>> {
        let path = self.dir.join(file_name(source));
        let rotated = rotated_path(&path);
        let mut lines = Vec::new();
        let mut found = false;
        for p in [&rotated, &path] {
            match File::open(p) {
                Ok(file) => {
                    found = true;
                    for line in BufReader::new(file).split(b'\n') {
                        lines.push(parse(&line?));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if !found {
            return Ok(None);
        }
        let truncated = rotated.exists();
        if tail > 0 && lines.len() > tail {
            lines.drain(..lines.len() - tail);
        }
        Ok(Some(pb::LogsResponse {
            lines,
            found,
            truncated,
        }))
    }
}

/// A source's name as a file name: characters outside `[A-Za-z0-9._-]`
/// are escaped, so no id can name a path elsewhere.
fn file_name(source: &str) -> String {
    let mut name = String::with_capacity(source.len() + 4);
    for b in source.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !name.is_empty()) {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".log");
    name
}

fn rotated_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

/// A stored line: `MICROS<TAB>TEXT`.
fn parse(line: &[u8]) -> pb::LogLine {
    let text = String::from_utf8_lossy(line);
    match text.split_once('\t') {
        Some((at, rest)) if at.bytes().all(|b| b.is_ascii_digit()) => pb::LogLine {
            at_micros: at.parse().unwrap_or(0),
            text: rest.to_string(),
        },
        _ => pb::LogLine {
            at_micros: 0,
            text: text.into_owned(),
        },
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Appends one source's lines; shared by the clones of a call's output.
#[derive(Debug, Clone)]
pub struct LogWriter {
    inner: Arc<Mutex<Writer>>,
}

#[derive(Debug)]
struct Writer {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
    per_source: u64,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
    /// Set once writing failed (a full disk): the guest keeps running and
    /// the host says so once.
    failed: bool,
    sources: Arc<Mutex<VecDeque<PathBuf>>>,
}

impl LogWriter {
    /// Takes what a guest wrote; whole lines go to the file stamped now.
    pub(crate) fn write(&self, data: &[u8]) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            if w.partial.is_empty() {
                w.line(line);
            } else {
                let mut joined = std::mem::take(&mut w.partial);
                joined.extend_from_slice(line);
                w.line(&joined);
            }
            rest = &after[1..];
        }
        w.partial.extend_from_slice(rest);
        // A line that never ends is cut, not held without bound.
        if w.partial.len() as u64 > w.per_source / 4 {
            let joined = std::mem::take(&mut w.partial);
            w.line(&joined);
        }
    }

    /// Writes out a last unended line and flushes (the call is over).
    pub(crate) fn finish(&self) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !w.partial.is_empty() {
            let joined = std::mem::take(&mut w.partial);
            w.line(&joined);
        }
        if let Some(file) = &mut w.file
            && let Err(e) = file.flush()
        {
            w.fail(e);
        }
    }
}

impl Writer {
    fn line(&mut self, text: &[u8]) {
        if self.failed {
            return;
        }
        if let Err(e) = self.append(text) {
            self.fail(e);
        }
    }

    fn append(&mut self, text: &[u8]) -> std::io::Result<()> {
        let stamp = now_micros().to_string();
        let size = (stamp.len() + 2 + text.len()) as u64;
        if self.file.is_some() && self.written + size > self.per_source {
            if let Some(mut file) = self.file.take() {
                file.flush()?;
            }
            std::fs::rename(&self.path, rotated_path(&self.path))?;
            self.written = 0;
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.written = file.metadata()?.len();
            if self.written == 0 {
                self.made();
            }
            self.file = Some(BufWriter::with_capacity(64 << 10, file));
        }
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        file.write_all(stamp.as_bytes())?;
        file.write_all(b"\t")?;
        // A tab or carriage return inside the text is kept; a stored line
        // never holds a newline.
        file.write_all(text)?;
        file.write_all(b"\n")?;
        self.written += size;
        Ok(())
    }

    /// Notes a new source's file, removing the oldest past the bound.
    fn made(&self) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources.push_back(self.path.clone());
        while sources.len() > MAX_SOURCES {
            if let Some(old) = sources.pop_front() {
                let _ = std::fs::remove_file(rotated_path(&old));
                let _ = std::fs::remove_file(&old);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        if !self.failed {
            tracing::warn!(path = %self.path.display(), "cannot keep a guest's output: {e}");
        }
        self.failed = true;
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_in_order_with_partial_writes_joined() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::new(dir.path(), 1 << 20);
        let w = logs.writer("task.1-2");
        w.write(b"one\ntw");
        w.write(b"o\nthree");
        w.finish();
        let got = logs.read("task.1-2", 0).unwrap().unwrap();
        let texts: Vec<_> = got.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert!(got.lines.iter().all(|l| l.at_micros > 0));
        assert!(!got.truncated);
        assert_eq!(logs.read("task.1-2", 2).unwrap().unwrap().lines.len(), 2);
        assert!(logs.read("other", 0).unwrap().is_none());
    }

    #[test]
    fn a_source_past_its_bound_rotates_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::new(dir.path(), 4096);
        let w = logs.writer("busy");
        for i in 0..2000 {
            w.write(format!("line {i}\n").as_bytes());
        }
        w.finish();
        let got = logs.read("busy", 0).unwrap().unwrap();
        assert!(got.truncated);
        assert_eq!(got.lines.last().unwrap().text, "line 1999");
        let total: usize = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len() as usize)
            .sum();
        assert!(total <= 2 * 4096, "{total}");
    }

    #[test]
    fn ids_cannot_name_paths_outside_the_dir() {
        assert_eq!(file_name("../x/y"), "%2E.%2Fx%2Fy.log");
        assert_eq!(file_name("call.1.2.3-1"), "call.1.2.3-1.log");
    }
}
