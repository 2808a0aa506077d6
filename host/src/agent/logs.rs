//! What guests write to stdout and stderr, kept on the host that ran them
//! so `weft logs TASK` can read it from anywhere, each line stamped with
//! when the guest wrote it.
//!
//! A file per task would cost every task that prints a create and a
//! close (it cut a printing task's throughput by three quarters), so a
//! host appends every task's lines to one segment file at a time, in
//! chunks (a task's buffered lines, written when it ends or every 64 KiB),
//! and indexes the chunks by task in memory. Segments roll at
//! [`SEGMENT_BYTES`]; the oldest of more than [`SEGMENTS`] is deleted with
//! its chunks, so a host keeps a bounded amount whatever its guests print.
//! Each task keeps at most `per_source` bytes (its oldest chunks go
//! first), and at most [`MAX_SOURCES`] tasks are indexed. A task that
//! writes nothing costs nothing.
//!
//! A running task's lines not yet in a chunk are read from its writer, so
//! `weft logs --follow` sees each line as it is written. Lines are
//! numbered from a source's first (dropped ones included), and a reader
//! asks for those from a number on: a follower never sees a line twice
//! nor skips one still kept.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use weft_proto::v1 as pb;

/// Bytes each source keeps: with its chunks' slack, a reply to `Logs`
/// stays under the host's 2 MiB message limit.
pub const PER_SOURCE: u64 = 1 << 20;

/// Bytes a segment file takes before the next one starts.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// Segments kept: the most a host's logs take on disk is this many times
/// [`SEGMENT_BYTES`].
pub const SEGMENTS: usize = 4;

/// Sources indexed at once, per host.
pub const MAX_SOURCES: usize = 100_000;

/// A task's lines are written to the segment in chunks of about this much.
const CHUNK: usize = 64 << 10;

/// Every source's log on this host.
#[derive(Debug, Clone)]
pub struct Logs {
    inner: Arc<Mutex<Store>>,
    per_source: u64,
    segment_bytes: u64,
}

#[derive(Debug)]
struct Store {
    dir: PathBuf,
    /// The segment being appended to: its number, writer and length.
    current: Option<(u64, BufWriter<File>, u64)>,
    next: u64,
    /// Live segments, oldest first, with the sources that have chunks in
    /// each.
    segments: VecDeque<(u64, Vec<String>)>,
    index: HashMap<String, Source>,
    /// Sources in the order they first wrote, to drop past [`MAX_SOURCES`].
    order: VecDeque<String>,
    /// Set once writing failed (a full disk): guests keep running and the
    /// host says so once.
    failed: bool,
    /// Writers holding lines not yet appended, by source.
    live: HashMap<String, Weak<Mutex<Writer>>>,
}

#[derive(Debug, Default)]
struct Source {
    chunks: VecDeque<Chunk>,
    bytes: u64,
    truncated: bool,
    /// Lines in chunks no longer kept.
    dropped_lines: u64,
    /// Lines appended in all.
    total_lines: u64,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    segment: u64,
    offset: u64,
    len: u64,
    lines: u64,
}

/// Which lines of a source to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery {
    /// The last this many (0: all).
    pub tail: usize,
    /// Only those numbered this or later.
    pub from_line: u64,
    /// Only those written at or after this time, in microseconds since the
    /// Unix epoch.
    pub since_micros: u64,
}

impl Logs {
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
        Ok(Logs::with_bounds(dir, PER_SOURCE, SEGMENT_BYTES))
    }

    fn with_bounds(dir: PathBuf, per_source: u64, segment_bytes: u64) -> Self {
        Logs {
            inner: Arc::new(Mutex::new(Store {
                dir,
                current: None,
                next: 0,
                segments: VecDeque::new(),
                index: HashMap::new(),
                order: VecDeque::new(),
                failed: false,
                live: HashMap::new(),
            })),
            per_source,
            segment_bytes,
        }
    }

    /// A writer for `source`'s lines (a task id): whole lines are kept
    /// in the writer (and read from it while it is live) until a chunk's
    /// worth has gathered or the call ends.
    pub(crate) fn writer(&self, source: &str) -> LogWriter {
        self.make_writer(source, false)
    }

    /// A writer for a source that several calls write at once (a route's
    /// handlers): each whole line goes to the log as it is written, so
    /// the calls' lines interleave in the order they came and each keeps
    /// its own unended line.
    pub(crate) fn shared_writer(&self, source: &str) -> LogWriter {
        self.make_writer(source, true)
    }

    fn make_writer(&self, source: &str, shared: bool) -> LogWriter {
        LogWriter {
            inner: Arc::new(Mutex::new(Writer {
                logs: self.clone(),
                source: source.to_string(),
                lines: Vec::new(),
                partial: Vec::new(),
                count: 0,
                synced: None,
                shared,
            })),
        }
    }

    /// Appends `lines` stamped whole lines of `source`; the source's line
    /// count after them (`None` once writing failed).
    fn append(&self, source: &str, data: &[u8], lines: u64) -> Option<u64> {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if store.failed {
            return None;
        }
        match store.append(source, data, lines, self.per_source, self.segment_bytes) {
            Ok(total) => Some(total),
            Err(e) => {
                tracing::warn!(dir = %store.dir.display(), "cannot keep guests' output: {e}");
                store.failed = true;
                store.current = None;
                None
            }
        }
    }

    /// Lists `writer` as holding lines of `source` not yet appended; the
    /// source's line count, which its lines follow.
    fn go_live(&self, source: &str, writer: &Arc<Mutex<Writer>>) -> u64 {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        store
            .live
            .insert(source.to_string(), Arc::downgrade(writer));
        store.index.get(source).map_or(0, |s| s.total_lines)
    }

    fn leave_live(&self, source: &str) {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        store.live.remove(source);
    }

    /// The lines of `source` that `query` asks for, oldest first; `None`
    /// when this host holds none.
    pub(crate) fn read(
        &self,
        source: &str,
        query: LogQuery,
    ) -> std::io::Result<Option<pb::LogsResponse>> {
        let (chunks, mut truncated, first, total, live, dir) = {
            let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, file, _)) = &mut store.current {
                file.flush()?;
            }
            let live = store.live.get(source).and_then(Weak::upgrade);
            let (chunks, truncated, first, total) = match store.index.get(source) {
                Some(s) => (
                    s.chunks.iter().copied().collect(),
                    s.truncated,
                    s.dropped_lines,
                    s.total_lines,
                ),
                None if live.is_some() => (Vec::new(), false, 0, 0),
                None => return Ok(None),
            };
            (chunks, truncated, first, total, live, store.dir.clone())
        };
        let mut next = first;
        let mut lines = Vec::new();
        let mut keep = |line: &[u8], next: &mut u64| {
            let number = *next;
            *next += 1;
            if number >= query.from_line {
                let line = parse(line);
                if line.at_micros >= query.since_micros {
                    lines.push(line);
                }
            }
        };
        let mut open: Option<(u64, File)> = None;
        for chunk in chunks {
            if open.as_ref().is_none_or(|(n, _)| *n != chunk.segment) {
                match File::open(dir.join(segment_name(chunk.segment))) {
                    Ok(file) => open = Some((chunk.segment, file)),
                    // Rolled away since the index was read.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        truncated = true;
                        open = None;
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some((_, file)) = &open else {
                next += chunk.lines;
                continue;
            };
            let mut bytes = vec![0; chunk.len as usize];
            file.read_exact_at(&mut bytes, chunk.offset)?;
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                keep(line, &mut next);
            }
        }
        // What the writer holds follows the chunks read only if it has
        // appended none since: otherwise the next read has those lines.
        if let Some(writer) = live {
            let w = writer.lock().unwrap_or_else(|p| p.into_inner());
            if w.synced == Some(total) {
                for line in w.lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    keep(line, &mut next);
                }
            }
        }
        if query.tail > 0 && lines.len() > query.tail {
            lines.drain(..lines.len() - query.tail);
        }
        Ok(Some(pb::LogsResponse {
            lines,
            found: true,
            truncated,
            next_line: next.max(query.from_line),
        }))
    }
}

impl Store {
    fn append(
        &mut self,
        source: &str,
        data: &[u8],
        lines: u64,
        per_source: u64,
        segment_bytes: u64,
    ) -> std::io::Result<u64> {
        let len = data.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|(_, _, at)| *at > 0 && at + len > segment_bytes)
            && let Some((_, mut file, _)) = self.current.take()
        {
            file.flush()?;
        }
        if self.current.is_none() {
            let number = self.next;
            self.next += 1;
            let file = File::create(self.dir.join(segment_name(number)))?;
            self.current = Some((number, BufWriter::with_capacity(CHUNK, file), 0));
            self.segments.push_back((number, Vec::new()));
            while self.segments.len() > SEGMENTS {
                self.drop_oldest_segment();
            }
        }
        let Some((number, file, at)) = &mut self.current else {
            return Ok(0);
        };
        let chunk = Chunk {
            segment: *number,
            offset: *at,
            len,
            lines,
        };
        file.write_all(data)?;
        *at += len;

        if !self.index.contains_key(source) {
            self.order.push_back(source.to_string());
            while self.order.len() > MAX_SOURCES {
                if let Some(old) = self.order.pop_front() {
                    self.index.remove(&old);
                }
            }
        }
        let entry = self.index.entry(source.to_string()).or_default();
        if entry
            .chunks
            .back()
            .is_none_or(|c| c.segment != chunk.segment)
            && let Some((_, sources)) = self.segments.back_mut()
        {
            sources.push(source.to_string());
        }
        entry.chunks.push_back(chunk);
        entry.bytes += len;
        entry.total_lines += lines;
        while entry.bytes > per_source && entry.chunks.len() > 1 {
            if let Some(old) = entry.chunks.pop_front() {
                entry.forget(old);
            }
        }
        Ok(entry.total_lines)
    }

    /// Deletes the oldest segment and the chunks in it.
    fn drop_oldest_segment(&mut self) {
        let Some((number, sources)) = self.segments.pop_front() else {
            return;
        };
        let _ = std::fs::remove_file(self.dir.join(segment_name(number)));
        for source in sources {
            if let Some(entry) = self.index.get_mut(&source) {
                while entry.chunks.front().is_some_and(|c| c.segment == number) {
                    if let Some(old) = entry.chunks.pop_front() {
                        entry.forget(old);
                    }
                }
                // A running source keeps its count, so its lines keep
                // their numbers.
                if entry.chunks.is_empty() && !self.live.contains_key(&source) {
                    self.index.remove(&source);
                }
            }
        }
    }
}

impl Source {
    /// Drops a chunk that is no longer kept.
    fn forget(&mut self, chunk: Chunk) {
        self.bytes -= chunk.len;
        self.dropped_lines += chunk.lines;
        self.truncated = true;
    }
}

fn segment_name(number: u64) -> String {
    format!("{number:08}.log")
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

/// One source's lines on their way to the host's log; shared by the
/// clones of a call's output.
#[derive(Debug, Clone)]
pub struct LogWriter {
    inner: Arc<Mutex<Writer>>,
}

#[derive(Debug)]
struct Writer {
    logs: Logs,
    source: String,
    /// Stamped whole lines not yet appended.
    lines: Vec<u8>,
    /// How many.
    count: u64,
    /// The source's line count that `lines` follow, once it holds any
    /// (and is listed as live for readers).
    synced: Option<u64>,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
    /// Other writers write the source too: lines go out at once, and the
    /// writer is never listed as live.
    shared: bool,
}

impl crate::services::LogSink for LogWriter {
    fn write(&self, data: &[u8]) {
        LogWriter::write(self, data)
    }

    fn finish(&self) {
        LogWriter::finish(self)
    }
}

impl LogWriter {
    /// Takes what a guest wrote; whole lines are stamped now.
    pub(crate) fn write(&self, data: &[u8]) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !w.shared && w.synced.is_none() && data.contains(&b'\n') {
            let synced = w.logs.go_live(&w.source, &self.inner);
            w.synced = Some(synced);
        }
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
        if w.partial.len() >= CHUNK {
            let joined = std::mem::take(&mut w.partial);
            w.line(&joined);
        }
        if w.lines.len() >= CHUNK || (w.shared && w.count > 0) {
            w.append();
        }
    }

    /// Writes out what is buffered, a last unended line included (the
    /// call is over).
    pub(crate) fn finish(&self) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !w.partial.is_empty() {
            let joined = std::mem::take(&mut w.partial);
            w.line(&joined);
        }
        w.append();
        if w.synced.take().is_some() {
            w.logs.leave_live(&w.source);
        }
    }
}

impl Writer {
    fn line(&mut self, text: &[u8]) {
        // A stored line never holds a newline; tabs and carriage returns
        // in the text are kept.
        // Writing to a Vec cannot fail.
        let _ = write!(self.lines, "{}\t", now_micros());
        self.lines.extend_from_slice(text);
        self.lines.push(b'\n');
        self.count += 1;
    }

    fn append(&mut self) {
        if !self.lines.is_empty() {
            if let Some(total) = self.logs.append(&self.source, &self.lines, self.count)
                && self.synced.is_some()
            {
                self.synced = Some(total);
            }
            self.lines.clear();
            self.count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(n: usize) -> LogQuery {
        LogQuery {
            tail: n,
            ..LogQuery::default()
        }
    }

    fn texts(reply: &pb::LogsResponse) -> Vec<&str> {
        reply.lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn lines_come_back_in_order_with_partial_writes_joined() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::fresh(dir.path().join("logs")).unwrap();
        let w = logs.writer("task.1-2");
        let other = logs.writer("task.3-4");
        w.write(b"one\ntw");
        other.write(b"elsewhere\n");
        other.finish();
        w.write(b"o\nthree");
        w.finish();
        let got = logs.read("task.1-2", tail(0)).unwrap().unwrap();
        assert_eq!(texts(&got), ["one", "two", "three"]);
        assert!(got.lines.iter().all(|l| l.at_micros > 0));
        assert!(!got.truncated);
        let last = logs.read("task.1-2", tail(2)).unwrap().unwrap();
        assert_eq!(texts(&last), ["two", "three"]);
        assert_eq!(
            texts(&logs.read("task.3-4", tail(0)).unwrap().unwrap()),
            ["elsewhere"]
        );
        assert!(logs.read("nobody", tail(0)).unwrap().is_none());
    }

    #[test]
    fn shared_writers_interleave_whole_lines_and_keep_their_own_partials() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::fresh(dir.path().join("logs")).unwrap();
        let (a, b) = (
            logs.shared_writer("route:/x"),
            logs.shared_writer("route:/x"),
        );
        a.write(b"a1\na");
        b.write(b"b1\nb");
        // Whole lines are readable at once, while both calls still run.
        let now = logs.read("route:/x", tail(0)).unwrap().unwrap();
        assert_eq!(texts(&now), ["a1", "b1"]);
        a.write(b"2\n");
        b.finish();
        a.finish();
        let got = logs.read("route:/x", tail(0)).unwrap().unwrap();
        assert_eq!(texts(&got), ["a1", "b1", "a2", "b"]);
        assert_eq!(got.next_line, 4);
    }

    #[test]
    fn a_source_keeps_its_newest_lines_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::with_bounds(dir.path().to_path_buf(), CHUNK as u64 * 2, 1 << 30);
        let w = logs.writer("busy");
        for i in 0..20_000 {
            w.write(format!("line {i}\n").as_bytes());
        }
        w.finish();
        let got = logs.read("busy", tail(0)).unwrap().unwrap();
        assert!(got.truncated);
        assert_eq!(got.lines.last().unwrap().text, "line 19999");
        let kept: usize = got.lines.iter().map(|l| l.text.len() + 18).sum();
        assert!(kept <= 3 * CHUNK, "{kept}");
        // What it kept is a run of consecutive lines.
        let first: usize = got.lines[0].text[5..].parse().unwrap();
        assert_eq!(first + got.lines.len(), 20_000);
    }

    #[test]
    fn old_segments_go_with_their_chunks_and_disk_use_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::with_bounds(dir.path().to_path_buf(), 1 << 20, 4096);
        for task in 0..400 {
            let w = logs.writer(&format!("t{task}"));
            w.write(format!("task {task} says hello with a few more bytes\n").as_bytes());
            w.finish();
        }
        assert!(
            logs.read("t0", tail(0)).unwrap().is_none(),
            "the oldest task's segment is gone"
        );
        let last = logs.read("t399", tail(0)).unwrap().unwrap();
        assert_eq!(texts(&last), ["task 399 says hello with a few more bytes"]);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(files <= SEGMENTS, "{files}");
        let disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(disk <= SEGMENTS as u64 * 4096 + 4096, "{disk}");
    }

    #[test]
    fn a_running_sources_lines_are_read_as_written_and_numbered_for_followers() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::fresh(dir.path().join("logs")).unwrap();
        let w = logs.writer("running");
        w.write(b"one\ntwo\nthr");
        // Nothing appended yet: the lines come from the writer.
        let got = logs.read("running", LogQuery::default()).unwrap().unwrap();
        assert_eq!(texts(&got), ["one", "two"]);
        assert_eq!(got.next_line, 2);
        // Appended past a chunk's worth, then more held: both, in order.
        for i in 0..3_000 {
            w.write(format!("ee\nline {i}: {}", "x".repeat(20)).as_bytes());
        }
        w.write(b"\nlast\n");
        let from = |n| LogQuery {
            from_line: n,
            ..LogQuery::default()
        };
        let all = logs.read("running", from(0)).unwrap().unwrap();
        assert_eq!(all.next_line, 3_004);
        assert_eq!(all.lines.len(), 3_004);
        assert_eq!(all.lines[2].text, "three");
        assert_eq!(all.lines[3_003].text, "last");
        let newer = logs.read("running", from(3_002)).unwrap().unwrap();
        assert_eq!(texts(&newer)[1], "last");
        w.finish();
        let done = logs.read("running", from(3_004)).unwrap().unwrap();
        assert!(done.lines.is_empty());
        assert_eq!(done.next_line, 3_004);

        // Lines written before `since` are left out.
        let later = LogQuery {
            since_micros: now_micros() + 1_000_000,
            ..LogQuery::default()
        };
        assert!(
            logs.read("running", later)
                .unwrap()
                .unwrap()
                .lines
                .is_empty()
        );
        let earlier = LogQuery {
            since_micros: now_micros() - 60_000_000,
            ..LogQuery::default()
        };
        assert_eq!(
            logs.read("running", earlier).unwrap().unwrap().lines.len(),
            3_004
        );
    }
}
