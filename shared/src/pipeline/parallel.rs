//! Many files → genres at full machine speed.
//!
//! ```text
//!  paths ──► worker 1: decode → resample → frames → log-mel ─┐
//!        ──► worker 2: …                                     ├─► bounded queue of frames ─► network thread:
//!        ──► worker N: …                                     ┘    full batches of any songs' frames,
//!                                                                 scores put back per song, each song
//!                                                                 delivered when its last frame is scored
//! ```
//!
//! * The front-end workers (plain threads, one [`FrontEnd`] each, reusing its buffers) take
//!   the next file from a shared counter, so files are started in input order.
//! * Frames travel one by one through a queue of at most [`PipelineConfig::queue_frames`]
//!   log-mels (0.52 MB each); a worker blocks while it is full. Memory is therefore bounded
//!   by the workers' current songs (decoded and 12 kHz signal), the queue and one batch,
//!   whatever the number of files: a 10,000-file tree never holds more than a few songs.
//! * The network sees batches of exactly [`PipelineConfig::batch`] frames (the last one may be
//!   shorter) regardless of file boundaries. On the CPU a frame's scores do not depend on
//!   the other frames in its batch (every layer computes each batch row alone, in the same
//!   order), so the scores are bit-identical to one song at a time (`tests/stream.rs`
//!   checks it).
//! * Results arrive in completion order; the index says which file. A failed file is
//!   delivered at once with its error; a failed forward pass fails the songs that had frames
//!   in it, and the run goes on.
//! * Cancelling (the flag set from a Ctrl-C handler, say) stops workers before their next
//!   file and the network before its next batch: songs in flight are dropped, never
//!   delivered half-scored.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use crate::aggregate::SongScores;
use crate::config::FramingConfig;
use crate::error::{Error, Result};
use crate::model::{CandleDevice, Model};
use crate::progress::Counters;
use crate::resample::ResamplerKind;
use crate::timeline::TimelineConfig;

use super::{default_batch, song_scores, FrontEnd, FRAME_VALUES};

/// How a [`Pipeline`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The resampler of every worker's front end.
    pub resampler: ResamplerKind,
    /// How songs are cut into 29.12 s frames ([`crate::aggregate`]).
    pub framing: FramingConfig,
    /// Frames per forward pass (≥ 1).
    pub batch: usize,
    /// Front-end worker threads. 0 runs the front-end on the calling thread, between
    /// forward passes: one thread in all (besides the network's own pool).
    pub workers: usize,
    /// Log-mel frames that may wait for the network; 0 picks `2 × batch + workers`.
    pub queue_frames: usize,
    /// Also score the windows of a genre timeline ([`crate::timeline`]) into
    /// [`SongScores::timeline`]; `None`: no timeline.
    pub timeline: Option<TimelineConfig>,
}

impl PipelineConfig {
    /// Reference resampler, the paper's framing, [`default_batch`] for the device and one
    /// front-end worker per thread of rayon's pool (all cores, or `RAYON_NUM_THREADS`).
    pub fn for_device(device: &CandleDevice) -> Self {
        Self {
            resampler: ResamplerKind::Reference,
            framing: FramingConfig::default(),
            batch: default_batch(device),
            workers: rayon::current_num_threads(),
            queue_frames: 0,
            timeline: None,
        }
    }

    fn queue(&self) -> usize {
        if self.queue_frames > 0 {
            self.queue_frames
        } else {
            2 * self.batch.max(1) + self.workers
        }
    }
}

/// What a finished or cancelled [`Pipeline::run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSummary {
    /// Songs delivered (results and errors).
    pub delivered: usize,
    /// The run stopped because the cancel flag was set; undelivered songs were dropped.
    pub cancelled: bool,
}

/// One model, many files: see the module documentation.
pub struct Pipeline<'m> {
    model: &'m Model,
    config: PipelineConfig,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("model", self.model)
            .field("config", &self.config)
            .finish()
    }
}

/// Work sent from the front-end workers to the network thread.
enum Msg {
    /// Log-mel `frame` of `of` frames of song `song`.
    Frame {
        song: usize,
        frame: usize,
        of: usize,
        logmel: Vec<f32>,
    },
    /// Song `song` failed in the front-end.
    Failed(usize, Error),
}

impl<'m> Pipeline<'m> {
    /// A pipeline that runs `model` as `config` says; nothing starts before [`Pipeline::run`].
    pub fn new(model: &'m Model, config: PipelineConfig) -> Self {
        Self { model, config }
    }

    /// Analyse `paths`, calling `done(index, result)` on the calling thread as each song
    /// completes (in completion order). Returns when every song was delivered or, once
    /// `cancel` is set, as soon as the work in hand is dropped.
    pub fn run(
        &self,
        paths: &[impl AsRef<Path> + Sync],
        cancel: &AtomicBool,
        done: impl FnMut(usize, Result<SongScores>),
    ) -> PipelineSummary {
        self.run_with_progress(paths, cancel, &Counters::default(), done)
    }

    /// [`Pipeline::run`], updating `progress` as it goes.
    pub fn run_with_progress(
        &self,
        paths: &[impl AsRef<Path> + Sync],
        cancel: &AtomicBool,
        progress: &Counters,
        mut done: impl FnMut(usize, Result<SongScores>),
    ) -> PipelineSummary {
        let mut net = Batcher::new(self.model, self.config.batch);
        let mut deliver = |i: usize, r: Result<SongScores>| {
            progress.add_songs(1);
            done(i, r);
        };
        let stopped = if self.config.workers == 0 {
            self.run_inline(paths, cancel, progress, &mut net, &mut deliver)
        } else {
            self.run_threaded(paths, cancel, progress, &mut net, &mut deliver)
        };
        // The last, short batch, unless the run was cancelled.
        let cancelled = stopped || cancel.load(Ordering::Relaxed);
        if !cancelled {
            net.flush(&mut deliver);
        }
        PipelineSummary {
            delivered: progress.songs.load(Ordering::Relaxed),
            cancelled,
        }
    }

    /// Front-end and network on the calling thread, one file after another, until every file
    /// is in or `cancel`. Returns whether it stopped early.
    fn run_inline(
        &self,
        paths: &[impl AsRef<Path> + Sync],
        cancel: &AtomicBool,
        progress: &Counters,
        net: &mut Batcher<'_>,
        done: &mut impl FnMut(usize, Result<SongScores>),
    ) -> bool {
        let mut front = FrontEnd::new(self.config.resampler, self.config.framing);
        let mut logmel = vec![0f32; FRAME_VALUES];
        for (song, path) in paths.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return true;
            }
            let opened = front.open(path.as_ref());
            progress.add_files(1);
            match opened {
                Err(e) => done(song, Err(e)),
                Ok(of) => {
                    for frame in 0..of {
                        front.frame_into(frame, &mut logmel);
                        net.add(song, frame, of, &logmel, done);
                    }
                }
            }
        }
        false
    }

    /// Front-end workers feeding the network on the calling thread through a bounded queue.
    fn run_threaded(
        &self,
        paths: &[impl AsRef<Path> + Sync],
        cancel: &AtomicBool,
        progress: &Counters,
        net: &mut Batcher<'_>,
        done: &mut impl FnMut(usize, Result<SongScores>),
    ) -> bool {
        let next = AtomicUsize::new(0);
        let pool = FramePool::new(self.config.queue() + self.config.workers);
        std::thread::scope(|s| {
            let (tx, rx) = sync_channel::<Msg>(self.config.queue());
            for _ in 0..self.config.workers {
                let tx = tx.clone();
                let (next, pool, config) = (&next, &pool, &self.config);
                s.spawn(move || {
                    let mut front = FrontEnd::new(config.resampler, config.framing);
                    front_worker(&mut front, paths, next, cancel, progress, pool, &tx);
                });
            }
            drop(tx);
            let cancelled = network_loop(&rx, cancel, net, &pool, done);
            // Workers blocked on a full queue see the receiver gone and stop.
            drop(rx);
            cancelled
        })
    }
}

/// Take files from `next` until none are left (or `cancel`), sending their frames.
fn front_worker(
    front: &mut FrontEnd,
    paths: &[impl AsRef<Path> + Sync],
    next: &AtomicUsize,
    cancel: &AtomicBool,
    progress: &Counters,
    pool: &FramePool,
    tx: &SyncSender<Msg>,
) {
    while !cancel.load(Ordering::Relaxed) {
        let song = next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = paths.get(song) else {
            return;
        };
        let opened = front.open(path.as_ref());
        progress.add_files(1);
        let of = match opened {
            Ok(of) => of,
            Err(e) => {
                if tx.send(Msg::Failed(song, e)).is_err() {
                    return;
                }
                continue;
            }
        };
        for frame in 0..of {
            let mut logmel = pool.take();
            front.frame_into(frame, &mut logmel);
            let msg = Msg::Frame {
                song,
                frame,
                of,
                logmel,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

/// Receive frames until every worker is done or until `cancel`. Returns whether it stopped
/// early.
fn network_loop(
    rx: &Receiver<Msg>,
    cancel: &AtomicBool,
    net: &mut Batcher<'_>,
    pool: &FramePool,
    done: &mut impl FnMut(usize, Result<SongScores>),
) -> bool {
    loop {
        if cancel.load(Ordering::Relaxed) {
            return true;
        }
        match rx.recv() {
            Ok(Msg::Frame {
                song,
                frame,
                of,
                logmel,
            }) => {
                net.add(song, frame, of, &logmel, done);
                pool.put(logmel);
            }
            Ok(Msg::Failed(song, e)) => done(song, Err(e)),
            Err(_) => return false,
        }
    }
}

/// Log-mel buffers handed back by the network thread for the workers to reuse, so that
/// frames do not cost a fresh 0.52 MB allocation (and its page faults) each.
struct FramePool {
    free: Mutex<Vec<Vec<f32>>>,
    keep: usize,
}

impl FramePool {
    fn new(keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    fn take(&self) -> Vec<f32> {
        let reused = self.free.lock().ok().and_then(|mut f| f.pop());
        reused.unwrap_or_else(|| vec![0f32; FRAME_VALUES])
    }

    fn put(&self, buf: Vec<f32>) {
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.keep {
                free.push(buf);
            }
        }
    }
}

/// The scores of a song whose frames are still in flight.
struct Partial {
    frames: Vec<Option<Vec<f32>>>,
    missing: usize,
    failed: Option<String>,
}

/// Gathers frames of any songs into full batches, runs the network and reassembles the
/// scores per song.
struct Batcher<'m> {
    model: &'m Model,
    batch: usize,
    /// The batch being filled: `rows.len()` log-mels, concatenated.
    input: Vec<f32>,
    /// (song, frame) of each row of `input`.
    rows: Vec<(usize, usize)>,
    songs: HashMap<usize, Partial>,
}

impl<'m> Batcher<'m> {
    fn new(model: &'m Model, batch: usize) -> Self {
        let batch = batch.max(1);
        Self {
            model,
            batch,
            input: Vec::with_capacity(batch * FRAME_VALUES),
            rows: Vec::with_capacity(batch),
            songs: HashMap::new(),
        }
    }

    /// Add frame `frame` of `of` of `song`; runs the network when the batch is full.
    fn add(
        &mut self,
        song: usize,
        frame: usize,
        of: usize,
        logmel: &[f32],
        done: &mut impl FnMut(usize, Result<SongScores>),
    ) {
        self.songs.entry(song).or_insert_with(|| Partial {
            frames: vec![None; of],
            missing: of,
            failed: None,
        });
        self.input.extend_from_slice(logmel);
        self.rows.push((song, frame));
        if self.rows.len() >= self.batch {
            self.flush(done);
        }
    }

    /// Score the frames gathered so far and deliver every song that is now complete.
    fn flush(&mut self, done: &mut impl FnMut(usize, Result<SongScores>)) {
        if self.rows.is_empty() {
            return;
        }
        let scored = self.model.predict(&self.input, self.batch);
        let scored = match scored {
            Ok(s) if s.len() == self.rows.len() => Ok(s),
            Ok(s) => Err(format!(
                "{} score rows for {} frames",
                s.len(),
                self.rows.len()
            )),
            Err(e) => Err(e.to_string()),
        };
        let scores = match scored {
            Ok(s) => s.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(reason) => vec![Err(reason); self.rows.len()],
        };
        let mut complete = Vec::new();
        for (&(song, frame), s) in self.rows.iter().zip(scores) {
            if let Some(p) = self.songs.get_mut(&song) {
                match s {
                    Ok(s) => p.frames[frame] = Some(s),
                    Err(reason) => p.failed = Some(reason),
                }
                p.missing -= 1;
                if p.missing == 0 {
                    complete.push(song);
                }
            }
        }
        self.rows.clear();
        self.input.clear();
        for song in complete {
            if let Some(p) = self.songs.remove(&song) {
                done(song, self.finish(p));
            }
        }
    }

    fn finish(&self, p: Partial) -> Result<SongScores> {
        if let Some(reason) = p.failed {
            return Err(Error::Forward(reason));
        }
        let frames: Vec<Vec<f32>> = p.frames.into_iter().flatten().collect();
        song_scores(frames, self.model)
    }
}
