//! Constants of the published models' front-end, documented once.
//!
//! Every number comes from Choi et al.'s preprocessing (K. Choi, G. Fazekas, M. Sandler,
//! "Automatic tagging using deep convolutional neural networks", ISMIR 2016) as restated in
//! `reference/README.md` of the data pack ("The canonical front-end, step by step").

/// Sample rate the networks were trained at: 12 kHz (mel filters reach 6 kHz = Nyquist).
pub const SAMPLE_RATE: u32 = 12_000;
/// STFT size: 512 samples (42.7 ms at 12 kHz), periodic Hann window.
pub const N_FFT: usize = 512;
/// STFT hop: 256 samples (21.3 ms).
pub const HOP: usize = 256;
/// Number of Slaney mel bands between 0 Hz and 6 kHz.
pub const N_MELS: usize = 96;
/// Number of FFT bins of a real 512-point transform.
pub const N_BINS: usize = N_FFT / 2 + 1;
/// Samples in one network input: 29.12 s at 12 kHz.
pub const CLIP_SAMPLES: usize = 349_440;
/// STFT frames per clip with centred (reflect-padded) frames: 1 + 349440 / 256.
pub const N_FRAMES: usize = 1 + CLIP_SAMPLES / HOP;
/// Dynamic range kept by the dB conversion: values below `max − 80 dB` are clipped.
pub const TOP_DB: f32 = 80.0;
/// Floor inside the logarithm: `10·log10(max(1e-10, S))`.
pub const AMIN: f32 = 1e-10;
/// Lowest input sample rate accepted (the 0–6 kHz mel range must be representable).
pub const MIN_INPUT_RATE: u32 = 8_000;
/// MP3 synthesis filterbank delay in samples (528 + 1), present in the output of every
/// standard decoder when a file carries no gapless header (reference README, step 2).
pub const MP3_DECODER_DELAY: usize = 529;

/// Seconds of one network input frame (29.12 s).
pub const FRAME_SECONDS: f64 = CLIP_SAMPLES as f64 / SAMPLE_RATE as f64;

/// The paper's multiframe rule (Jiménez & Marqués, section 3.3): songs long enough are
/// trimmed by 20 s at each end before cutting non-overlapping 29.12 s frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramingConfig {
    /// Seconds dropped at the start and at the end of a long song.
    pub trim_seconds: f64,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self { trim_seconds: 20.0 }
    }
}
