//! What happened, for those who look (issue 18): every event handled and every change of an
//! instance's state becomes a [`Record`], stamped with the wall clock, streamed to the
//! control connections that asked to `monitor`, and kept in a bounded history that
//! `history` (`outsetctl timeline`) reads.
//!
//! Nothing here grows without bound: the history keeps the last [`HISTORY_MAX`] records,
//! and fewer when they are large (at most [`HISTORY_BYTES`] packed), and a watcher that does not read holds at most [`WATCH_BOUND`] bytes of records in its
//! connection's buffer; past that its records are dropped and counted, and once it reads
//! again it is sent one `dropped` record with the count before the next one.

use std::collections::VecDeque;

use outset_engine::NoticeRef;
use outset_proto::{History, Record};

/// Records the history keeps (the oldest go first).
pub const HISTORY_MAX: usize = 4096;
/// Bytes the packed history holds at most (about 33 a state record, more for events with
/// large environments), allocated once at this size so the ring never holds more.
pub const HISTORY_BYTES: usize = 96 * 1024;
/// Bytes of records a watcher's connection may have waiting before records are dropped for
/// it (below the connection's own bound, so a slow watcher is never cut off for it).
pub const WATCH_BOUND: usize = 64 * 1024;

/// The wall clock in milliseconds since the Unix epoch (0 before 1970).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The bounded history: records packed as lines of tab-separated text in one byte ring
/// (about 40 bytes a state record, no allocation per record: memory per job counts, see
/// docs/benchmarks.md), the oldest dropped first.
#[derive(Debug)]
pub struct Observed {
    /// When the daemon first started (a re-exec keeps it).
    pub started_ms: u64,
    /// Packed records, each ending in a newline (see [`pack`]).
    ring: VecDeque<u8>,
    count: usize,
    /// Where a record is packed before it goes into the ring, kept between records: the
    /// records of a start of 5000 jobs are made one after another with the instances, and
    /// a short-lived allocation for each left holes between the long-lived ones.
    scratch: Vec<u8>,
    /// Records that fell out of the history.
    forgotten: u64,
}

/// Appends a field, escaping what separates fields and records.
fn field(out: &mut Vec<u8>, text: &str) {
    out.push(b'\t');
    escaped(out, text);
}

/// Appends `text`, escaping what separates fields and records.
fn escaped(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Names and states hardly ever hold one: copied whole, not byte by byte.
    if !bytes.iter().any(|&b| matches!(b, b'\\' | b'\t' | b'\n')) {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b => out.push(b),
        }
    }
}

fn unescape(f: &[u8]) -> String {
    let mut out = Vec::with_capacity(f.len());
    let mut it = f.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(b't') => out.push(b'\t'),
                Some(b'n') => out.push(b'\n'),
                Some(&o) => out.push(o),
                None => {}
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends a number in decimal (without the formatting machinery: a record is packed for
/// every state change, thousands in a stop of many jobs).
fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// One record as a line into `out`: `E` time name env…, `S` time job instance goal state
/// pid, or `D` time count; the time in milliseconds after `base_ms`.
fn pack_into(out: &mut Vec<u8>, r: RecordRef<'_>, base_ms: u64) {
    let (kind, time_ms) = match r {
        RecordRef::Event { time_ms, .. } => (b'E', time_ms),
        RecordRef::State { time_ms, .. } => (b'S', time_ms),
        RecordRef::Dropped { time_ms, .. } => (b'D', time_ms),
    };
    out.push(kind);
    number(out, time_ms.saturating_sub(base_ms));
    match r {
        RecordRef::Event { name, env, .. } => {
            field(out, name);
            match env {
                EnvRef::Joined(env) => {
                    for e in env {
                        field(out, e);
                    }
                }
                EnvRef::Pairs(env) => {
                    for (k, v) in env {
                        field(out, k);
                        out.push(b'=');
                        escaped(out, v);
                    }
                }
            }
        }
        RecordRef::State {
            job,
            instance,
            goal,
            state,
            pid,
            ..
        } => {
            for f in [job, instance, goal, state] {
                field(out, f);
            }
            out.push(b'\t');
            if let Some(p) = pid {
                number(out, u64::from(p));
            }
        }
        RecordRef::Dropped { count, .. } => {
            out.push(b'\t');
            number(out, count);
        }
    }
    out.push(b'\n');
}

/// An event's variables: `KEY=value` strings (a [`Record`]) or the engine's pairs (a
/// notice).
#[derive(Clone, Copy)]
enum EnvRef<'a> {
    Joined(&'a [String]),
    Pairs(&'a [(String, String)]),
}

/// A record by reference: what a notice or a [`Record`] holds, packed without copies.
#[derive(Clone, Copy)]
enum RecordRef<'a> {
    Event {
        time_ms: u64,
        name: &'a str,
        env: EnvRef<'a>,
    },
    State {
        time_ms: u64,
        job: &'a str,
        instance: &'a str,
        goal: &'a str,
        state: &'a str,
        pid: Option<u32>,
    },
    Dropped {
        time_ms: u64,
        count: u64,
    },
}

impl<'a> RecordRef<'a> {
    fn of_record(r: &'a Record) -> RecordRef<'a> {
        match r {
            Record::Event { time_ms, name, env } => RecordRef::Event {
                time_ms: *time_ms,
                name,
                env: EnvRef::Joined(env),
            },
            Record::State {
                time_ms,
                job,
                instance,
                goal,
                state,
                pid,
            } => RecordRef::State {
                time_ms: *time_ms,
                job,
                instance,
                goal,
                state,
                pid: *pid,
            },
            Record::Dropped { time_ms, count } => RecordRef::Dropped {
                time_ms: *time_ms,
                count: *count,
            },
        }
    }

    /// The record of a notice, if it is one that is watched: events handled, states
    /// entered.
    fn of_notice(n: &NoticeRef<'a>, time_ms: u64) -> Option<RecordRef<'a>> {
        match *n {
            NoticeRef::EventHandled { name, env } => Some(RecordRef::Event {
                time_ms,
                name,
                env: EnvRef::Pairs(env),
            }),
            NoticeRef::StateChanged {
                job,
                instance,
                goal,
                state,
                pid,
            } => Some(RecordRef::State {
                time_ms,
                job,
                instance,
                goal,
                state,
                pid,
            }),
            _ => None,
        }
    }
}

/// A line [`pack_into`] made (without its newline).
fn unpack(line: &[u8], base_ms: u64) -> Option<Record> {
    let mut parts = line.split(|&b| b == b'\t');
    let head = parts.next()?;
    let (kind, time) = head.split_first()?;
    let offset: u64 = std::str::from_utf8(time).ok()?.parse().ok()?;
    let time_ms = base_ms.saturating_add(offset);
    let mut fields = parts.map(unescape);
    Some(match kind {
        b'E' => Record::Event {
            time_ms,
            name: fields.next()?,
            env: fields.collect(),
        },
        b'S' => Record::State {
            time_ms,
            job: fields.next()?,
            instance: fields.next()?,
            goal: fields.next()?,
            state: fields.next()?,
            pid: fields.next()?.parse().ok(),
        },
        b'D' => Record::Dropped {
            time_ms,
            count: fields.next()?.parse().ok()?,
        },
        _ => return None,
    })
}

impl Observed {
    pub fn new(started_ms: u64) -> Observed {
        Observed {
            started_ms,
            ring: VecDeque::with_capacity(HISTORY_BYTES),
            scratch: Vec::with_capacity(256),
            count: 0,
            forgotten: 0,
        }
    }

    pub fn push(&mut self, r: Record) {
        self.push_ref(RecordRef::of_record(&r));
    }

    /// Packs the record of a notice straight into the history (no copy of its strings);
    /// other notices are not kept.
    pub fn push_notice(&mut self, n: &NoticeRef<'_>, time_ms: u64) {
        if let Some(r) = RecordRef::of_notice(n, time_ms) {
            self.push_ref(r);
        }
    }

    fn push_ref(&mut self, r: RecordRef<'_>) {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        pack_into(&mut line, r, self.started_ms);
        // Room is made first, so the ring never grows past its bound.
        while self.count >= HISTORY_MAX
            || (self.count > 0 && self.ring.len() + line.len() > HISTORY_BYTES)
        {
            match self.oldest_len() {
                Some(len) => {
                    self.ring.drain(..len);
                    self.count -= 1;
                    self.forgotten += 1;
                }
                None => break,
            }
        }
        if self.ring.len() + line.len() <= HISTORY_BYTES {
            self.ring.extend(&line);
            self.count += 1;
        } else {
            // One record larger than the whole history: counted, not kept.
            self.forgotten += 1;
        }
        // A huge record's buffer is not kept.
        if line.capacity() <= 4096 {
            self.scratch = line;
        }
    }

    /// The length of the oldest record with its newline (searched in the ring's two
    /// halves as slices: a byte-wise walk of the ring was most of a record's cost).
    fn oldest_len(&self) -> Option<usize> {
        let (a, b) = self.ring.as_slices();
        let nl = |s: &[u8]| s.iter().position(|&c| c == b'\n');
        nl(a).or_else(|| nl(b).map(|i| a.len() + i)).map(|i| i + 1)
    }

    /// How many records were ever pushed (kept and forgotten).
    pub fn total(&self) -> u64 {
        self.forgotten + self.count as u64
    }

    /// The records pushed after the first `seen` of [`Observed::total`], oldest first, and
    /// how many of them the history no longer holds.
    pub fn records_after(&self, seen: u64) -> (u64, Vec<Record>) {
        let new = self.total().saturating_sub(seen);
        let held = usize::try_from(new.min(self.count as u64)).unwrap_or(self.count);
        // Only the newest `held` lines are read (found from the end), not the whole ring:
        // this runs at the end of every loop turn while someone watches.
        let mut start = self.ring.len();
        let mut lines = 0;
        for (i, &b) in self.ring.iter().enumerate().rev() {
            if b == b'\n' {
                if lines == held {
                    break;
                }
                lines += 1;
            }
            start = i;
        }
        let tail: Vec<u8> = self.ring.range(start..).copied().collect();
        let records = tail
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| unpack(l, self.started_ms))
            .collect();
        (new - held as u64, records)
    }

    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let (a, b) = self.ring.as_slices();
        // A record may straddle the ring's two halves: joined only then.
        let joined: Option<Vec<u8>> = (!b.is_empty()).then(|| [a, b].concat());
        let bytes: Vec<u8> = joined.unwrap_or_else(|| a.to_vec());
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| unpack(l, self.started_ms))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// The records since `since_ms` (all when `None`), oldest first.
    pub fn history(&self, since_ms: Option<u64>, now_ms: u64) -> History {
        let since = since_ms.unwrap_or(0);
        History {
            started_ms: self.started_ms,
            now_ms,
            forgotten: self.forgotten,
            records: self.records().filter(|r| r.time_ms() >= since).collect(),
        }
    }

    /// What a re-exec hands over.
    pub fn export(&self) -> crate::state::ObservedState {
        crate::state::ObservedState {
            started_ms: self.started_ms,
            forgotten: self.forgotten,
            records: self.records().collect(),
        }
    }

    /// The history a previous image handed over.
    pub fn import(s: crate::state::ObservedState) -> Observed {
        let mut o = Observed::new(s.started_ms);
        o.forgotten = s.forgotten;
        for r in s.records {
            o.push(r);
        }
        o
    }
}

/// The line a watcher is sent when records were dropped for it.
pub fn dropped_line(count: u64, time_ms: u64) -> String {
    serde_json::to_string(&Record::Dropped { time_ms, count }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11 item 3: the records a turn made are read back from the history for the
    /// watchers; those it no longer holds are counted.
    #[test]
    fn issue11_item3_records_after_counts_what_fell_out() {
        let mut o = Observed::new(0);
        let rec = |t: u64| Record::Dropped {
            time_ms: t,
            count: 1,
        };
        for t in 0..3 {
            o.push(rec(t));
        }
        assert_eq!(o.records_after(1), (0, vec![rec(1), rec(2)]));
        assert_eq!(o.records_after(3), (0, vec![]));
        let n = u64::try_from(HISTORY_MAX).unwrap() + 10;
        for t in 3..n {
            o.push(rec(t));
        }
        assert_eq!(o.total(), n);
        let (lost, records) = o.records_after(5);
        assert_eq!(lost, 5);
        assert_eq!(records.len(), HISTORY_MAX);
        assert_eq!(records.first(), Some(&rec(10)));
        assert_eq!(o.records_after(n - 1), (0, vec![rec(n - 1)]));
    }

    #[test]
    fn issue18_item4_records_pack_and_unpack() {
        let all = [
            Record::Event {
                time_ms: 17,
                name: "a\tb\\c\nd".into(),
                env: vec!["X=1".into(), "Y=".into(), "Z=\t".into()],
            },
            Record::Event {
                time_ms: 18,
                name: "e".into(),
                env: vec![],
            },
            Record::State {
                time_ms: 19,
                job: "j".into(),
                instance: String::new(),
                goal: "start".into(),
                state: "running".into(),
                pid: Some(42),
            },
            Record::State {
                time_ms: 20,
                job: "j".into(),
                instance: "i 1".into(),
                goal: "stop".into(),
                state: "waiting".into(),
                pid: None,
            },
            Record::Dropped {
                time_ms: 21,
                count: 3,
            },
        ];
        let mut o = Observed::new(1);
        for r in &all {
            o.push(r.clone());
        }
        assert_eq!(o.history(None, 30).records, all);
        // Straddling the ring's halves after the oldest went.
        for i in 0..(HISTORY_MAX as u64) {
            o.push(Record::Event {
                time_ms: 100 + i,
                name: "x".into(),
                env: vec![],
            });
        }
        let h = o.history(None, 30);
        assert_eq!(h.records.len(), HISTORY_MAX);
        assert_eq!(h.forgotten, all.len() as u64);
        assert_eq!(h.records[0].time_ms(), 100);
    }

    /// Issue 11 item 3 (RSS at 5000 jobs): the ring is allocated once and never grows, and
    /// large records make it hold fewer, never more bytes.
    #[test]
    fn issue11_item3_history_ring_never_grows() {
        let mut o = Observed::new(1_700_000_000_000);
        let capacity = o.ring.capacity();
        assert!(capacity >= HISTORY_BYTES);
        for i in 0..20_000u64 {
            o.push(Record::Event {
                time_ms: 1_700_000_000_000 + i,
                name: "x".repeat(usize::try_from(i % 300).unwrap()),
                env: vec!["K=V".into()],
            });
            assert!(o.ring.len() <= HISTORY_BYTES);
        }
        assert_eq!(o.ring.capacity(), capacity);
        // Times are kept as offsets from the start, and read back whole.
        let last = o.history(None, 0).records.pop().unwrap();
        assert_eq!(last.time_ms(), 1_700_000_000_000 + 19_999);
    }

    #[test]
    fn issue18_item4_history_keeps_the_last_records() {
        let mut o = Observed::new(1);
        for i in 0..(HISTORY_MAX as u64 + 10) {
            o.push(Record::Event {
                time_ms: i,
                name: "e".into(),
                env: vec![],
            });
        }
        let h = o.history(None, 5);
        assert_eq!(h.records.len(), HISTORY_MAX);
        assert_eq!(h.forgotten, 10);
        assert_eq!(h.records[0].time_ms(), 10);
        assert_eq!(o.history(Some(HISTORY_MAX as u64 + 8), 5).records.len(), 2);
    }

    #[test]
    fn issue18_item4_large_records_are_kept_within_the_byte_bound() {
        let mut o = Observed::new(1);
        for i in 0..3000u64 {
            o.push(Record::Event {
                time_ms: i,
                name: "e".into(),
                env: vec![format!("X={}", "y".repeat(1000))],
            });
        }
        let h = o.history(None, 5);
        assert!(h.records.len() < 300, "{}", h.records.len());
        assert!(o.ring.len() <= HISTORY_BYTES);
        assert_eq!(h.forgotten + h.records.len() as u64, 3000);
        assert_eq!(h.records.last().map(Record::time_ms), Some(2999));
    }
}
