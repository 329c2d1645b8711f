//! WAV, MP3, Ogg Vorbis (and FLAC that our own decoder declines) through symphonia, mixed down
//! to mono as packets arrive.
//!
//! MP3 timing (reference README, step 2): every MP3 decoder's output starts with a 529-sample
//! synthesis delay. When a file carries a LAME/Xing gapless header, symphonia (gapless mode on)
//! trims that delay *plus* the encoder's own delay and padding, as ffmpeg does; when it has none
//! (the bensound clips), symphonia trims nothing and we shift the output left by 529 samples
//! with zeros appended. Either way the delay is removed exactly once.
//!
//! Untrusted sizes: symphonia sizes its packet buffers from the stream's own limits (at most
//! 32 channels, a bounded number of frames per packet); what we keep grows only with samples
//! actually decoded, through [`reserve`], so a header's frame count is never trusted and the
//! total stops at [`super::mono::MAX_SAMPLES`].

use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_MP3, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::mono::{reserve, Audio};
use crate::config::MP3_DECODER_DELAY;
use crate::error::{Error, Result};

/// Decode `bytes` with symphonia (`ext` is a format hint, `path` names the file in errors).
///
/// symphonia is third-party code run on untrusted bytes, screened for every failure we know
/// of (`super::screen`). A panic inside it that the screening missed becomes this file's
/// error, not the end of the process (the panic's message is still printed by the panic
/// hook).
pub(crate) fn decode(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
    std::panic::catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes, ext, path)))
        .unwrap_or_else(|panic| {
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

fn decode_unguarded(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Audio> {
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
        if channels == 0 {
            return Err(corrupt("a packet without channels".into()));
        }
        reserve(&mut samples, decoded.frames(), path)?;
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
