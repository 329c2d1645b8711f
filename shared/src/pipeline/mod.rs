//! File → genre: the stages of `mgr-core` strung together with reusable state.
//!
//! * [`FrontEnd`]: a file streamed through decode → resample to 12 kHz → cut clips →
//!   log-mel, in bounded memory whatever its length; each clip's log-mel goes to a [`Sink`]
//!   as soon as it is certain. Its buffers and filter tables are reused from file to file.
//! * [`parallel`]: many files at full machine speed — front-end workers on every core feed
//!   log-mel frames of any song into full network batches through a bounded queue; each
//!   song's result is delivered as soon as its last frame is scored.
//! * [`Analyzer`]: one model and one front-end, for a song at a time (and, through
//!   [`parallel`], for a list of files in order).

mod cut;
pub mod parallel;

use std::ops::Range;
use std::path::Path;

use crate::aggregate::{Framing, SongScores};
use crate::audio::{Audio, AudioStream, Read, Warning};
use crate::config::{FramingConfig, N_FRAMES, N_MELS};
use crate::error::{Error, Result};
use crate::mel::LogMel;
use crate::model::{CandleDevice, Model};
use crate::resample::{Resampler, ResamplerKind};
use crate::timeline::TimelineConfig;
use cut::Cutter;

pub use parallel::{Pipeline, PipelineConfig, PipelineSummary};

/// Frames per forward pass on the CPU: enough to amortise per-call overhead, small enough for
/// memory (CRNN block-1 activations are ≈ 8.8 MB per frame). Scores do not depend on it.
pub const DEFAULT_BATCH: usize = 8;

/// Frames per forward pass on a GPU: large batches are what keep a GPU busy (one CRNN frame
/// is ≈ 6.5 GFLOP); 64 frames of log-mels are 34 MB of input.
pub const DEFAULT_GPU_BATCH: usize = 64;

/// The default batch for a device: [`DEFAULT_BATCH`] on the CPU, [`DEFAULT_GPU_BATCH`] on
/// CUDA and Metal.
pub fn default_batch(device: &CandleDevice) -> usize {
    if device.is_cpu() {
        DEFAULT_BATCH
    } else {
        DEFAULT_GPU_BATCH
    }
}

/// Values in one log-mel frame (`96 × 1366`).
pub const FRAME_VALUES: usize = N_MELS * N_FRAMES;

/// Decoded samples resampled at a time when the audio is already in memory.
const PIECE: usize = 1 << 16;

/// Owns everything needed to analyse many files with one model.
pub struct Analyzer {
    front: FrontEnd,
    model: Model,
    batch: usize,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("resampler", &self.front.resampler)
            .field("model", &self.model)
            .finish()
    }
}

/// Log-mels of every frame of a song, concatenated (`frames × 96 × 1366`).
#[derive(Debug, Clone, Default)]
pub struct SongFeatures {
    /// `frames` network inputs of [`FRAME_VALUES`] each, row-major `[96 mel bands, 1366
    /// STFT frames]` in dB (reference README, "The canonical front-end", steps 5–8).
    pub logmels: Vec<f32>,
    /// Number of 29.12 s frames ([`crate::aggregate`]'s rule; ≥ 1 for a decoded song).
    pub frames: usize,
}

/// What a log-mel from the [`FrontEnd`] is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clip {
    /// Frame `k` of the song decision (the paper's multiframe rule).
    Frame(usize),
    /// Window `k` of the genre timeline ([`crate::timeline`]).
    Window(usize),
}

/// Receives a recording's log-mels from the [`FrontEnd`] as they are cut.
pub trait Sink {
    /// The log-mel (`96 × 1366`) of `clip`; return false to stop the recording here (a
    /// cancelled run, a closed queue).
    fn clip(&mut self, clip: Clip, logmel: &[f32]) -> bool;
    /// The log-mel of `clip` is bit for bit that of `of`, the clip sent just before it (digital
    /// silence, a loop): a sink that scores clips may copy `of`'s scores instead of running the
    /// network again (on the CPU they are the same, bit for bit). By default it is a clip
    /// like any other.
    fn repeat(&mut self, clip: Clip, of: Clip, logmel: &[f32]) -> bool {
        let _ = of;
        self.clip(clip, logmel)
    }
    /// Everything sent for this recording so far is void: it comes again from its start
    /// ([`Read::Restart`]).
    fn restart(&mut self) {}
    /// `seconds` more of the recording were decoded.
    fn heard(&mut self, _seconds: f64) {}
}

/// What a recording streamed through the [`FrontEnd`] was, once it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    /// Frames of the song decision: [`Clip::Frame`] `0..frames` were sent.
    pub frames: usize,
    /// The timeline's windows (sample ranges at 12 kHz; [`Clip::Window`] `k` is `windows[k]`);
    /// empty without a timeline.
    pub windows: Vec<Range<usize>>,
    /// Samples at 12 kHz.
    pub len: usize,
    /// What was odd about the file ([`crate::audio::Warning`]).
    pub warnings: Vec<Warning>,
}

/// A file → log-mels of its clips: decode, resample to 12 kHz, cut, log-mel, as a stream
/// (see the module documentation). Keeps its buffers, the resampler's tables and the FFT plan
/// from file to file.
pub struct FrontEnd {
    resampler: Resampler,
    framing: FramingConfig,
    /// A decoded packet.
    chunk: Vec<f32>,
    /// The log-mel transform, the log-mel being computed and the last one sent.
    mels: Mels,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("resampler", &self.resampler)
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

/// One recording on its way through the cutter and the log-mel to a sink.
struct Run<'a> {
    cutter: Cutter,
    mels: &'a mut Mels,
    sink: &'a mut dyn Sink,
    stopped: bool,
    /// A sample other than zero has arrived.
    sound: bool,
}

/// The log-mel transform, the log-mel being computed and the one sent before it, with its clip.
struct Mels {
    logmel: LogMel,
    now: Vec<f32>,
    last: Vec<f32>,
    last_clip: Option<Clip>,
}

impl Mels {
    fn new() -> Self {
        Self {
            logmel: LogMel::new(),
            now: vec![0f32; FRAME_VALUES],
            last: vec![0f32; FRAME_VALUES],
            last_clip: None,
        }
    }

    /// The log-mel of `x` for `clip` into `sink`, as a repeat when it equals the clip's
    /// predecessor bit for bit.
    fn send(&mut self, clip: Clip, x: &[f32], sink: &mut dyn Sink) -> bool {
        self.logmel.compute_into(x, &mut self.now);
        let same = self.last_clip.filter(|_| {
            self.now
                .iter()
                .zip(&self.last)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        });
        std::mem::swap(&mut self.now, &mut self.last);
        self.last_clip = Some(clip);
        match same {
            Some(of) => sink.repeat(clip, of, &self.last),
            None => sink.clip(clip, &self.last),
        }
    }
}

impl Run<'_> {
    /// More of the 12 kHz recording.
    fn push(&mut self, y: &[f32]) {
        if self.stopped {
            return;
        }
        self.sound = self.sound || y.iter().any(|&v| v != 0.0);
        let (mels, sink) = (&mut *self.mels, &mut *self.sink);
        let go_on = self.cutter.push(y, &mut |clip, x| mels.send(clip, x, sink));
        self.stopped = !go_on;
    }

    fn restart(&mut self) {
        self.cutter.reset();
        self.mels.last_clip = None;
        self.sound = false;
        self.sink.restart();
    }

    /// The end of the recording; `None` when the sink stopped it.
    fn finish(mut self, mut warnings: Vec<Warning>) -> Option<Streamed> {
        if self.stopped {
            return None;
        }
        let (mels, sink) = (&mut *self.mels, &mut *self.sink);
        let cut = self
            .cutter
            .finish(&mut |clip, x| mels.send(clip, x, sink))?;
        if !self.sound && cut.len > 0 {
            warnings.push(Warning::DigitalSilence);
        }
        Some(Streamed {
            frames: cut.frames,
            windows: cut.windows,
            len: cut.len,
            warnings,
        })
    }
}

/// Collects the song frames' log-mels (what [`SongFeatures`] holds).
#[derive(Default)]
struct Frames(SongFeatures);

impl Sink for Frames {
    fn clip(&mut self, clip: Clip, logmel: &[f32]) -> bool {
        if let Clip::Frame(_) = clip {
            self.0.logmels.extend_from_slice(logmel);
            self.0.frames += 1;
        }
        true
    }

    fn restart(&mut self) {
        self.0 = SongFeatures::default();
    }
}

impl FrontEnd {
    /// A front end with empty buffers, resampling with `resampler` and cutting frames by
    /// `framing` (`FramingConfig::default()`: the paper's 20 s trim).
    pub fn new(resampler: ResamplerKind, framing: FramingConfig) -> Self {
        Self {
            resampler: Resampler::new(resampler),
            framing,
            chunk: Vec::new(),
            mels: Mels::new(),
        }
    }

    /// A run of the cutter and log-mel into `sink`, with the timeline's windows if asked for.
    fn run<'a>(
        mels: &'a mut Mels,
        framing: &FramingConfig,
        timeline: Option<&TimelineConfig>,
        sink: &'a mut dyn Sink,
    ) -> Run<'a> {
        mels.last_clip = None;
        Run {
            cutter: Cutter::new(Framing::new(framing), timeline.map(|t| t.hop_samples())),
            mels,
            sink,
            stopped: false,
            sound: false,
        }
    }

    /// Stream the file at `path` into `sink`: decoded a packet at a time, resampled as it
    /// comes, each clip's log-mel sent once it is certain (the song's frames; the timeline's
    /// windows too when `timeline` is given). Returns what the recording was, or `None` when
    /// the sink stopped it. Memory does not grow with the file's length.
    pub fn stream(
        &mut self,
        path: &Path,
        timeline: Option<&TimelineConfig>,
        sink: &mut dyn Sink,
    ) -> Result<Option<Streamed>> {
        self.stream_from(AudioStream::open(path)?, timeline, sink)
    }

    /// [`FrontEnd::stream`] for a stream already open (a file in memory:
    /// [`AudioStream::from_bytes`]).
    pub fn stream_from(
        &mut self,
        mut audio: AudioStream,
        timeline: Option<&TimelineConfig>,
        sink: &mut dyn Sink,
    ) -> Result<Option<Streamed>> {
        let mut run = Self::run(&mut self.mels, &self.framing, timeline, sink);
        let whole = resampled(&mut audio, &self.resampler, &mut self.chunk, &mut |piece| {
            match piece {
                Piece::At12k(y) => run.push(y),
                Piece::Heard(seconds) => run.sink.heard(seconds),
                Piece::Restart => run.restart(),
            }
            !run.stopped
        })?;
        if !whole {
            return Ok(None);
        }
        Ok(run.finish(audio.warnings().to_vec()))
    }

    /// [`FrontEnd::stream`] for audio already decoded.
    pub fn stream_audio(
        &mut self,
        audio: &Audio,
        timeline: Option<&TimelineConfig>,
        sink: &mut dyn Sink,
    ) -> Result<Option<Streamed>> {
        let mut rs = self.resampler.stream(audio.sample_rate())?;
        let mut run = Self::run(&mut self.mels, &self.framing, timeline, sink);
        for piece in audio.samples().chunks(PIECE) {
            rs.push(piece, &mut |y| run.push(y));
            if run.stopped {
                return Ok(None);
            }
        }
        rs.flush(&mut |y| run.push(y));
        Ok(run.finish(Vec::new()))
    }

    /// [`FrontEnd::stream`] for a signal already at 12 kHz.
    pub fn stream_12k(
        &mut self,
        y: &[f32],
        timeline: Option<&TimelineConfig>,
        sink: &mut dyn Sink,
    ) -> Option<Streamed> {
        let mut run = Self::run(&mut self.mels, &self.framing, timeline, sink);
        run.push(y);
        run.finish(Vec::new())
    }

    /// The whole file at 12 kHz (decoded and resampled as a stream, collected).
    pub fn signal_12k(&mut self, path: &Path) -> Result<Vec<f32>> {
        let mut audio = AudioStream::open(path)?;
        let mut y = Vec::new();
        resampled(&mut audio, &self.resampler, &mut self.chunk, &mut |piece| {
            match piece {
                Piece::At12k(o) => y.extend_from_slice(o),
                Piece::Heard(_) => {}
                Piece::Restart => y.clear(),
            }
            true
        })?;
        Ok(y)
    }

    /// Log-mels of every song frame of a file.
    pub fn file(&mut self, path: &Path) -> Result<SongFeatures> {
        let mut frames = Frames::default();
        self.stream(path, None, &mut frames)?;
        Ok(frames.0)
    }

    /// [`FrontEnd::file`] with a hook: `edit` may change the whole 12 kHz signal before the
    /// frames' log-mels are taken (training's augmentation adds noise there, scaled by the
    /// signal's level). The signal is held whole: for clips, not for long recordings.
    pub fn file_with(
        &mut self,
        path: &Path,
        edit: impl FnOnce(&mut [f32]),
    ) -> Result<SongFeatures> {
        let mut y = self.signal_12k(path)?;
        edit(&mut y);
        Ok(self.at_12k(&y))
    }

    /// [`FrontEnd::file`] for audio already decoded.
    pub fn audio(&mut self, audio: &Audio) -> Result<SongFeatures> {
        let mut frames = Frames::default();
        self.stream_audio(audio, None, &mut frames)?;
        Ok(frames.0)
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn at_12k(&mut self, y: &[f32]) -> SongFeatures {
        let mut frames = Frames::default();
        self.stream_12k(y, None, &mut frames);
        frames.0
    }
}

/// What [`resampled`] hands on.
enum Piece<'a> {
    /// More of the recording at 12 kHz.
    At12k(&'a [f32]),
    /// Seconds of the file just decoded (after their 12 kHz samples).
    Heard(f64),
    /// The recording starts again ([`Read::Restart`]).
    Restart,
}

/// The decoded stream `audio` resampled to 12 kHz, a packet at a time (decoded into
/// `chunk`), into `out`; the resampler flushed at the end. Returns false as soon as `out`
/// does (stopped before the end).
fn resampled(
    audio: &mut AudioStream,
    resampler: &Resampler,
    chunk: &mut Vec<f32>,
    out: &mut dyn FnMut(Piece<'_>) -> bool,
) -> Result<bool> {
    let mut rs = None;
    loop {
        chunk.clear();
        match audio.read(chunk)? {
            Read::Samples => {
                let rate = audio.sample_rate();
                let rs = match &mut rs {
                    Some(rs) => rs,
                    None => rs.insert(resampler.stream(rate)?),
                };
                let mut go_on = true;
                rs.push(chunk, &mut |y| go_on = go_on && out(Piece::At12k(y)));
                if !go_on || !out(Piece::Heard(chunk.len() as f64 / f64::from(rate))) {
                    return Ok(false);
                }
            }
            Read::Restart => {
                rs = None;
                if !out(Piece::Restart) {
                    return Ok(false);
                }
            }
            Read::End => break,
        }
    }
    let mut go_on = true;
    if let Some(rs) = &mut rs {
        rs.flush(&mut |y| go_on = go_on && out(Piece::At12k(y)));
    }
    Ok(go_on)
}

impl Analyzer {
    /// An analyser of `model` with the paper's framing and [`DEFAULT_BATCH`] frames per
    /// forward pass. [`ResamplerKind::Reference`] reproduces the published inputs;
    /// [`ResamplerKind::Fast`] is faster (the plugin's; its drift is measured in
    /// `docs/verification.md`).
    pub fn new(model: Model, resampler: ResamplerKind) -> Self {
        Self {
            front: FrontEnd::new(resampler, FramingConfig::default()),
            model,
            batch: DEFAULT_BATCH,
        }
    }

    /// Frames per forward pass (≥ 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The model it runs (its labels name the scores' classes).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Resample and cut into frames; log-mel of every frame.
    pub fn features(&mut self, audio: &Audio) -> Result<SongFeatures> {
        self.front.audio(audio)
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn features_12k(&mut self, y: &[f32]) -> SongFeatures {
        self.front.at_12k(y)
    }

    /// Scores of every frame and the song-level decision for decoded audio.
    pub fn analyze_audio(&mut self, audio: &Audio) -> Result<SongScores> {
        parallel::analyze_one(
            &mut self.front,
            &self.model,
            self.batch,
            parallel::Input::Audio(audio),
        )
    }

    /// Analyse many files, reporting each result to `done` in input order. This runs the
    /// [`parallel`] pipeline (front-end workers on every thread of rayon's pool, frames of
    /// several files in one batch) and puts its results back in order; songs finish out of
    /// order, so a result may wait for an earlier, longer song.
    pub fn analyze_files(
        &mut self,
        paths: &[impl AsRef<Path> + Sync],
        mut done: impl FnMut(usize, Result<SongScores>),
    ) {
        let config = PipelineConfig {
            resampler: self.front.resampler.kind(),
            framing: self.front.framing,
            batch: self.batch,
            ..PipelineConfig::for_device(self.model.device())
        };
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        let never = std::sync::atomic::AtomicBool::new(false);
        Pipeline::new(&self.model, config).run(paths, &never, |i, r| {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&next) {
                done(next, r);
                next += 1;
            }
        });
    }

    /// Stream a file through the front end and the network, frames scored a batch at a time
    /// as they come (memory does not grow with the file's length).
    pub fn analyze_file(&mut self, path: &Path) -> Result<SongScores> {
        parallel::analyze_one(
            &mut self.front,
            &self.model,
            self.batch,
            parallel::Input::File(path),
        )
    }
}

/// The song decision of a song's frame scores; a song with no frame scores (an empty
/// feature matrix, or a model with no outputs) is an error, never a made-up result.
pub(crate) fn song_scores(frames: Vec<Vec<f32>>, model: &Model) -> Result<SongScores> {
    let n = frames.len();
    SongScores::from_frames(frames)
        .filter(|s| !s.mean.is_empty())
        .ok_or_else(|| Error::NoScores {
            model: model.name().to_string(),
            frames: n,
        })
}
