//! Decoding: any WAV / FLAC / MP3 / Ogg Vorbis file (symphonia) or Sun/NeXT `.au` (GTZAN's
//! original format, read by our own parser) to mono `f32` at the file's own sample rate.
//! FLAC goes through our own decoder first (`crate::flac`, faster, same bits) and through
//! symphonia when that one declines. Channels are averaged (reference README, step 1).
//!
//! Every size, count, rate and offset in a file is untrusted. Nothing is allocated from a
//! header's word alone: the file is read up to [`MAX_FILE_BYTES`], each decoder bounds its
//! buffers by the bytes it actually has and by its format's limits, decoded samples stop at
//! [`MAX_SAMPLES`], and the result is checked once as an [`Audio`] (rate within
//! `8 kHz ..= MAX_INPUT_RATE`, finite samples). A bad file is an [`Error`], never an abort.
//!
//! Modules: `mono` (the [`Audio`] type and the limits; a leaf), `screen` (what symphonia is
//! handed: ID3v2 tags dropped, FLAC and WAV headers rebuilt, Ogg comment headers checked),
//! `au` and `via_symphonia` (the decoders, which make an [`Audio`]), and this file (reading
//! files, choosing a decoder, the reusable [`Decoder`]).

mod au;
mod mono;
mod screen;
mod via_symphonia;

use std::path::Path;

pub use mono::{Audio, MAX_FILE_BYTES, MAX_INPUT_RATE, MAX_SAMPLES};
pub use via_symphonia::remove_mp3_decoder_delay;

use crate::error::{Error, IoError, Result};

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
    /// The last file's audio; only handed out once it has passed [`Audio`]'s checks.
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

/// The whole file into `bytes` (cleared first; its capacity is reused), at most
/// [`MAX_FILE_BYTES`].
fn read_into(path: &Path, bytes: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    let io = |e| Error::from(IoError::read(path)(e));
    let file = crate::fsio::open_regular(path)?;
    bytes.clear();
    // The length on disk is a hint (a device or a pipe says 0): the read is bounded anyway.
    if let Ok(meta) = file.metadata() {
        let hint = meta.len().min(MAX_FILE_BYTES).saturating_add(1);
        let _ = bytes.try_reserve(usize::try_from(hint).unwrap_or(0));
    }
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::TooLong {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
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
    drop_id3v2(bytes, path)?;
    if bytes.starts_with(au::MAGIC) {
        *audio = au::decode(bytes, path)?;
    } else if !flac_own_into(bytes, audio) {
        *audio = symphonia(std::mem::take(bytes), ext, path)?;
    }
    audio.validate(path)
}

/// Drop leading ID3v2 tags (any format may carry them); an empty remainder is an error.
fn drop_id3v2(bytes: &mut Vec<u8>, path: &Path) -> Result<()> {
    let tags = screen::id3v2_len(bytes, path)?;
    bytes.drain(..tags);
    if bytes.is_empty() {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok(())
}

/// symphonia on screened bytes (ID3v2 tags already dropped).
fn symphonia(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    via_symphonia::decode(screen::for_symphonia(bytes, path)?, ext, path)
}

/// Our own FLAC decoder (`crate::flac`) alone, before validation; `None` (the caller falls
/// back to symphonia) for anything it does not handle or finds inconsistent.
pub fn decode_flac_own(bytes: &[u8]) -> Option<Audio> {
    let mut audio = Audio::empty();
    let valid = flac_own_into(bytes, &mut audio) && audio.validate(Path::new("")).is_ok();
    valid.then_some(audio)
}

/// [`decode_flac_own`] into `audio`'s buffer; false when the fast path declines.
fn flac_own_into(bytes: &[u8], audio: &mut Audio) -> bool {
    if !bytes.starts_with(b"fLaC") {
        return false;
    }
    match crate::flac::decode_into(bytes, &mut audio.samples, MAX_SAMPLES) {
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
    decode_bytes_symphonia(bytes, ext, path)
}

/// [`decode_file_symphonia`] on a file already in memory.
pub fn decode_bytes_symphonia(mut bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    drop_id3v2(&mut bytes, path)?;
    let audio = symphonia(bytes, ext, path)?;
    audio.validate(path)?;
    Ok(audio)
}
