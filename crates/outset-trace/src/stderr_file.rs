//! The file a traced command's stderr goes to.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::report::STDERR_TAIL;
use crate::tracer::SEQ;

/// The file the command's stderr goes to: created here (so nobody else's file is written
/// to), removed on drop unless kept.
pub(crate) struct StderrFile {
    pub(crate) path: PathBuf,
    kept: bool,
}

impl StderrFile {
    pub(crate) fn create() -> io::Result<StderrFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("outset-trace-{}-{n}.stderr", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(StderrFile { path, kept: false })
    }

    /// The last [`STDERR_TAIL`] bytes, from a line start when the file is longer.
    pub(crate) fn tail(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let tail = STDERR_TAIL as u64;
        let cut = len > tail;
        if cut && f.seek(SeekFrom::Start(len - tail)).is_err() {
            return String::new();
        }
        let mut buf = Vec::with_capacity(STDERR_TAIL);
        let _ = f.take(tail).read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        match text.split_once('\n') {
            Some((_, rest)) if cut => rest.to_string(),
            _ => text,
        }
    }

    /// Leaves the file for the kept processes; its path.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for StderrFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
