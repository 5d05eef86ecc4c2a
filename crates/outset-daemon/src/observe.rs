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

/// The bounded history: records packed end to end in one byte ring (about 35 bytes a state
/// record, no allocation per record: memory per job counts, see docs/benchmarks.md), the
/// oldest dropped first. Each record is its length (two bytes, little-endian, the length
/// included), a kind byte, then varints and length-prefixed strings (see [`pack_into`]):
/// nothing is escaped or formatted, and the oldest record's end is read, not searched for.
#[derive(Debug)]
pub struct Observed {
    /// When the daemon first started (a re-exec keeps it).
    pub started_ms: u64,
    /// Packed records (see [`pack_into`]).
    ring: VecDeque<u8>,
    count: usize,
    /// Where a record is packed before it goes into the ring, kept between records: the
    /// records of a start of 5000 jobs are made one after another with the instances, and
    /// a short-lived allocation for each left holes between the long-lived ones.
    scratch: Vec<u8>,
    /// Records that fell out of the history.
    forgotten: u64,
}

/// Appends `n` as a LEB128 varint.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        if shift >= 64 {
            return None;
        }
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
    }
}

/// Appends a string, its length first.
fn text(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends `KEY=value` as one string.
fn pair(out: &mut Vec<u8>, k: &str, v: &str) {
    varint(out, (k.len() + 1 + v.len()) as u64);
    out.extend_from_slice(k.as_bytes());
    out.push(b'=');
    out.extend_from_slice(v.as_bytes());
}

fn read_text(b: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(read_varint(b)?).ok()?;
    if len > b.len() {
        return None;
    }
    let (s, rest) = b.split_at(len);
    *b = rest;
    Some(String::from_utf8_lossy(s).into_owned())
}

/// Bytes of a record's length field.
const LEN_BYTES: usize = 2;

/// One record into `out` (cleared first): its length, then `E` time name count env…,
/// `S` time job instance goal state pid (0: none), or `D` time count; the time in
/// milliseconds after `base_ms`. False when the record is too long for its length field.
fn pack_into(out: &mut Vec<u8>, r: RecordRef<'_>, base_ms: u64) -> bool {
    out.clear();
    out.extend_from_slice(&[0; LEN_BYTES]);
    let (kind, time_ms) = match r {
        RecordRef::Event { time_ms, .. } => (b'E', time_ms),
        RecordRef::State { time_ms, .. } => (b'S', time_ms),
        RecordRef::Dropped { time_ms, .. } => (b'D', time_ms),
    };
    out.push(kind);
    varint(out, time_ms.saturating_sub(base_ms));
    match r {
        RecordRef::Event { name, env, .. } => {
            text(out, name);
            match env {
                EnvRef::Joined(env) => {
                    varint(out, env.len() as u64);
                    for e in env {
                        text(out, e);
                    }
                }
                EnvRef::Pairs(env) => {
                    varint(out, env.len() as u64);
                    for (k, v) in env {
                        pair(out, k, v);
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
                text(out, f);
            }
            varint(out, pid.map_or(0, u64::from));
        }
        RecordRef::Dropped { count, .. } => varint(out, count),
    }
    match u16::try_from(out.len()) {
        Ok(len) => {
            out[..LEN_BYTES].copy_from_slice(&len.to_le_bytes());
            true
        }
        Err(_) => false,
    }
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

/// A record [`pack_into`] made, without its length field.
fn unpack(mut b: &[u8], base_ms: u64) -> Option<Record> {
    let (&kind, rest) = b.split_first()?;
    b = rest;
    let time_ms = base_ms.saturating_add(read_varint(&mut b)?);
    Some(match kind {
        b'E' => {
            let name = read_text(&mut b)?;
            let n = read_varint(&mut b)?;
            let env = (0..n)
                .map(|_| read_text(&mut b))
                .collect::<Option<Vec<_>>>()?;
            Record::Event { time_ms, name, env }
        }
        b'S' => Record::State {
            time_ms,
            job: read_text(&mut b)?,
            instance: read_text(&mut b)?,
            goal: read_text(&mut b)?,
            state: read_text(&mut b)?,
            pid: u32::try_from(read_varint(&mut b)?).ok().filter(|p| *p != 0),
        },
        b'D' => Record::Dropped {
            time_ms,
            count: read_varint(&mut b)?,
        },
        _ => return None,
    })
}

/// The records packed end to end in `bytes`, each without its length field.
fn split_records(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let head = bytes.get(..LEN_BYTES)?;
        let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
        let rec = bytes.get(LEN_BYTES..len)?;
        bytes = &bytes[len..];
        Some(rec)
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
        let mut rec = std::mem::take(&mut self.scratch);
        let packed = pack_into(&mut rec, r, self.started_ms);
        // Room is made first, so the ring never grows past its bound.
        while packed
            && (self.count >= HISTORY_MAX
                || (self.count > 0 && self.ring.len() + rec.len() > HISTORY_BYTES))
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
        if packed && self.ring.len() + rec.len() <= HISTORY_BYTES {
            self.ring.extend(&rec);
            self.count += 1;
        } else {
            // One record larger than the whole history: counted, not kept.
            self.forgotten += 1;
        }
        // A huge record's buffer is not kept.
        if rec.capacity() <= 4096 {
            self.scratch = rec;
        }
    }

    /// The length of the oldest record, read from its length field.
    fn oldest_len(&self) -> Option<usize> {
        let len = u16::from_le_bytes([*self.ring.front()?, *self.ring.get(1)?]);
        Some(usize::from(len).clamp(LEN_BYTES, self.ring.len()))
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
        // Only the newest `held` records are unpacked (the older ones skipped by their
        // length fields): this runs at the end of every loop turn while someone watches.
        let mut start = 0;
        for _ in 0..self.count - held {
            match (self.ring.get(start), self.ring.get(start + 1)) {
                (Some(&lo), Some(&hi)) => {
                    start += usize::from(u16::from_le_bytes([lo, hi])).max(LEN_BYTES)
                }
                _ => break,
            }
        }
        let tail: Vec<u8> = self
            .ring
            .range(start.min(self.ring.len())..)
            .copied()
            .collect();
        let records = split_records(&tail)
            .filter_map(|r| unpack(r, self.started_ms))
            .collect();
        (new - held as u64, records)
    }

    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let (a, b) = self.ring.as_slices();
        // A record may straddle the ring's two halves: joined only then.
        let joined: Option<Vec<u8>> = (!b.is_empty()).then(|| [a, b].concat());
        let bytes: Vec<u8> = joined.unwrap_or_else(|| a.to_vec());
        split_records(&bytes)
            .filter_map(|r| unpack(r, self.started_ms))
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

    /// Issue 11 item 4: a notice is packed from the engine's own strings; its event
    /// variables read back as `KEY=value`, its states as they were, a missing PID as none.
    #[test]
    fn issue11_item4_notices_pack_borrowed() {
        let mut o = Observed::new(1000);
        let env = vec![
            ("JOB".to_string(), "j".to_string()),
            ("RESULT".into(), "ok".into()),
        ];
        o.push_notice(
            &NoticeRef::EventHandled {
                name: "stopped",
                env: &env,
            },
            1005,
        );
        o.push_notice(
            &NoticeRef::StateChanged {
                job: "j",
                instance: "",
                goal: "stop",
                state: "waiting",
                pid: None,
            },
            1006,
        );
        // Not watched: not kept.
        o.push_notice(
            &NoticeRef::InstanceRemoved {
                job: "j",
                instance: "",
            },
            1007,
        );
        assert_eq!(
            o.history(None, 2000).records,
            vec![
                Record::Event {
                    time_ms: 1005,
                    name: "stopped".into(),
                    env: vec!["JOB=j".into(), "RESULT=ok".into()],
                },
                Record::State {
                    time_ms: 1006,
                    job: "j".into(),
                    instance: String::new(),
                    goal: "stop".into(),
                    state: "waiting".into(),
                    pid: None,
                },
            ]
        );
        assert_eq!(o.total(), 2);
    }

    /// A record longer than its length field can say is counted as forgotten, and the
    /// records around it are kept.
    #[test]
    fn issue11_item4_an_overlong_record_is_forgotten_alone() {
        let mut o = Observed::new(0);
        let event = |t: u64, len: usize| Record::Event {
            time_ms: t,
            name: "e".into(),
            env: vec!["X=".to_string() + &"y".repeat(len)],
        };
        o.push(event(1, 10));
        o.push(event(2, 70_000));
        o.push(event(3, 10));
        let h = o.history(None, 5);
        assert_eq!(h.records, vec![event(1, 10), event(3, 10)]);
        assert_eq!(h.forgotten, 1);
        assert_eq!(o.total(), 3);
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
