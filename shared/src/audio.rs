//! Decoding: any WAV / FLAC / MP3 / Ogg Vorbis file (symphonia) or Sun/NeXT `.au` (GTZAN's
//! original format, read by our own parser) to mono `f32` at the file's own sample rate.
//! FLAC goes through our own decoder first ([`crate::flac`], faster, same bits) and through
//! symphonia when that one declines.
//!
//! Channels are averaged (reference README, step 1).
//!
//! MP3 timing (reference README, step 2): every MP3 decoder's output starts with a 529-sample
//! synthesis delay. When a file carries a LAME/Xing gapless header, symphonia (gapless mode on)
//! trims that delay *plus* the encoder's own delay and padding, as ffmpeg does; when it has none
//! (the bensound clips), symphonia trims nothing and we shift the output left by 529 samples
//! with zeros appended. Either way the delay is removed exactly once.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_MP3, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::config::{MIN_INPUT_RATE, MP3_DECODER_DELAY};
use crate::error::{Error, Result};

/// Mono audio at its native sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Mono samples in [-1, 1] (channel average).
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count of the source before mixdown.
    pub source_channels: usize,
}

impl Audio {
    /// No samples yet (a buffer to decode into).
    fn empty() -> Self {
        Self {
            samples: Vec::new(),
            sample_rate: 0,
            source_channels: 0,
        }
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// File extensions that [`decode_file`] is expected to read; used when walking folders.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga", "au", "snd"];

/// True if the path has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Decode a file to mono `f32` at its native rate.
pub fn decode_file(path: &Path) -> Result<Audio> {
    let mut decoder = Decoder::new();
    decoder.decode(path)?;
    Ok(decoder.audio)
}

/// Decodes one file after another into buffers it keeps: the file's bytes and the decoded
/// samples keep their capacity from call to call, so a batch of files does not pay for fresh
/// memory (page faults, zeroing) on every file. The non-allocating form of [`decode_file`].
#[derive(Debug)]
pub struct Decoder {
    bytes: Vec<u8>,
    audio: Audio,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// An empty decoder (no buffers yet).
    pub fn new() -> Self {
        Self {
            bytes: Vec::new(),
            audio: Audio::empty(),
        }
    }

    /// Decode `path` as [`decode_file`] does. The audio stays in the decoder until the next
    /// call.
    pub fn decode(&mut self, path: &Path) -> Result<&Audio> {
        read_into(path, &mut self.bytes)?;
        let ext = path.extension().and_then(|e| e.to_str());
        decode_into(&mut self.bytes, ext, path, &mut self.audio)?;
        Ok(&self.audio)
    }
}

/// The whole file into `bytes` (cleared first; its capacity is reused).
fn read_into(path: &Path, bytes: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    bytes.clear();
    if let Ok(meta) = file.metadata() {
        bytes.reserve(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    }
    file.read_to_end(bytes).map_err(io)?;
    Ok(())
}

/// Decode an in-memory file. `ext` is a format hint; `path` is only used in error messages.
pub fn decode_bytes(mut bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    let mut audio = Audio::empty();
    decode_into(&mut bytes, ext, path, &mut audio)?;
    Ok(audio)
}

/// Decode `bytes` into `audio`, reusing its sample buffer where the format allows (FLAC).
/// Formats read by symphonia take `bytes` (left empty).
fn decode_into(
    bytes: &mut Vec<u8>,
    ext: Option<&str>,
    path: &Path,
    audio: &mut Audio,
) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    if bytes.starts_with(SUN_AU_MAGIC) {
        *audio = decode_sun_au(bytes, path)?;
    } else if !flac_own_into(bytes, audio) {
        *audio = decode_symphonia(std::mem::take(bytes), ext, path)?;
    }
    validate(audio, path)
}

fn validate(audio: &Audio, path: &Path) -> Result<()> {
    if audio.sample_rate < MIN_INPUT_RATE {
        return Err(Error::SampleRateTooLow(audio.sample_rate));
    }
    if audio.samples.is_empty() {
        return Err(Error::EmptyAudio {
            path: path.to_path_buf(),
        });
    }
    // Chunked fold instead of an early-exit scan, so that the check vectorises.
    let non_finite = |c: &[f32]| c.iter().fold(false, |bad, s| bad | !s.is_finite());
    if audio.samples.chunks(4096).any(non_finite) {
        return Err(Error::NonFiniteSamples);
    }
    Ok(())
}

/// Our own FLAC decoder ([`crate::flac`]) alone, before validation; `None` (the caller falls
/// back to symphonia) for anything it does not handle or finds inconsistent.
pub fn decode_flac_own(bytes: &[u8]) -> Option<Audio> {
    let mut audio = Audio::empty();
    flac_own_into(bytes, &mut audio).then_some(audio)
}

/// [`decode_flac_own`] into `audio`'s buffer; false when the fast path declines.
fn flac_own_into(bytes: &[u8], audio: &mut Audio) -> bool {
    if !bytes.starts_with(b"fLaC") {
        return false;
    }
    match crate::flac::decode_into(bytes, &mut audio.samples) {
        Ok((sample_rate, channels)) => {
            audio.sample_rate = sample_rate;
            audio.source_channels = channels;
            true
        }
        Err(_) => false,
    }
}

/// Decode with symphonia only (no fast FLAC path): the reference the FLAC decoder is tested
/// against.
pub fn decode_file_symphonia(path: &Path) -> Result<Audio> {
    let ext = path.extension().and_then(|e| e.to_str());
    let mut bytes = Vec::new();
    read_into(path, &mut bytes)?;
    let audio = decode_symphonia(bytes, ext, path)?;
    validate(&audio, path)?;
    Ok(audio)
}

/// Average interleaved frames to mono, appending to `out`.
fn mix_interleaved(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels == 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

pub(crate) fn decode_symphonia(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    let unsupported = |reason: String| Error::UnsupportedFormat {
        path: path.to_path_buf(),
        reason,
    };
    let corrupt = |reason: String| Error::CorruptAudio {
        path: path.to_path_buf(),
        reason,
    };
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    // Gapless on: files with a LAME header come out trimmed of every delay (see module docs).
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &format_opts, &MetadataOptions::default())
        .map_err(|e| unsupported(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| unsupported("no audio track".into()))?;
    let track_id = track.id;
    // symphonia reports a delay only when it found a gapless header and trims it itself.
    let needs_delay_fix =
        track.codec_params.codec == CODEC_TYPE_MP3 && track.codec_params.delay.is_none();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| unsupported(e.to_string()))?;

    let mut samples = Vec::new();
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map_or(0, |c| c.count());
    let mut interleaved: Option<SampleBuffer<f32>> = None;
    let mut decode_errors = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            // A damaged tail (truncated download): keep what decoded cleanly.
            Err(e) if !samples.is_empty() => {
                let _ = e;
                break;
            }
            Err(e) => return Err(corrupt(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_)) => {
                decode_errors += 1;
                continue;
            }
            Err(SymError::IoError(_)) => break,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let spec = *decoded.spec();
        if decoded.frames() == 0 {
            continue;
        }
        sample_rate = spec.rate;
        channels = spec.channels.count();
        let needed = decoded.capacity() as u64;
        let buf = match &mut interleaved {
            Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
            slot => slot.insert(SampleBuffer::<f32>::new(needed, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        mix_interleaved(buf.samples(), channels, &mut samples);
    }
    if samples.is_empty() && decode_errors > 0 {
        return Err(corrupt(format!("{decode_errors} undecodable packets")));
    }
    if needs_delay_fix && !samples.is_empty() {
        remove_mp3_decoder_delay(&mut samples);
    }
    Ok(Audio {
        samples,
        sample_rate,
        source_channels: channels,
    })
}

/// Shift left by the MP3 decoder delay and append as many zeros: length is unchanged
/// (reference README, step 2).
pub fn remove_mp3_decoder_delay(samples: &mut Vec<f32>) {
    let n = samples.len();
    let d = MP3_DECODER_DELAY.min(n);
    samples.drain(..d);
    samples.resize(n, 0.0);
}

/// `.snd`: Sun/NeXT audio file magic.
const SUN_AU_MAGIC: &[u8] = b".snd";

/// Sun/NeXT `.au` reader (big-endian header of six u32 words, then an annotation, then data).
/// GTZAN ships its clips in this format with encoding 3 (16-bit linear PCM).
fn decode_sun_au(bytes: &[u8], path: &Path) -> Result<Audio> {
    let corrupt = |reason: &str| Error::CorruptAudio {
        path: PathBuf::from(path),
        reason: reason.to_string(),
    };
    let word = |i: usize| -> Option<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(offset), Some(size), Some(encoding), Some(rate), Some(channels)) =
        (word(1), word(2), word(3), word(4), word(5))
    else {
        return Err(corrupt("truncated .au header"));
    };
    let offset = offset as usize;
    if offset < 24 || offset > bytes.len() {
        return Err(corrupt("bad .au data offset"));
    }
    let channels = channels as usize;
    if channels == 0 {
        return Err(corrupt(".au header says 0 channels"));
    }
    let data = &bytes[offset..];
    // 0xffffffff means "unknown size": read to the end of the file. A size larger than the file
    // (truncated copy) also reads what is there.
    let data = if size != u32::MAX && (size as usize) < data.len() {
        &data[..size as usize]
    } else {
        data
    };
    let decode_sample: fn(&[u8]) -> f32 = match encoding {
        1 => |b| mulaw_to_linear(b[0]),
        2 => |b| f32::from(b[0] as i8) / 128.0,
        3 => |b| f32::from(i16::from_be_bytes([b[0], b[1]])) / 32768.0,
        4 => |b| (i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8) as f32 / 8_388_608.0,
        5 => |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
        6 => |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        7 => |b| f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        27 => |b| alaw_to_linear(b[0]),
        other => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: format!(".au encoding {other} is not supported"),
            })
        }
    };
    let width = match encoding {
        1 | 2 | 27 => 1,
        3 => 2,
        4 => 3,
        5 | 6 => 4,
        _ => 8,
    };
    let frame_bytes = width * channels;
    let mut interleaved = Vec::with_capacity(data.len() / width);
    for frame in data.chunks_exact(frame_bytes) {
        interleaved.extend(frame.chunks_exact(width).map(decode_sample));
    }
    let mut samples = Vec::with_capacity(interleaved.len() / channels);
    mix_interleaved(&interleaved, channels, &mut samples);
    Ok(Audio {
        samples,
        sample_rate: rate,
        source_channels: channels,
    })
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

    #[test]
    fn mp3_delay_keeps_length() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        remove_mp3_decoder_delay(&mut v);
        assert_eq!(v.len(), 1000);
        assert_eq!(v[0], 529.0);
        assert_eq!(v[470], 999.0);
        assert_eq!(v[471], 0.0);
    }
}
