//! `outsetctl log`: the last lines of a job's output, or what came since a cursor, from the
//! file (and its `.1` after a rotation) and what is still held in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use outset_proto::{LogChunk, LogLine, MAX_LOG_LINES};

pub use outset_proto::LogCursor as Cursor;

use super::sink::Sink;

/// The most bytes one reply reads.
const READ_MAX: u64 = 1024 * 1024;

/// Up to `max` bytes of `name` in `dir` from `from`; (inode, size, bytes).
fn read_file(dir: &Path, name: &str, from: Option<u64>, max: u64) -> Option<(u64, u64, Vec<u8>)> {
    let d = outset_sys::logfile::open_dir(dir).ok()?;
    let mut f: File = outset_sys::logfile::open_read(&d, name).ok()?;
    let m = f.metadata().ok()?;
    let size = m.len();
    let start = match from {
        Some(o) => o.min(size),
        None => size.saturating_sub(max),
    };
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    Some((m.ino(), start, buf))
}

/// Splits `bytes` into lines; with `complete`, a last line without `\n` is left out.
/// Returns the lines with their end offsets (relative to `bytes`) and how many bytes the
/// lines cover.
fn split(bytes: &[u8], complete: bool) -> (Vec<(String, usize)>, usize) {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push((
                String::from_utf8_lossy(&bytes[start..i]).into_owned(),
                i + 1,
            ));
            start = i + 1;
        }
    }
    if start < bytes.len() && !complete {
        out.push((
            String::from_utf8_lossy(&bytes[start..]).into_owned(),
            bytes.len(),
        ));
        start = bytes.len();
    }
    (out, start)
}

/// When the chunk holding byte `end - 1` of inode `ino` was read, if still known.
fn time_of(sink: Option<&Sink>, ino: u64, end: u64) -> Option<u64> {
    sink?
        .times
        .iter()
        .find(|(i, e, _)| *i == ino && *e >= end)
        .map(|t| t.2)
}

pub fn tail(
    dir: &Path,
    name: &str,
    sink: Option<&Sink>,
    lines: usize,
    cursor: Option<Cursor>,
) -> LogChunk {
    let lines = lines.min(MAX_LOG_LINES);
    let held: &[u8] = sink.map_or(&[], |s| s.pending.as_slice());
    let path = dir.join(name).to_string_lossy().into_owned();
    let mut chunk = LogChunk {
        path,
        lines: Vec::new(),
        cursor: Cursor { ino: 0, offset: 0 },
        held: held.len() as u64,
        dropped: sink.map_or(0, |s| s.dropped),
    };
    let current = read_file(dir, name, Some(u64::MAX), 0).map(|(ino, size, _)| (ino, size));
    let (ino, size) = current.unwrap_or((0, 0));
    match cursor {
        None => {
            // The end of the file, then what is held, and the last `lines` of that.
            let (file_ino, start, mut bytes) =
                read_file(dir, name, None, READ_MAX).unwrap_or((0, 0, Vec::new()));
            let file_len = bytes.len();
            bytes.extend_from_slice(held);
            let (mut all, _) = split(&bytes, false);
            // A first line cut by READ_MAX is not shown.
            if start > 0 && !all.is_empty() {
                all.remove(0);
            }
            let skip = all.len().saturating_sub(lines);
            for (text, end) in all.into_iter().skip(skip) {
                let time = if end <= file_len {
                    time_of(sink, file_ino, start + end as u64)
                } else {
                    time_of(sink, 0, (end - file_len) as u64)
                };
                chunk.lines.push(LogLine { text, time });
            }
            chunk.cursor = Cursor {
                ino,
                offset: size + held.len() as u64,
            };
        }
        Some(c) => {
            let mut bytes = Vec::new();
            let mut from_ino = ino;
            let mut from = c.offset;
            if c.ino != 0 && c.ino != ino {
                // Rotated since: the rest of the old file, if it is `.1`, then the new one.
                if let Some((old, start, rest)) =
                    read_file(dir, &format!("{name}.1"), Some(c.offset), READ_MAX)
                    && old == c.ino
                {
                    let (ls, used) = split(&rest, true);
                    for (text, end) in ls {
                        let time = time_of(sink, old, start + end as u64);
                        chunk.lines.push(LogLine { text, time });
                    }
                    if used < rest.len() {
                        // A partial last line of the old file stays as it is.
                        chunk.lines.push(LogLine {
                            text: String::from_utf8_lossy(&rest[used..]).into_owned(),
                            time: None,
                        });
                    }
                }
                from = 0;
            } else if c.ino == 0 && ino != 0 {
                // What was held before the file existed went to its start.
                from_ino = ino;
            }
            // A copytruncate shrank the file: read it from its start.
            if from > size + held.len() as u64 {
                from = 0;
            }
            let file_part = if from < size {
                read_file(dir, name, Some(from), READ_MAX)
                    .map(|(_, _, b)| b)
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let file_len = file_part.len();
            bytes.extend_from_slice(&file_part);
            let held_from = usize::try_from(from.saturating_sub(size)).unwrap_or(usize::MAX);
            if from + file_len as u64 >= size {
                bytes.extend_from_slice(held.get(held_from..).unwrap_or_default());
            }
            let (ls, used) = split(&bytes, true);
            for (text, end) in ls {
                if chunk.lines.len() >= MAX_LOG_LINES {
                    break;
                }
                let time = if end <= file_len {
                    time_of(sink, from_ino, from + end as u64)
                } else {
                    time_of(sink, 0, (held_from + end - file_len) as u64)
                };
                chunk.lines.push(LogLine { text, time });
            }
            chunk.cursor = Cursor {
                ino: from_ino,
                offset: from + used as u64,
            };
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partial_lines() {
        let (l, used) = split(b"a\nb\nc", true);
        assert_eq!(l, vec![("a".to_string(), 2), ("b".to_string(), 4)]);
        assert_eq!(used, 4);
        let (l, used) = split(b"a\nb\nc", false);
        assert_eq!(l.len(), 3);
        assert_eq!(used, 5);
    }

    #[test]
    fn tail_and_follow_across_a_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("j.log"), "1\n2\n3\n").unwrap();
        let c = tail(dir, "j.log", None, 2, None);
        let texts: Vec<_> = c.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["2", "3"]);
        assert_eq!(c.cursor.offset, 6);
        std::fs::write(dir.join("j.log"), "1\n2\n3\n4\n").unwrap();
        let c2 = tail(dir, "j.log", None, 0, Some(c.cursor));
        assert_eq!(c2.lines[0].text, "4");
        // Rotation: j.log becomes j.log.1 and a new j.log starts.
        std::fs::rename(dir.join("j.log"), dir.join("j.log.1")).unwrap();
        std::fs::write(dir.join("j.log.1"), "1\n2\n3\n4\n5\n").unwrap_or(());
        std::fs::write(dir.join("j.log"), "6\n").unwrap();
        let c3 = tail(dir, "j.log", None, 0, Some(c2.cursor));
        let texts: Vec<_> = c3.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["5", "6"]);
        // A copytruncate: the file is shorter than the cursor, read from its start.
        std::fs::write(dir.join("j.log"), "").unwrap();
        let c4 = tail(dir, "j.log", None, 0, Some(c3.cursor));
        assert!(c4.lines.is_empty());
        std::fs::write(dir.join("j.log"), "7\n").unwrap();
        let c5 = tail(dir, "j.log", None, 0, Some(c4.cursor));
        assert_eq!(c5.lines[0].text, "7", "{c5:?}");
    }
}
