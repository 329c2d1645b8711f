//! Decoding: any WAV / FLAC / MP3 / Ogg Vorbis file (symphonia) or Sun/NeXT `.au` (GTZAN's
//! original format, read by our own parser) to mono `f32` at the file's own sample rate, as a
//! stream: [`AudioStream`] reads a file a packet (a FLAC frame, a block of `.au` samples) at a
//! time, so a recording of any length is decoded in bounded memory. FLAC goes through our own
//! decoder first ([`crate::flac`], faster, same bits) and through symphonia when that one
//! declines. Channels are averaged (reference README, step 1).
//!
//! Every size, count, rate and offset in a file is untrusted. Nothing is allocated from a
//! header's word alone: each decoder bounds its buffers by its format's limits and by the
//! bytes the file has, and a header's length is only compared with what decoded (a
//! [`Warning`] when they disagree). A bad file is an [`Error`], never an abort.
//!
//! Modules: `mono` (the [`Audio`] type and the limits; a leaf), `source` (reading a file by
//! position, the stream symphonia is handed), `screen` (what symphonia is handed: ID3v2 tags
//! skipped, FLAC and WAV headers rebuilt, Ogg comment headers checked), `au` and
//! `via_symphonia` (the decoders), `warning`, and this file ([`AudioStream`]: choosing a
//! decoder, the MP3 delay, the checks every stream passes; whole files as [`Audio`]).

mod au;
mod mono;
mod screen;
mod source;
mod via_symphonia;
mod warning;

use std::path::{Path, PathBuf};

pub use mono::{Audio, MAX_INPUT_RATE, MAX_SAMPLES};
pub use via_symphonia::remove_mp3_decoder_delay;
pub use warning::Warning;

use crate::config::MP3_DECODER_DELAY;
use crate::error::{Error, Result};
use crate::flac::FlacStream;
use au::AuStream;
use screen::Located;
use source::Source;
use via_symphonia::{Step, SymphoniaStream};

/// File extensions that [`AudioStream::open`] is expected to read; used when walking folders.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga", "au", "snd"];

/// True if the path has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// What [`AudioStream::read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Samples were appended.
    Samples,
    /// Everything read so far is void: the file is being decoded again from its start (our
    /// FLAC decoder declined a stream part-way; symphonia decodes it instead, as a whole file
    /// always was). Start afresh; the next samples are the file's first.
    Restart,
    /// The stream ended; [`AudioStream::warnings`] says what was odd about it, if anything.
    End,
}

/// The decoder a stream is read by.
enum Decoding {
    Au(AuStream),
    Flac(Box<FlacStream<Source>>),
    Symphonia(Box<SymphoniaStream>),
    /// The stream ended (its decoder dropped).
    Done,
}

impl crate::flac::ReadAt for Source {
    fn len(&self) -> u64 {
        Source::len(self)
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        Source::read_at(self, pos, buf)
    }
}

/// A file decoded as a stream of mono samples at its own rate, a packet at a time.
///
/// Every stream passes the checks an [`Audio`] passes, as it goes: its rate is within
/// `8 kHz ..= MAX_INPUT_RATE` before its first sample is handed out, every sample is finite,
/// and an empty stream is an error. The MP3 decoder delay is removed (the first 529 samples
/// dropped, as many zeros appended at the end; reference README, step 2). There is no limit
/// on the length: memory does not grow with it.
pub struct AudioStream {
    path: PathBuf,
    src: Source,
    ext: Option<String>,
    decoding: Decoding,
    rate: u32,
    channels: usize,
    /// Samples handed out since the start (or the last restart).
    delivered: u64,
    /// Samples still to drop at the start, and zeros owed at the end (the MP3 decoder delay).
    delay: usize,
    owed: usize,
    /// Seconds the header announces, when it does.
    claimed: Option<f64>,
    warnings: Vec<Warning>,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("path", &self.path)
            .field("rate", &self.rate)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl AudioStream {
    /// Open `path` (a regular file only: a FIFO, device or folder is refused) and find its
    /// audio; nothing is decoded yet.
    pub fn open(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str());
        Self::new(Source::file(path)?, ext, path, false)
    }

    /// A file already in memory. `ext` is a format hint; `path` is only used in messages.
    pub fn from_bytes(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Self> {
        Self::new(Source::bytes(bytes), ext, path, false)
    }

    fn new(src: Source, ext: Option<&str>, path: &Path, symphonia_only: bool) -> Result<Self> {
        let mut stream = Self {
            path: path.to_path_buf(),
            ext: ext.map(str::to_string),
            decoding: Decoding::Done,
            src,
            rate: 0,
            channels: 0,
            delivered: 0,
            delay: 0,
            owed: 0,
            claimed: None,
            warnings: Vec::new(),
        };
        let located = screen::locate(&stream.src, path, symphonia_only, &mut stream.warnings)?;
        stream.decoding = match located {
            Located::Au(at) => {
                let au = AuStream::open(stream.src.clone(), at, path, &mut stream.warnings)?;
                (stream.rate, stream.channels) = (au.sample_rate(), au.channels());
                stream.claimed = Some(au.seconds_left());
                Decoding::Au(au)
            }
            Located::Flac(at) => match FlacStream::open(stream.src.clone(), at) {
                Ok(flac) => {
                    (stream.rate, stream.channels) = (flac.sample_rate(), flac.channels());
                    stream.claimed = flac
                        .total_samples()
                        .map(|n| n as f64 / f64::from(flac.sample_rate()));
                    Decoding::Flac(Box::new(flac))
                }
                Err(_) => stream.symphonia_from(at)?,
            },
            Located::Symphonia(screened) => stream.symphonia(screened)?,
        };
        Ok(stream)
    }

    /// The stream symphonia decodes, on the screened bytes.
    fn symphonia(&mut self, screened: source::Screened) -> Result<Decoding> {
        let s = SymphoniaStream::open(screened, self.ext.as_deref(), &self.path)?;
        (self.rate, self.channels) = s.announced();
        self.claimed = s
            .claimed
            .map(|(frames, rate)| frames as f64 / f64::from(rate.max(1)));
        self.delay = if s.needs_delay_fix {
            MP3_DECODER_DELAY
        } else {
            0
        };
        Ok(Decoding::Symphonia(Box::new(s)))
    }

    /// symphonia on the FLAC stream at `at` (our decoder declined it).
    fn symphonia_from(&mut self, at: u64) -> Result<Decoding> {
        let screened = screen::for_symphonia(&self.src, at, &self.path, &mut self.warnings)?;
        self.symphonia(screened)
    }

    /// Sample rate in Hz (known once samples were read; from the header before).
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Channel count of the source before mixdown.
    pub fn source_channels(&self) -> usize {
        self.channels
    }

    /// Seconds of audio the header announces, when it does (a hint, never trusted: a
    /// progress bar's estimate, not a length to rely on).
    pub fn announced_seconds(&self) -> Option<f64> {
        self.claimed.filter(|s| s.is_finite() && *s > 0.0)
    }

    /// Seconds of audio handed out so far.
    pub fn seconds(&self) -> f64 {
        self.delivered as f64 / f64::from(self.rate.max(1))
    }

    /// What was odd about the file, found so far (all of it once [`Read::End`] came).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Append the next packet's mono samples to `out` (at least one sample when it returns
    /// [`Read::Samples`]; a packet at most: a FLAC frame, a block of `.au` samples, what
    /// symphonia decodes from one packet).
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<Read> {
        loop {
            let from = out.len();
            match self.decode(out)? {
                Got::Restart => {
                    out.truncate(from);
                    return Ok(Read::Restart);
                }
                Got::End => return self.end(out),
                Got::Samples => {
                    let skip = self.delay.min(out.len() - from);
                    if skip > 0 {
                        out.drain(from..from + skip);
                        self.delay -= skip;
                        self.owed += skip;
                    }
                    if out.len() == from {
                        continue;
                    }
                    if self.delivered == 0 {
                        mono::check_rate(self.rate)?;
                    }
                    // Chunked fold instead of an early-exit scan, so that the check vectorises.
                    let non_finite =
                        |c: &[f32]| c.iter().fold(false, |bad, s| bad | !s.is_finite());
                    if out[from..].chunks(4096).any(non_finite) {
                        return Err(Error::NonFiniteSamples);
                    }
                    self.delivered += (out.len() - from) as u64;
                    return Ok(Read::Samples);
                }
            }
        }
    }

    /// One packet from the decoder in use.
    fn decode(&mut self, out: &mut Vec<f32>) -> Result<Got> {
        let from = out.len();
        match &mut self.decoding {
            Decoding::Done => Ok(Got::End),
            Decoding::Au(au) => Ok(if au.next(out, &self.path)? {
                Got::Samples
            } else {
                Got::End
            }),
            Decoding::Symphonia(s) => match s.next(out, &self.path, &mut self.warnings)? {
                Step::Samples { rate, channels } => {
                    (self.rate, self.channels) = (rate, channels);
                    Ok(Got::Samples)
                }
                Step::End => Ok(Got::End),
            },
            Decoding::Flac(flac) => {
                let decoded = flac.next(out);
                let trailing = flac.trailing_frames();
                match decoded {
                    Ok(true) => Ok(Got::Samples),
                    Ok(false) => {
                        if trailing {
                            self.warnings.push(Warning::Ignored {
                                after: self.seconds(),
                            });
                        }
                        Ok(Got::End)
                    }
                    Err(_) => {
                        out.truncate(from);
                        self.flac_declined()
                    }
                }
            }
        }
    }

    /// Our FLAC decoder declined the stream: symphonia decodes the file from its start (as the
    /// whole file always was), and what was handed out is void.
    fn flac_declined(&mut self) -> Result<Got> {
        let restart = self.delivered > 0;
        let at = screen::id3v2_len(&self.src, 0, &self.path)?;
        self.decoding = Decoding::Done;
        self.decoding = self.symphonia_from(at)?;
        (self.delivered, self.owed) = (0, 0);
        Ok(if restart { Got::Restart } else { Got::Samples })
    }

    /// The end: the zeros owed for the MP3 delay, the checks of an empty stream, and what the
    /// header said against what decoded.
    fn end(&mut self, out: &mut Vec<f32>) -> Result<Read> {
        self.decoding = Decoding::Done;
        if self.delivered == 0 && self.owed == 0 {
            mono::check_rate(self.rate)?;
            if self.channels == 0 {
                return Err(Error::CorruptAudio {
                    path: self.path.clone(),
                    reason: "no channels".into(),
                });
            }
            return Err(Error::EmptyAudio {
                path: self.path.clone(),
            });
        }
        if let Some(header) = self.claimed.take() {
            let file = (self.delivered + self.owed as u64) as f64 / f64::from(self.rate.max(1));
            if header - file > (0.01 * header).max(1.0) {
                self.warnings.push(Warning::Shorter { header, file });
            }
        }
        if self.owed > 0 {
            mono::check_rate(self.rate)?;
            out.resize(out.len() + self.owed, 0.0);
            self.delivered += self.owed as u64;
            self.owed = 0;
            return Ok(Read::Samples);
        }
        Ok(Read::End)
    }
}

/// What one decoder call gave.
enum Got {
    Samples,
    Restart,
    End,
}

/// Read a whole stream into an [`Audio`]: at most [`MAX_SAMPLES`] samples, memory for them
/// asked for (and a refusal an error) packet by packet.
fn collect(mut stream: AudioStream) -> Result<Audio> {
    let mut samples = Vec::new();
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        match stream.read(&mut chunk)? {
            Read::Samples => {
                mono::reserve(&mut samples, chunk.len(), &stream.path)?;
                samples.extend_from_slice(&chunk);
            }
            Read::Restart => samples.clear(),
            Read::End => break,
        }
    }
    let audio = Audio {
        samples,
        sample_rate: stream.rate,
        source_channels: stream.channels,
    };
    audio.validate(&stream.path)?;
    Ok(audio)
}

/// The length a file's header announces, for a progress estimate: a few header bytes read,
/// nothing decoded. `None` where the header announces none, and for files whose length would
/// need more than a header read (Ogg, whose pages the screening walks; anything that does not
/// start with a marker the decoders know).
pub fn header_seconds(path: &Path) -> Option<f64> {
    let src = Source::file(path).ok()?;
    let at = screen::id3v2_len(&src, 0, path).ok()?;
    let head = src.get(at, 4)?;
    let mp3_sync = head[0] == 0xff && head[1] & 0xe0 == 0xe0;
    let markers: [&[u8]; 5] = [au::MAGIC, b"fLaC", b"RIFF", b"RF64", b"FORM"];
    let known = markers.iter().any(|m| head.starts_with(m));
    if !(known || mp3_sync) {
        return None;
    }
    let ext = path.extension().and_then(|e| e.to_str());
    AudioStream::new(src, ext, path, false)
        .ok()?
        .announced_seconds()
}

/// Decode a whole file to mono `f32` at its native rate (at most [`MAX_SAMPLES`] samples):
/// [`AudioStream`] read to its end.
pub fn decode_file(path: &Path) -> Result<Audio> {
    collect(AudioStream::open(path)?)
}

/// Decode an in-memory file. `ext` is a format hint; `path` is only used in error messages.
pub fn decode_bytes(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    collect(AudioStream::from_bytes(bytes, ext, path)?)
}

/// Decode with symphonia only (no fast FLAC path, no `.au` reader): the reference the FLAC
/// decoder is tested against.
pub fn decode_file_symphonia(path: &Path) -> Result<Audio> {
    let ext = path.extension().and_then(|e| e.to_str());
    collect(AudioStream::new(Source::file(path)?, ext, path, true)?)
}

/// [`decode_file_symphonia`] on a file already in memory.
pub fn decode_bytes_symphonia(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    collect(AudioStream::new(Source::bytes(bytes), ext, path, true)?)
}

/// Our own FLAC decoder ([`crate::flac`]) alone, on a whole file in memory; `None` (where a
/// file would go to symphonia) for anything it does not handle or finds inconsistent, or audio
/// an [`Audio`] would refuse.
pub fn decode_flac_own(bytes: &[u8]) -> Option<Audio> {
    if !bytes.starts_with(b"fLaC") {
        return None;
    }
    let mut flac = FlacStream::open(Source::bytes(bytes.to_vec()), 0).ok()?;
    let mut samples = Vec::new();
    while flac.next(&mut samples).ok()? {
        if samples.len() > MAX_SAMPLES {
            return None;
        }
    }
    let audio = Audio {
        samples,
        sample_rate: flac.sample_rate(),
        source_channels: flac.channels(),
    };
    audio.validate(Path::new("")).is_ok().then_some(audio)
}
