//! A FLAC decoder for the common case (what GTZAN-style collections hold): 4–24 bits per
//! sample, 1–8 channels, every subframe type (constant, verbatim, fixed, LPC) and stereo
//! decorrelation mode, with the frame header's CRC-8 and the frame's CRC-16 checked.
//!
//! It exists for speed: on a 30 s GTZAN clip symphonia's FLAC path (packet parser, generic
//! bit reader, planar → interleaved copy, mixdown) took about two thirds of the front-end
//! (issue 6). Anything this decoder does not handle, or any inconsistency in the stream,
//! returns an error and [`crate::audio`] decodes the file with symphonia instead, so damaged
//! files behave exactly as before. Samples are the same bits as symphonia's: an integer `v`
//! of `b` bits becomes `v / 2^(b−1)` (exact in `f32` for `b ≤ 24`), and channels are averaged
//! with the same `f32` sum as the symphonia path (`tests/decode.rs` checks every FLAC in the
//! data pack against symphonia bit for bit).
//!
//! Format: RFC 9639 (the FLAC specification), sections 8 (metadata), 9 (frames, subframes,
//! residual coding) and 9.1.6 / 9.3 (CRCs).
//!
//! Modules, each importing only those listed before it: [`error`] and [`crc`] (leaves),
//! [`bits`] (the bit reader), [`predict`] (fixed and LPC predictors), [`subframe`] (one
//! channel of a frame), [`metadata`] (STREAMINFO), [`frame`] (header, subframes, stereo
//! decorrelation, CRCs), and this file, [`FlacStream`], which reads the stream a frame at a time through a bounded
//! buffer and mixes each frame down.

mod bits;
mod crc;
mod error;
mod frame;
mod metadata;
mod predict;
mod subframe;

pub(crate) use error::Unsupported;
pub(crate) use metadata::streaminfo_only;

use error::Res;
use frame::frame;
use metadata::StreamInfo;

/// Random access to a stream's bytes: what the decoder reads from (a file or bytes in memory;
/// the audio module implements it).
pub(crate) trait ReadAt {
    /// Bytes in the stream.
    fn len(&self) -> u64;
    /// Fill `buf` from offset `pos` on; fewer bytes only at the end of the stream.
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// Bytes held from the stream: a frame is parsed only with [`LOOKAHEAD`] bytes after its
/// start in hand (or the end of the stream), more than the largest frame this decoder takes
/// (8 channels × 65,535 samples × 31 bits ≈ 2 MB, RFC 9639 9.2), so a frame never stops at the
/// buffer's end; one that would is declined as too large.
const BUFFER: usize = 4 << 20;
const LOOKAHEAD: usize = 3 << 20;

/// A FLAC stream decoded a frame at a time, mixed down to mono, in bounded memory: the
/// refill buffer and one block per channel.
pub(crate) struct FlacStream<R> {
    src: R,
    info: StreamInfo,
    /// Stream bytes from offset `base` on; the next frame starts at `buf[pos]`.
    buf: Vec<u8>,
    base: u64,
    pos: usize,
    /// One buffer per channel, grown by `frame` to each block's size as it comes (at most
    /// STREAMINFO's maximum).
    block: Vec<Vec<i32>>,
    frames: u64,
    samples: u64,
    /// STREAMINFO's total was reached while frames went on.
    trailing: bool,
    done: bool,
}

impl<R: ReadAt> FlacStream<R> {
    /// The stream whose `fLaC` marker is at `at`: its metadata read, positioned at the first
    /// frame.
    pub(crate) fn open(src: R, at: u64) -> Res<Self> {
        let (info, first) = metadata::read(&src, at)?;
        // (STREAMINFO's channels are 1–8 by construction, its rate checked by `read`.)
        if !(4..=24).contains(&info.bits) {
            return Err(Unsupported("sample format"));
        }
        Ok(Self {
            src,
            block: vec![Vec::new(); info.channels],
            info,
            buf: Vec::new(),
            base: first,
            pos: 0,
            frames: 0,
            samples: 0,
            trailing: false,
            done: false,
        })
    }

    pub(crate) fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }

    pub(crate) fn channels(&self) -> usize {
        self.info.channels
    }

    /// Samples per channel that STREAMINFO announces, when it does.
    pub(crate) fn total_samples(&self) -> Option<u64> {
        (self.info.total_samples > 0).then_some(self.info.total_samples)
    }

    /// Whether frames followed the last of the samples STREAMINFO announces (they are not
    /// decoded: the announced end is where the audio stops, as it always was).
    pub(crate) fn trailing_frames(&self) -> bool {
        self.trailing
    }

    /// Decode the next frame onto `out`, mixed down to mono; `Ok(false)` at the end of the
    /// stream. Any inconsistency, including a sample count that differs from STREAMINFO's at
    /// the end, is an [`Unsupported`]: the caller decodes the stream with symphonia instead.
    pub(crate) fn next(&mut self, out: &mut Vec<f32>) -> Res<bool> {
        // The CRC-16 table (8 KiB), built once per process.
        static CRC16: std::sync::LazyLock<crc::Crc16> = std::sync::LazyLock::new(crc::Crc16::new);
        if self.done {
            return Ok(false);
        }
        let at = self.base + self.pos as u64;
        let total = self.info.total_samples;
        if at >= self.src.len() || (total > 0 && self.samples >= total) {
            return self.finish(at);
        }
        // Refill only while the source has more: a file whose rest is all in hand would
        // otherwise be moved and read again for every frame.
        let in_hand = self.base + self.buf.len() as u64;
        if self.buf.len() - self.pos < LOOKAHEAD && in_hand < self.src.len() {
            self.refill()?;
        }
        let seq = if self.info.fixed_block_size() {
            self.frames
        } else {
            self.samples
        };
        let (n, end) = match frame(
            &self.buf,
            self.pos,
            seq,
            &self.info,
            &CRC16,
            &mut self.block,
        ) {
            Err(e) if e == error::EOF && self.base + (self.buf.len() as u64) < self.src.len() => {
                return Err(Unsupported("frame larger than the decoder takes"))
            }
            r => r?,
        };
        self.frames += 1;
        self.samples += n as u64;
        out.try_reserve(n)
            .map_err(|_| Unsupported("out of memory"))?;
        let scale = 1.0 / (1u32 << (self.info.bits - 1)) as f32;
        if self.block.len() == 1 {
            out.extend(self.block[0][..n].iter().map(|&v| v as f32 * scale));
        } else {
            // Same arithmetic as the symphonia path: f32 sum over channels, times 1/channels.
            let mix = 1.0 / self.block.len() as f32;
            let block = &self.block;
            out.extend(
                (0..n).map(|i| block.iter().map(|c| c[i] as f32 * scale).sum::<f32>() * mix),
            );
        }
        self.pos = end;
        Ok(true)
    }

    /// The end of the frames at offset `at`: checked against STREAMINFO.
    fn finish(&mut self, at: u64) -> Res<bool> {
        self.done = true;
        if self.samples == 0 {
            return Err(Unsupported("no audio frames"));
        }
        let total = self.info.total_samples;
        if total > 0 && self.samples != total {
            return Err(Unsupported("sample count differs from STREAMINFO"));
        }
        // Trailing bytes (tags, padding) are normal; another frame's sync code is not.
        let mut sync = [0u8; 2];
        self.trailing = matches!(self.src.read_at(at, &mut sync), Ok(2))
            && sync[0] == 0xff
            && sync[1] & 0xfe == 0xf8;
        Ok(false)
    }

    /// Keep the bytes from the next frame on and read up to [`BUFFER`] of them: no more than
    /// the source has, so that a 1 MB clip does not zero and fault in 4 MB on every open.
    fn refill(&mut self) -> Res<()> {
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        let have = self.buf.len();
        let left = self.src.len().saturating_sub(self.base);
        self.buf
            .resize(BUFFER.min(left.try_into().unwrap_or(BUFFER)).max(have), 0);
        let n = self
            .src
            .read_at(self.base + have as u64, &mut self.buf[have..])
            .map_err(|_| Unsupported("read error"))?;
        self.buf.truncate(have + n);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
