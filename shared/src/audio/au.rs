//! Sun/NeXT `.au` (GTZAN's original format; symphonia has no reader for it): a big-endian
//! header of six 32-bit words, an annotation, then interleaved samples.

use std::path::Path;

use super::source::Source;
use super::Warning;
use crate::error::{Error, IoError, Result};

/// `.snd`: the file's magic number.
pub(super) const MAGIC: &[u8] = b".snd";

/// Bytes read at a time (whole frames of samples).
const READ: usize = 1 << 16;

/// Largest frame (one sample of every channel) taken: 1 MiB, 131,072 channels of 64-bit
/// floats; a wider one is a header field gone wrong, not a recording.
const MAX_FRAME: usize = 1 << 20;

/// A Sun/NeXT `.au` file's samples, read a block at a time and mixed down to mono. Every
/// header field is checked against the file: the data offset must lie inside it, a data size
/// larger than the file (a truncated copy) or `0xffffffff` ("unknown") reads to the end.
pub(super) struct AuStream {
    src: Source,
    /// Next byte of sample data, and the end of the data.
    pos: u64,
    end: u64,
    width: usize,
    channels: usize,
    rate: u32,
    decode_sample: fn(&[u8]) -> f32,
    buf: Vec<u8>,
}

impl AuStream {
    /// The `.au` file whose magic is at `at` (a leading ID3v2 tag may precede it).
    pub(super) fn open(
        src: Source,
        at: u64,
        path: &Path,
        notes: &mut Vec<Warning>,
    ) -> Result<Self> {
        let corrupt = |reason: &str| Error::CorruptAudio {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let header = src.get(at, 24);
        let word = |i: usize| -> u32 {
            let h = header.as_deref().unwrap_or_default();
            u32::from_be_bytes([h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]])
        };
        if header.is_none() {
            return Err(corrupt("truncated .au header"));
        }
        let (offset, size, encoding, rate, channels) =
            (word(1), word(2), word(3), word(4), word(5));
        let len = src.len() - at;
        let offset = u64::from(offset);
        if offset < 24 || offset > len {
            return Err(corrupt("bad .au data offset"));
        }
        let channels = channels as usize;
        if channels == 0 {
            return Err(corrupt(".au header says 0 channels"));
        }
        // Bytes per sample and how one sample becomes a float.
        let (width, decode_sample): (usize, fn(&[u8]) -> f32) = match encoding {
            1 => (1, |b| mulaw_to_linear(b[0])),
            2 => (1, |b| f32::from(b[0] as i8) / 128.0),
            3 => (2, |b| f32::from(i16::from_be_bytes([b[0], b[1]])) / 32768.0),
            4 => (3, |b| {
                (i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8) as f32 / 8_388_608.0
            }),
            5 => (4, |b| {
                i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
            }),
            6 => (4, |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            7 => (8, |b| {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }),
            27 => (1, |b| alaw_to_linear(b[0])),
            other => {
                return Err(Error::UnsupportedFormat {
                    path: path.to_path_buf(),
                    reason: format!(".au encoding {other} is not supported"),
                })
            }
        };
        super::mono::check_rate(rate)?;
        let frame = width.saturating_mul(channels);
        if frame > MAX_FRAME {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: format!(".au with {channels} channels"),
            });
        }
        let available = len - offset;
        let data = if size != u32::MAX && u64::from(size) < available {
            u64::from(size)
        } else {
            available
        };
        let seconds = |bytes: u64| bytes as f64 / (frame as f64 * f64::from(rate));
        if size != u32::MAX && u64::from(size) > available {
            notes.push(Warning::Shorter {
                header: seconds(u64::from(size)),
                file: seconds(available),
            });
        } else if seconds(available - data) >= 1.0 {
            notes.push(Warning::Ignored {
                after: seconds(data),
            });
        }
        Ok(Self {
            src,
            pos: at + offset,
            end: at + offset + data,
            width,
            channels,
            rate,
            decode_sample,
            buf: Vec::new(),
        })
    }

    /// Seconds of audio still to read: all of it, right after [`AuStream::open`] (the data
    /// size the header gives, or what the file holds when that is less or unknown).
    pub(super) fn seconds_left(&self) -> f64 {
        let frame = (self.width * self.channels).max(1) as f64;
        (self.end - self.pos) as f64 / (frame * f64::from(self.rate.max(1)))
    }

    pub(super) fn sample_rate(&self) -> u32 {
        self.rate
    }

    pub(super) fn channels(&self) -> usize {
        self.channels
    }

    /// Append the next block's samples to `out`, mixed down to mono; `Ok(false)` at the end
    /// (a partial frame at the end of the data is dropped).
    pub(super) fn next(&mut self, out: &mut Vec<f32>, path: &Path) -> Result<bool> {
        let frame = self.width * self.channels;
        let frames = (self.end - self.pos) / frame as u64;
        let take = frames.min((READ / frame).max(1) as u64) as usize * frame;
        if take == 0 {
            return Ok(false);
        }
        self.buf.resize(take, 0);
        let n = self
            .src
            .read_at(self.pos, &mut self.buf)
            .map_err(|e| Error::from(IoError::read(path)(e)))?;
        // A file that shrank while it was read ends here.
        let n = n / frame * frame;
        if n == 0 {
            return Ok(false);
        }
        self.pos += n as u64;
        let frames = self.buf[..n].chunks_exact(frame);
        let decode_sample = self.decode_sample;
        if self.channels == 1 {
            out.extend(frames.map(decode_sample));
        } else {
            // The channel average with the same `f32` arithmetic as the other decoders.
            let scale = 1.0 / self.channels as f32;
            let width = self.width;
            out.extend(
                frames.map(|f| f.chunks_exact(width).map(decode_sample).sum::<f32>() * scale),
            );
        }
        Ok(true)
    }
}

/// ITU-T G.711 µ-law expansion, scaled to [-1, 1].
fn mulaw_to_linear(code: u8) -> f32 {
    let u = !code;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let value = if sign != 0 { -magnitude } else { magnitude };
    value as f32 / 32768.0
}

/// ITU-T G.711 A-law expansion, scaled to [-1, 1].
fn alaw_to_linear(code: u8) -> f32 {
    let a = code ^ 0x55;
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    let value = if sign != 0 { magnitude } else { -magnitude };
    value as f32 / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode_bytes;
    use crate::error::Error;

    fn au_file(encoding: u32, rate: u32, channels: u32, data: &[u8]) -> Vec<u8> {
        let annotation = b"mgr test\0\0\0\0\0\0\0\0";
        let offset = 24 + annotation.len() as u32;
        let mut v = Vec::new();
        for w in [
            0x2e73_6e64,
            offset,
            data.len() as u32,
            encoding,
            rate,
            channels,
        ] {
            v.extend_from_slice(&u32::to_be_bytes(w));
        }
        v.extend_from_slice(annotation);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn au_16bit_stereo_is_averaged() {
        let mut data = Vec::new();
        for (l, r) in [(16384i16, 0i16), (-32768, -32768), (100, 300)] {
            data.extend_from_slice(&l.to_be_bytes());
            data.extend_from_slice(&r.to_be_bytes());
        }
        let audio = decode_bytes(au_file(3, 22050, 2, &data), None, Path::new("x.au")).unwrap();
        assert_eq!(audio.sample_rate, 22050);
        assert_eq!(audio.source_channels, 2);
        assert_eq!(audio.samples, vec![0.25, -1.0, 200.0 / 32768.0]);
    }

    #[test]
    fn au_with_a_shorter_size_reads_only_its_data_and_says_so() {
        let mut data = Vec::new();
        for v in 0..8000i16 * 3 {
            data.extend_from_slice(&v.to_be_bytes());
        }
        let mut bytes = au_file(3, 8000, 1, &data);
        // The header says 1 s; 3 s follow.
        bytes[8..12].copy_from_slice(&16_000u32.to_be_bytes());
        let mut stream = crate::audio::AudioStream::from_bytes(bytes, None, Path::new("x.au"));
        let stream = stream.as_mut().unwrap();
        let mut got = Vec::new();
        while stream.read(&mut got).unwrap() != crate::audio::Read::End {}
        assert_eq!(got.len(), 8000);
        let notes: Vec<String> = stream.warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("ignored"), "{notes:?}");
    }

    #[test]
    fn au_unsupported_encoding_is_an_error() {
        let err = decode_bytes(au_file(23, 8000, 1, &[0; 8]), None, Path::new("x.au"));
        assert!(matches!(err, Err(Error::UnsupportedFormat { .. })));
    }

    #[test]
    fn au_low_rate_is_refused() {
        let err = decode_bytes(au_file(3, 4000, 1, &[0; 8]), None, Path::new("x.au"));
        assert!(matches!(err, Err(Error::SampleRateTooLow(4000))));
    }

    #[test]
    fn g711_known_codes() {
        // µ-law 0xff and 0x7f are the two zeros; 0x00 is the most negative value (-32124).
        assert_eq!(mulaw_to_linear(0xff), 0.0);
        assert_eq!(mulaw_to_linear(0x00), -32124.0 / 32768.0);
        assert_eq!(mulaw_to_linear(0x80), 32124.0 / 32768.0);
        // A-law 0xd5 is the smallest positive step (+8), 0x2a the most negative (-32256).
        assert_eq!(alaw_to_linear(0xd5), 8.0 / 32768.0);
        assert_eq!(alaw_to_linear(0x2a), -32256.0 / 32768.0);
    }
}
