//! File-system change notification, used to reload job files when they change.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::inotify as ino;

/// A watch descriptor as returned by `inotify_add_watch`.
pub type Wd = i32;

/// File was written to.
pub const IN_MODIFY: u32 = libc::IN_MODIFY;
/// File opened for writing was closed.
pub const IN_CLOSE_WRITE: u32 = libc::IN_CLOSE_WRITE;
/// File moved into the watched directory.
pub const IN_MOVED_TO: u32 = libc::IN_MOVED_TO;
/// File moved out of the watched directory.
pub const IN_MOVED_FROM: u32 = libc::IN_MOVED_FROM;
/// File deleted from the watched directory.
pub const IN_DELETE: u32 = libc::IN_DELETE;
/// File created in the watched directory.
pub const IN_CREATE: u32 = libc::IN_CREATE;
/// The watched object itself was deleted.
pub const IN_DELETE_SELF: u32 = libc::IN_DELETE_SELF;
/// The watch was removed (explicitly or because the object went away).
pub const IN_IGNORED: u32 = libc::IN_IGNORED;
/// The event's subject is a directory.
pub const IN_ISDIR: u32 = libc::IN_ISDIR;
/// Events were dropped: the caller must rescan.
pub const IN_Q_OVERFLOW: u32 = libc::IN_Q_OVERFLOW;
/// Adds to an existing watch's events instead of replacing them.
pub const IN_MASK_ADD: u32 = libc::IN_MASK_ADD;

/// One inotify event, with the name owned so it outlives the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Watch the event belongs to (-1 for a queue overflow).
    pub wd: Wd,
    /// `IN_*` bits.
    pub mask: u32,
    /// Name of the entry inside a watched directory.
    pub name: Option<OsString>,
}

/// A non-blocking, close-on-exec inotify instance.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    /// Creates the inotify instance.
    pub fn new() -> io::Result<Self> {
        let fd = ino::init(ino::CreateFlags::NONBLOCK | ino::CreateFlags::CLOEXEC)?;
        Ok(Inotify { fd })
    }

    /// Watches `path` for the `IN_*` events in `mask`.
    pub fn add_watch(&self, path: &Path, mask: u32) -> io::Result<Wd> {
        let wd = ino::add_watch(&self.fd, path, ino::WatchFlags::from_bits_retain(mask))?;
        Ok(wd)
    }

    /// Removes a watch; the kernel then queues an `IN_IGNORED` event.
    pub fn rm_watch(&self, wd: Wd) -> io::Result<()> {
        ino::remove_watch(&self.fd, wd)?;
        Ok(())
    }

    /// Returns every queued event, reading until the queue is empty.
    pub fn read_events(&mut self) -> io::Result<Vec<Event>> {
        // Large enough for several events with maximum-length names.
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut reader = ino::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(ev) => out.push(Event {
                    wd: ev.wd(),
                    mask: ev.events().bits(),
                    name: ev
                        .file_name()
                        .map(|n| OsStr::from_bytes(n.to_bytes()).to_os_string())
                        .filter(|n| !n.is_empty()),
                }),
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(out),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_create_write_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut ino = Inotify::new().unwrap();
        let wd = ino
            .add_watch(
                dir.path(),
                IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM,
            )
            .unwrap();
        assert!(ino.read_events().unwrap().is_empty());
        std::fs::write(dir.path().join("a.conf"), b"x").unwrap();
        std::fs::rename(dir.path().join("a.conf"), dir.path().join("b.conf")).unwrap();
        std::fs::remove_file(dir.path().join("b.conf")).unwrap();
        let evs = ino.read_events().unwrap();
        let got: Vec<(u32, String)> = evs
            .iter()
            .map(|e| {
                assert_eq!(e.wd, wd);
                (
                    e.mask,
                    e.name.as_ref().unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (IN_CREATE, "a.conf".into()),
                (IN_CLOSE_WRITE, "a.conf".into()),
                (IN_MOVED_FROM, "a.conf".into()),
                (IN_MOVED_TO, "b.conf".into()),
                (IN_DELETE, "b.conf".into()),
            ]
        );
        ino.rm_watch(wd).unwrap();
        let evs = ino.read_events().unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].mask & IN_IGNORED, IN_IGNORED);
        assert_eq!(evs[0].name, None);
    }
}
