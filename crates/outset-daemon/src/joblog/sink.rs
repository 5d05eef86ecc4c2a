//! One log file: writing in order, holding output in memory while the file cannot be
//! opened, counting and marking what is lost, rotating at the size cap.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

use outset_job::LogRotate;

use super::{BUFFER_PER_JOB, BUFFER_TOTAL, RETRY_EVERY, TIMES_KEPT};

/// What every sink shares: where files go, how they are made, the memory bound.
pub(super) struct Env {
    pub dir: std::path::PathBuf,
    /// 0640 (system) or 0600 (user).
    pub mode: u32,
    /// Bytes held in memory by every sink together.
    pub buffered: usize,
    pub now: Instant,
    /// Milliseconds since the Unix epoch, for `outsetctl log --json`.
    pub wall_ms: u64,
}

/// The text that marks lost output in the file.
pub fn marker(bytes: u64) -> String {
    format!("[outset: {bytes} bytes dropped]\n")
}

pub(super) struct Sink {
    /// The file's name in the log directory.
    pub name: String,
    file: Option<File>,
    /// The file's inode (0 before it exists), for `outsetctl log -f` cursors.
    pub ino: u64,
    /// Output not on disk yet, in order after the file's end.
    pub pending: Vec<u8>,
    /// Bytes lost and not marked in the file yet.
    pub dropped: u64,
    /// What is left to write of a marker a full disk cut short.
    marker_rest: Vec<u8>,
    /// The count `marker_rest` reports.
    marker_count: u64,
    /// The stream's last byte (written or held) ended a line.
    at_line_start: bool,
    pub rotate: LogRotate,
    /// Live ptys writing here.
    pub captures: usize,
    /// When the file may next be tried (after it could not be opened).
    next_try: Option<Instant>,
    /// Why it could not be opened last; a refusal (a symlink, not a regular file, a full
    /// disk) drops output instead of holding it.
    pub blocked: Option<io::Error>,
    /// (inode, end offset, wall ms) of the last chunks read, for `--json` times; inode 0
    /// is a position in `pending`.
    pub times: VecDeque<(u64, u64, u64)>,
}

impl Sink {
    pub fn new(name: String, rotate: LogRotate) -> Sink {
        Sink {
            name,
            file: None,
            ino: 0,
            pending: Vec::new(),
            dropped: 0,
            marker_rest: Vec::new(),
            marker_count: 0,
            at_line_start: true,
            rotate,
            captures: 0,
            next_try: None,
            blocked: None,
            times: VecDeque::new(),
        }
    }

    /// What a re-exec hands over (the file itself is opened again by the new image).
    pub fn export(&self) -> crate::state::SinkState {
        crate::state::SinkState {
            name: self.name.clone(),
            max_size: self.rotate.max_size,
            keep: self.rotate.keep,
            pending: self.pending.clone(),
            dropped: self.dropped,
            marker_rest: self.marker_rest.clone(),
            marker_count: self.marker_count,
            at_line_start: self.at_line_start,
        }
    }

    /// A sink the previous image handed over; its held bytes count in `buffered`.
    pub fn import(s: crate::state::SinkState) -> Sink {
        let mut sink = Sink::new(
            s.name,
            LogRotate {
                max_size: s.max_size,
                keep: s.keep,
            },
        );
        sink.pending = s.pending;
        sink.dropped = s.dropped;
        sink.marker_rest = s.marker_rest;
        sink.marker_count = s.marker_count;
        sink.at_line_start = s.at_line_start;
        sink
    }

    /// Nothing is left to write or to mark: the sink can go once no pty writes to it.
    pub fn idle(&self) -> bool {
        self.pending.is_empty() && self.dropped == 0 && self.marker_rest.is_empty()
    }

    /// Whether it waits for the disk: output held, or a loss not yet marked (a job gone
    /// quiet after a full disk still gets its marker once there is room).
    pub fn waiting(&self) -> bool {
        !self.idle()
    }

    /// Closes the file; the next write opens the path again (SIGHUP, `reload-configuration`:
    /// logrotate has renamed it).
    pub fn reopen(&mut self) {
        self.file = None;
        self.next_try = None;
    }

    /// Lets the next write try the disk at once (`notify-disk-writeable`).
    pub fn retry_now(&mut self) {
        self.next_try = None;
    }

    fn record_time(&mut self, ino: u64, end: u64, env: &Env) {
        if self.times.len() >= TIMES_KEPT {
            self.times.pop_front();
        }
        self.times.push_back((ino, end, env.wall_ms));
    }

    /// One chunk of the job's output, after everything before it.
    pub fn accept(&mut self, data: &[u8], env: &mut Env) {
        if data.is_empty() {
            return;
        }
        if self.file.is_none() && !self.open(env) {
            return self.hold(data, env);
        }
        if !self.pending.is_empty() && !self.flush(env) {
            return self.hold(data, env);
        }
        self.write(data, env);
    }

    /// Writes what is held if the disk takes it now; true when nothing is held any more.
    pub fn flush(&mut self, env: &mut Env) -> bool {
        if self.file.is_none() && !self.open(env) {
            return self.pending.is_empty();
        }
        if self.pending.is_empty() {
            if self.dropped > 0 || !self.marker_rest.is_empty() {
                self.write(&[], env);
            }
            return true;
        }
        let held = std::mem::take(&mut self.pending);
        env.buffered = env.buffered.saturating_sub(held.len());
        // Held chunks' times move to where they land in the file.
        let base = self.file_size();
        for t in self.times.iter_mut().filter(|t| t.0 == 0) {
            *t = (self.ino, base + t.1, t.2);
        }
        // What was lost came after everything held: its marker follows the held output.
        let lost = std::mem::take(&mut self.dropped);
        self.write(&held, env);
        self.dropped += lost;
        if self.dropped > 0 && self.file.is_some() && self.pending.is_empty() {
            self.write(&[], env);
        }
        self.pending.is_empty() && self.file.is_some()
    }

    fn file_size(&self) -> u64 {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len())
    }

    /// Opens the file unless it failed a moment ago.
    fn open(&mut self, env: &mut Env) -> bool {
        if self.next_try.is_some_and(|t| env.now < t) {
            return false;
        }
        let opened = outset_sys::logfile::open_dir(&env.dir)
            .and_then(|dir| outset_sys::logfile::open_append(&dir, &self.name, env.mode));
        match opened {
            Ok(f) => {
                self.ino = f.metadata().map_or(0, |m| m.ino());
                self.file = Some(f);
                self.next_try = None;
                if self.blocked.take().is_some() {
                    log::info!(
                        "job log {}: writable again",
                        env.dir.join(&self.name).display()
                    );
                }
                true
            }
            Err(e) => {
                if self.blocked.is_none() {
                    let what = if refused(&e) {
                        "output is dropped and counted"
                    } else {
                        "output is held in memory"
                    };
                    log::warn!(
                        "job log {}: {e}; {what} until it can be written",
                        env.dir.join(&self.name).display()
                    );
                }
                self.blocked = Some(e);
                self.next_try = Some(env.now + RETRY_EVERY);
                false
            }
        }
    }

    /// Keeps output in memory while the file cannot be opened, within the bounds; what
    /// does not fit is counted, and marked where it was lost.
    fn hold(&mut self, data: &[u8], env: &mut Env) {
        let len = data.len() as u64;
        if self.blocked.as_ref().is_some_and(refused) {
            self.dropped += len;
            return;
        }
        let mut room = BUFFER_PER_JOB
            .saturating_sub(self.pending.len())
            .min(BUFFER_TOTAL.saturating_sub(env.buffered));
        if self.dropped > 0 {
            let m = self.marker_text();
            if m.len() > room {
                self.dropped += len;
                return;
            }
            self.dropped = 0;
            self.push_pending(m.as_bytes(), env);
            room -= m.len();
        }
        let n = data.len().min(room);
        self.push_pending(&data[..n], env);
        self.dropped += (data.len() - n) as u64;
        let end = self.pending.len() as u64;
        self.record_time(0, end, env);
    }

    fn push_pending(&mut self, bytes: &[u8], env: &mut Env) {
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
        }
        self.pending.extend_from_slice(bytes);
        env.buffered += bytes.len();
    }

    fn marker_text(&self) -> String {
        let m = marker(self.dropped);
        if self.at_line_start {
            m
        } else {
            format!("\n{m}")
        }
    }

    /// Writes to the open file: first any marker owed, then `data`. A full disk drops
    /// (and counts) what did not fit; any other failure closes the file and holds the rest.
    fn write(&mut self, data: &[u8], env: &mut Env) {
        let Some(file) = &self.file else {
            return self.hold(data, env);
        };
        // Upstart's rule: a file unlinked under us (logrotate without SIGHUP) is made
        // again. The size also follows a copytruncate.
        let mut size = match file.metadata() {
            Ok(m) if m.nlink() == 0 => {
                self.file = None;
                self.next_try = None;
                if !self.open(env) {
                    return self.hold(data, env);
                }
                0
            }
            Ok(m) => m.len(),
            Err(e) => return self.failed(e, data, env),
        };
        let fresh = self.marker_rest.is_empty();
        if fresh && self.dropped > 0 {
            self.marker_rest = self.marker_text().into_bytes();
            self.marker_count = self.dropped;
            self.dropped = 0;
        }
        if !self.marker_rest.is_empty() {
            let m = std::mem::take(&mut self.marker_rest);
            match self.write_raw(&m) {
                Ok(()) => {
                    self.at_line_start = true;
                    size += m.len() as u64;
                }
                Err((0, e)) if fresh => {
                    // Not a byte of it went: the marker is made again later with the
                    // count then, so one marker reports the whole loss.
                    self.dropped = self.marker_count;
                    if is_full(&e) {
                        self.dropped += data.len() as u64;
                        return;
                    }
                    return self.failed(e, data, env);
                }
                Err((n, e)) => {
                    self.marker_rest = m.get(n..).unwrap_or_default().to_vec();
                    if is_full(&e) {
                        self.dropped += data.len() as u64;
                        return;
                    }
                    return self.failed(e, data, env);
                }
            }
        }
        let mut rest = data;
        while !rest.is_empty() {
            let mut len = self.piece(size, rest);
            if len == 0 {
                if self.rotate(env) {
                    size = 0;
                    continue;
                }
                // Could not rotate: the file grows past the cap rather than lose output.
                len = rest.len();
            }
            let (piece, after) = rest.split_at(len.min(rest.len()));
            match self.write_raw(piece) {
                // Where the piece ends in the file, as far as this sink wrote it.
                Ok(()) => {
                    size += piece.len() as u64;
                    self.record_time(self.ino, size, env);
                }
                Err((n, e)) if is_full(&e) => {
                    self.dropped += (rest.len() - n) as u64;
                    return;
                }
                Err((n, e)) => return self.failed(e, rest.get(n..).unwrap_or_default(), env),
            }
            rest = after;
        }
    }

    /// How much of `rest` goes into the current file of `size` bytes: all of it within the
    /// cap, else up to the last line end that fits (a line longer than the cap is cut at it
    /// in an empty file); 0 means rotate first.
    fn piece(&self, size: u64, rest: &[u8]) -> usize {
        let max = self.rotate.max_size;
        if max == 0 || size + rest.len() as u64 <= max {
            return rest.len();
        }
        let room = usize::try_from(max.saturating_sub(size)).unwrap_or(usize::MAX);
        let window = rest.get(..room.min(rest.len())).unwrap_or_default();
        match window.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if size == 0 => window.len(),
            None => 0,
        }
    }

    /// A write failure other than a full disk: the file is closed and tried again later;
    /// the output is held meanwhile.
    fn failed(&mut self, e: io::Error, rest: &[u8], env: &mut Env) {
        log::warn!(
            "job log {}: {e}; holding output in memory",
            env.dir.join(&self.name).display()
        );
        self.file = None;
        self.next_try = Some(env.now + RETRY_EVERY);
        self.blocked = Some(e);
        self.hold(rest, env);
    }

    /// All of `bytes`, or how many went before the error.
    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
        let Some(file) = &mut self.file else {
            return Err((0, io::Error::from(io::ErrorKind::NotConnected)));
        };
        let mut done = 0;
        while done < bytes.len() {
            match file.write(&bytes[done..]) {
                Ok(0) => return Err((done, io::Error::from(io::ErrorKind::StorageFull))),
                Ok(n) => {
                    done += n;
                    if let Some(&last) = bytes.get(done - 1) {
                        self.at_line_start = last == b'\n';
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((done, e)),
            }
        }
        Ok(())
    }

    /// Rotates: `NAME` becomes `NAME.1` (the older ones move up) and a new `NAME` is
    /// opened; with `keep` 0 the file is emptied instead. Returns whether the file is a
    /// new, empty one now.
    fn rotate(&mut self, env: &mut Env) -> bool {
        let keep = self.rotate.keep;
        let dir = match outset_sys::logfile::open_dir(&env.dir) {
            Ok(d) => d,
            Err(e) => {
                log::warn!("job log {}: cannot rotate: {e}", self.name);
                return false;
            }
        };
        let result = if keep == 0 {
            self.file.as_ref().map_or(Ok(()), |f| f.set_len(0))
        } else {
            rotate_names(&dir, &self.name, keep)
        };
        if let Err(e) = result {
            log::warn!("job log {}: cannot rotate: {e}", self.name);
            return false;
        }
        if keep > 0 {
            self.file = None;
            self.next_try = None;
            if !self.open(env) {
                log::warn!("job log {}: cannot open after rotating", self.name);
                return false;
            }
        }
        true
    }
}

/// `NAME.(keep-1)` → `NAME.keep`, …, `NAME` → `NAME.1`.
fn rotate_names(dir: &std::os::fd::OwnedFd, name: &str, keep: u32) -> io::Result<()> {
    outset_sys::logfile::remove(dir, &format!("{name}.{keep}"))?;
    for k in (1..keep).rev() {
        match outset_sys::logfile::rename(dir, &format!("{name}.{k}"), &format!("{name}.{}", k + 1))
        {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    outset_sys::logfile::rename(dir, name, &format!("{name}.1"))
}

/// The disk (or quota) is full: output is dropped, never held (Upstart's choice: a full
/// disk may last).
fn is_full(e: &io::Error) -> bool {
    outset_sys::logfile::is_full(e)
}

/// The path is refused rather than not there yet: drop instead of holding.
fn refused(e: &io::Error) -> bool {
    outset_sys::logfile::is_refusal(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &std::path::Path) -> Env {
        Env {
            dir: dir.to_path_buf(),
            mode: 0o600,
            buffered: 0,
            now: Instant::now(),
            wall_ms: 1,
        }
    }

    /// Issue 14 item 2: held in order while the directory is missing, the excess counted and
    /// marked after what was held, then written through once it exists.
    #[test]
    fn issue14_item2_held_then_marked_then_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let mut e = env(&dir);
        let mut s = Sink::new("j.log".into(), LogRotate::OFF);
        let chunk = vec![b'x'; 1023];
        let mut line = chunk.clone();
        line.push(b'\n');
        for _ in 0..300 {
            s.accept(&line, &mut e);
        }
        assert_eq!(s.pending.len(), BUFFER_PER_JOB);
        assert_eq!(e.buffered, BUFFER_PER_JOB);
        assert_eq!(s.dropped, 300 * 1024 - BUFFER_PER_JOB as u64);
        std::fs::create_dir(&dir).unwrap();
        s.retry_now();
        assert!(s.flush(&mut e));
        s.accept(b"after\n", &mut e);
        let text = std::fs::read_to_string(dir.join("j.log")).unwrap();
        let tail = format!("{}after\n", marker(300 * 1024 - BUFFER_PER_JOB as u64));
        assert_eq!(&text[BUFFER_PER_JOB..], tail);
        assert_eq!(e.buffered, 0);
        assert!(s.idle());
    }

    /// Issue 14 item 3: rotation at the cap keeps `keep` files.
    #[test]
    fn issue14_item3_rotates_at_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let mut e = env(tmp.path());
        let mut s = Sink::new(
            "r.log".into(),
            LogRotate {
                max_size: 100,
                keep: 2,
            },
        );
        for i in 0..20 {
            s.accept(format!("line {i:03}\n").as_bytes(), &mut e);
        }
        // A chunk far over the cap is split at line ends across files.
        let big: String = (20..40).map(|i| format!("line {i:03}\n")).collect();
        s.accept(big.as_bytes(), &mut e);
        for f in ["r.log", "r.log.1", "r.log.2"] {
            let len = std::fs::metadata(tmp.path().join(f)).unwrap().len();
            assert!(len > 0 && len <= 100, "{f}: {len}");
        }
        assert!(!tmp.path().join("r.log.3").exists());
        assert!(
            std::fs::read_to_string(tmp.path().join("r.log"))
                .unwrap()
                .ends_with("line 039\n")
        );
    }
}
