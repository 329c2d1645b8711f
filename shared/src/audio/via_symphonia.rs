//! WAV, MP3, Ogg Vorbis (and FLAC that our own decoder declines) through symphonia, a packet
//! at a time, mixed down to mono as packets arrive.
//!
//! MP3 timing (reference README, step 2): every MP3 decoder's output starts with a 529-sample
//! synthesis delay. When a file carries a LAME/Xing gapless header, symphonia (gapless mode on)
//! trims that delay *plus* the encoder's own delay and padding, as ffmpeg does; when it has none
//! (the bensound clips), symphonia trims nothing and we shift the output left by 529 samples
//! with zeros appended. Either way the delay is removed exactly once.
//!
//! Untrusted sizes: symphonia sizes its packet buffers from the stream's own limits (at most
//! 32 channels, a bounded number of frames per packet), and a packet's samples are handed on
//! as soon as they are decoded: a header's frame count is never trusted, only compared with
//! what decoded.
//!
//! Chained Ogg files (a radio recording saved one link per song) go on from link to link while
//! the sample rate stays the same; the channel count may change (each packet is mixed down on
//! its own). A link at another rate, like a packet at another rate in any format, ends the
//! audio there with a [`Warning`]: the 12 kHz analysis needs one input rate per recording.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_MP3, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::source::Screened;
use super::Warning;
use crate::config::MP3_DECODER_DELAY;
use crate::error::{Error, Result};

/// Packets after the audio that decode to nothing (trimmed by a gapless header's length, say)
/// beyond which the file is said to hold more than its header announces.
const EMPTY_PACKETS_NOTED: usize = 4;

/// A screened stream decoded by symphonia one packet at a time.
pub(super) struct SymphoniaStream {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    /// The packet's samples, interleaved (resized to the largest packet).
    interleaved: Option<SampleBuffer<f32>>,
    /// Whether the MP3 decoder delay is still in the output (see the module docs).
    pub(super) needs_delay_fix: bool,
    /// The first packet's rate and channel count (0 before it).
    rate: u32,
    channels: usize,
    /// Frames the container announces, at the track's rate, when it does.
    pub(super) claimed: Option<(u64, u32)>,
    decode_errors: usize,
    /// Packets that decoded to nothing after the first that decoded to something.
    empty_after: usize,
    /// Mono samples delivered.
    delivered: u64,
    done: bool,
}

/// What [`SymphoniaStream::next`] did.
pub(super) enum Step {
    /// A packet's samples were appended, at this rate, from this many channels.
    Samples { rate: u32, channels: usize },
    /// The stream ended (warnings, if any, went to `notes`).
    End,
}

/// symphonia is third-party code run on untrusted bytes, screened for every failure we know of
/// (`super::screen`). A panic inside it that the screening missed becomes this file's error,
/// not the end of the process (the panic's message is still printed by the panic hook).
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        Err(Error::CorruptAudio {
            path: path.to_path_buf(),
            reason: format!(
                "the decoder failed on this stream: {}",
                what.replace('\n', " ")
            ),
        })
    })
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::CorruptAudio {
        path: path.to_path_buf(),
        reason,
    }
}

fn unsupported(path: &Path, reason: String) -> Error {
    Error::UnsupportedFormat {
        path: path.to_path_buf(),
        reason,
    }
}

/// The first track with a codec, and a decoder for it.
fn track_decoder(format: &dyn FormatReader, path: &Path) -> Result<(Track, Box<dyn Decoder>)> {
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| unsupported(path, "no audio track".into()))?
        .clone();
    let decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| unsupported(path, e.to_string()))?;
    Ok((track, decoder))
}

impl SymphoniaStream {
    /// Probe `source` (`ext` is a format hint, `path` names the file in errors).
    pub(super) fn open(source: Screened, ext: Option<&str>, path: &Path) -> Result<Self> {
        guarded(path, || {
            let mss = MediaSourceStream::new(Box::new(source), Default::default());
            let mut hint = Hint::new();
            if let Some(ext) = ext {
                hint.with_extension(ext);
            }
            // Gapless on: files with a LAME header come out trimmed of every delay (see module
            // docs).
            let format_opts = FormatOptions {
                enable_gapless: true,
                ..Default::default()
            };
            let probed = symphonia::default::get_probe()
                .format(&hint, mss, &format_opts, &MetadataOptions::default())
                .map_err(|e| unsupported(path, e.to_string()))?;
            let format = probed.format;
            let (track, decoder) = track_decoder(format.as_ref(), path)?;
            let params = &track.codec_params;
            // symphonia reports a delay only when it found a gapless header and trims it itself.
            let needs_delay_fix = params.codec == CODEC_TYPE_MP3 && params.delay.is_none();
            let claimed = params.n_frames.zip(params.sample_rate);
            Ok(Self {
                format,
                decoder,
                track_id: track.id,
                interleaved: None,
                needs_delay_fix,
                rate: params.sample_rate.unwrap_or(0),
                channels: params.channels.map_or(0, |c| c.count()),
                claimed,
                decode_errors: 0,
                empty_after: 0,
                delivered: 0,
                done: false,
            })
        })
    }

    /// The rate and channel count the container announces (0 when it does not), for an error
    /// about a stream that decodes to nothing.
    pub(super) fn announced(&self) -> (u32, usize) {
        (self.rate, self.channels)
    }

    /// Append the next packet's samples to `out`, mixed down to mono.
    pub(super) fn next(
        &mut self,
        out: &mut Vec<f32>,
        path: &Path,
        notes: &mut Vec<Warning>,
    ) -> Result<Step> {
        if self.done {
            return Ok(Step::End);
        }
        let step = guarded(path, || self.next_unguarded(out, path, notes));
        if !matches!(step, Ok(Step::Samples { .. })) {
            self.done = true;
        }
        step
    }

    fn next_unguarded(
        &mut self,
        out: &mut Vec<f32>,
        path: &Path,
        notes: &mut Vec<Warning>,
    ) -> Result<Step> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.end(path, notes)
                }
                // A new link of a chained Ogg file: it goes on at the same rate.
                Err(SymError::ResetRequired) => {
                    if self.next_link(path, notes)? {
                        continue;
                    }
                    return self.end(path, notes);
                }
                // A damaged tail (truncated download): keep what decoded cleanly.
                Err(e) if self.delivered > 0 => {
                    notes.push(Warning::Damaged {
                        at: self.seconds(),
                        reason: e.to_string(),
                    });
                    return self.end(path, notes);
                }
                Err(e) => return Err(corrupt(path, e.to_string())),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(_)) => {
                    self.decode_errors += 1;
                    continue;
                }
                Err(SymError::IoError(_)) => return self.end(path, notes),
                Err(e) => return Err(corrupt(path, e.to_string())),
            };
            let spec = *decoded.spec();
            if decoded.frames() == 0 {
                self.empty_after += usize::from(self.delivered > 0);
                continue;
            }
            let channels = spec.channels.count();
            if channels == 0 {
                return Err(corrupt(path, "a packet without channels".into()));
            }
            if self.delivered > 0 && spec.rate != self.rate {
                notes.push(Warning::RateChange {
                    at: self.seconds(),
                    from: self.rate,
                    to: spec.rate,
                });
                return self.end(path, notes);
            }
            if self.delivered == 0 {
                (self.rate, self.channels) = (spec.rate, channels);
            }
            let needed = decoded.capacity() as u64;
            let buf = match &mut self.interleaved {
                Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
                slot => slot.insert(SampleBuffer::<f32>::new(needed, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            let before = out.len();
            mix_interleaved(buf.samples(), channels, out);
            self.delivered += (out.len() - before) as u64;
            return Ok(Step::Samples {
                rate: self.rate,
                channels: self.channels,
            });
        }
    }

    /// Seconds delivered so far.
    fn seconds(&self) -> f64 {
        self.delivered as f64 / f64::from(self.rate.max(1))
    }

    /// The end of the stream: an error when nothing decoded and packets failed, warnings about
    /// what was left out.
    fn end(&mut self, path: &Path, notes: &mut Vec<Warning>) -> Result<Step> {
        if self.decode_errors > 0 {
            if self.delivered == 0 {
                let n = self.decode_errors;
                return Err(corrupt(path, format!("{n} undecodable packets")));
            }
            notes.push(Warning::Skipped {
                packets: self.decode_errors,
            });
        }
        if self.empty_after > EMPTY_PACKETS_NOTED {
            notes.push(Warning::Unannounced {
                packets: self.empty_after,
                after: self.seconds(),
            });
        }
        Ok(Step::End)
    }

    /// A chained Ogg file's next link (symphonia has read its headers): decode it on if it has
    /// the rate of the audio so far; otherwise stop, saying why. Returns whether it goes on.
    fn next_link(&mut self, path: &Path, notes: &mut Vec<Warning>) -> Result<bool> {
        let Ok((track, decoder)) = track_decoder(self.format.as_ref(), path) else {
            notes.push(Warning::Damaged {
                at: self.seconds(),
                reason: "a chained stream without a decodable track".into(),
            });
            return Ok(false);
        };
        let rate = track.codec_params.sample_rate.unwrap_or(0);
        if self.delivered > 0 && rate != self.rate {
            notes.push(Warning::RateChange {
                at: self.seconds(),
                from: self.rate,
                to: rate,
            });
            return Ok(false);
        }
        self.track_id = track.id;
        self.decoder = decoder;
        // The chain's length is no longer the first link's.
        self.claimed = None;
        Ok(true)
    }
}

/// Shift left by the MP3 decoder delay and append as many zeros: length is unchanged
/// (reference README, step 2).
pub fn remove_mp3_decoder_delay(samples: &mut Vec<f32>) {
    let n = samples.len();
    let d = MP3_DECODER_DELAY.min(n);
    samples.drain(..d);
    samples.resize(n, 0.0);
}

/// Average interleaved frames to mono, appending to `out`.
pub(super) fn mix_interleaved(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
