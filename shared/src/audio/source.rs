//! Where the decoders read from, without holding a file in memory.
//!
//! * [`Source`]: a file (opened by [`crate::fsio::open_regular`]: regular files only,
//!   non-blocking) read by position, or bytes already in memory. Positional reads let the
//!   screening, our FLAC decoder and symphonia share one handle without a shared cursor.
//! * [`Screened`]: the stream symphonia is handed: a header rebuilt by the screening (FLAC and
//!   WAV; empty for the others) followed by a range of the source, with the length and
//!   seekability the whole screened bytes in memory had, so symphonia sees the same stream.
//! * [`Scan`]: reading forward through a source in bounded blocks (the screening's scans).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use crate::error::{IoError, Result};

/// Bytes to decode from: a regular file, or bytes in memory. Cloning shares the handle.
#[derive(Clone)]
pub(crate) struct Source {
    inner: Arc<Inner>,
}

enum Inner {
    File { file: File, len: u64 },
    Bytes(Vec<u8>),
}

impl Source {
    /// Open `path` for reading: a regular file only (a FIFO, device or folder is refused), its
    /// length taken once. A file that shrinks while it is read ends early; one that grows is
    /// read up to the length it had.
    pub(crate) fn file(path: &Path) -> Result<Self> {
        let file = crate::fsio::open_regular(path)?;
        let len = file.metadata().map_err(IoError::read(path))?.len();
        Ok(Self {
            inner: Arc::new(Inner::File { file, len }),
        })
    }

    pub(crate) fn bytes(bytes: Vec<u8>) -> Self {
        Self {
            inner: Arc::new(Inner::Bytes(bytes)),
        }
    }

    /// Bytes in the source.
    pub(crate) fn len(&self) -> u64 {
        match &*self.inner {
            Inner::File { len, .. } => *len,
            Inner::Bytes(b) => b.len() as u64,
        }
    }

    /// Fill `buf` from offset `pos` on; returns the bytes read, fewer than asked only at the
    /// end of the source.
    pub(crate) fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.len().saturating_sub(pos)).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0); // at or past the end (a header may point anywhere)
        }
        let buf = &mut buf[..want];
        match &*self.inner {
            Inner::Bytes(b) => {
                let at = pos as usize;
                buf.copy_from_slice(&b[at..at + want]);
                Ok(want)
            }
            Inner::File { file, .. } => {
                let mut done = 0;
                while done < want {
                    match read_file_at(file, pos + done as u64, &mut buf[done..]) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
        }
    }

    /// Exactly `n` bytes at `pos`, or `None` when the source ends before (or cannot be read).
    pub(crate) fn get(&self, pos: u64, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        match self.read_at(pos, &mut buf) {
            Ok(k) if k == n => Some(buf),
            _ => None,
        }
    }

    /// Whether the bytes at `pos` start with `prefix`.
    pub(crate) fn starts_with(&self, pos: u64, prefix: &[u8]) -> bool {
        self.get(pos, prefix.len()).is_some_and(|b| b == prefix)
    }
}

#[cfg(unix)]
fn read_file_at(file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_file_at(file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// A rebuilt header followed by `len` bytes of a source from `start`: what symphonia reads.
pub(crate) struct Screened {
    head: Vec<u8>,
    src: Source,
    start: u64,
    len: u64,
    pos: u64,
}

impl Screened {
    pub(crate) fn new(head: Vec<u8>, src: Source, start: u64, len: u64) -> Self {
        Self {
            head,
            src,
            start,
            len,
            pos: 0,
        }
    }

    fn total(&self) -> u64 {
        self.head.len() as u64 + self.len
    }
}

impl Read for Screened {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let head = self.head.len() as u64;
        let n = if self.pos < head {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else {
            let at = self.pos - head;
            let left = usize::try_from(self.len.saturating_sub(at)).unwrap_or(usize::MAX);
            let n = buf.len().min(left);
            self.src.read_at(self.start + at, &mut buf[..n])?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Screened {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.total().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let pos = pos
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = pos;
        Ok(pos)
    }
}

impl symphonia::core::io::MediaSource for Screened {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.total())
    }
}

/// Reads a source forward in blocks of at most [`SCAN_BLOCK`] bytes.
pub(crate) struct Scan<'a> {
    src: &'a Source,
    /// Offset of `buf[0]` in the source.
    base: u64,
    buf: Vec<u8>,
}

/// Bytes a [`Scan`] reads at a time.
pub(crate) const SCAN_BLOCK: usize = 1 << 16;

impl<'a> Scan<'a> {
    pub(crate) fn new(src: &'a Source, from: u64) -> Self {
        Self {
            src,
            base: from,
            buf: Vec::new(),
        }
    }

    /// The bytes from `pos` on that are in the buffer, at least `need` of them (refilling as
    /// needed) unless the source ends first. `pos` must not be before earlier calls' `pos`.
    pub(crate) fn at(&mut self, pos: u64, need: usize) -> io::Result<&[u8]> {
        debug_assert!(pos >= self.base);
        let skip = (pos - self.base).min(self.buf.len() as u64) as usize;
        self.buf.drain(..skip);
        self.base += skip as u64;
        if self.base < pos {
            // Beyond what was read: start afresh there.
            self.buf.clear();
            self.base = pos;
        }
        if self.buf.len() < need {
            let end = self.buf.len();
            let want = need.max(SCAN_BLOCK);
            self.buf.resize(end + want, 0);
            let n = self
                .src
                .read_at(self.base + end as u64, &mut self.buf[end..])?;
            self.buf.truncate(end + n);
        }
        Ok(&self.buf)
    }
}
