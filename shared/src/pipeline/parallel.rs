//! Many files → genres at full machine speed.
//!
//! ```text
//!  paths ──► worker 1: decode → resample → cut → log-mel ─┐   (each a stream: a file of any
//!        ──► worker 2: …                                   │    length in bounded memory)
//!        ──► worker N: …                                   ├─► bounded queue of clips ─► network thread:
//!                                                          ┘    full batches of any songs' clips,
//!                                                               scores put back per song, each song
//!                                                               delivered when it ended and its
//!                                                               last clip is scored
//! ```
//!
//! * The front-end workers (plain threads, one [`FrontEnd`] each, reusing its buffers) take
//!   the next file from a shared counter, so files are started in input order. One file is
//!   decoded by one worker, as a stream: a long recording's frames enter the queue as they
//!   become certain, among the other workers' songs, so it never holds up the batches.
//! * Clips (song frames, and timeline windows when asked for) travel one by one through a
//!   queue of at most [`PipelineConfig::queue_frames`] log-mels (0.52 MB each); a worker
//!   blocks while it is full. Memory is therefore bounded by the workers' streams (a packet, a
//!   resampler window, at most 69.12 s at 12 kHz), the queue and one batch, whatever the
//!   number of files and their length.
//! * The network sees batches of exactly [`PipelineConfig::batch`] clips (the last one may be
//!   shorter) regardless of file boundaries. On the CPU a clip's scores do not depend on
//!   the other clips in its batch (every layer computes each batch row alone, in the same
//!   order), so the scores are bit-identical to one song at a time (`tests/stream.rs`
//!   checks it).
//! * Results arrive in completion order; the index says which file. A failed file is
//!   delivered with its error as soon as it fails (its clips already scored are dropped); a
//!   failed forward pass fails the songs that had clips in it, and the run goes on.
//! * Cancelling (the flag set from a Ctrl-C handler, say) stops workers at their next clip and
//!   the network before its next batch: songs in flight are dropped, never delivered
//!   half-scored.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use crate::aggregate::SongScores;
use crate::audio::Audio;
use crate::config::FramingConfig;
use crate::error::{Error, Result};
use crate::model::{CandleDevice, Model};
use crate::progress::Counters;
use crate::resample::ResamplerKind;
use crate::timeline::{window, TimelineConfig};

use super::{default_batch, song_scores, Clip, FrontEnd, Sink, Streamed, FRAME_VALUES};

/// How a [`Pipeline`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The resampler of every worker's front end.
    pub resampler: ResamplerKind,
    /// How songs are cut into 29.12 s frames ([`crate::aggregate`]).
    pub framing: FramingConfig,
    /// Clips per forward pass (≥ 1).
    pub batch: usize,
    /// Front-end worker threads. 0 runs the front-end on the calling thread, between
    /// forward passes: one thread in all (besides the network's own pool).
    pub workers: usize,
    /// Log-mel clips that may wait for the network; 0 picks `2 × batch + workers`.
    pub queue_frames: usize,
    /// Also score the windows of a genre timeline ([`crate::timeline`]) into
    /// [`SongScores::timeline`]; `None`: no timeline. The windows go through the same queue
    /// and batches as the song's frames; the song decision does not change.
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
    /// The log-mel of a clip of song `song`.
    Clip {
        song: usize,
        clip: Clip,
        logmel: Vec<f32>,
    },
    /// Clip `clip` of song `song` has the log-mel of `of`, the clip before it.
    Repeat { song: usize, clip: Clip, of: Clip },
    /// Song `song` starts again: its clips so far are void.
    Restart(usize),
    /// Song `song` ended: what it was, or why it failed.
    End(usize, Result<Streamed>),
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
        let mut net = Batcher::new(self.model, self.config.batch, progress);
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
        for (song, path) in paths.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return true;
            }
            let mut sink = Inline {
                net: &mut *net,
                song,
                done: &mut *done,
                cancel,
                progress,
                heard: 0.0,
            };
            let streamed = front.stream(path.as_ref(), self.config.timeline.as_ref(), &mut sink);
            progress.add_files(1);
            match streamed {
                Ok(None) => return true,
                Ok(Some(s)) => net.end(song, Ok(s), done),
                Err(e) => net.end(song, Err(e), done),
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
                    let work = Work {
                        paths,
                        next,
                        cancel,
                        progress,
                        pool,
                        tx: &tx,
                        timeline: config.timeline.as_ref(),
                    };
                    front_worker(&mut front, &work);
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

/// What the front-end workers share.
struct Work<'a, P> {
    paths: &'a [P],
    next: &'a AtomicUsize,
    cancel: &'a AtomicBool,
    progress: &'a Counters,
    pool: &'a FramePool,
    tx: &'a SyncSender<Msg>,
    timeline: Option<&'a TimelineConfig>,
}

/// Take files until none are left (or `cancel`), streaming their clips to the network.
fn front_worker<P: AsRef<Path> + Sync>(front: &mut FrontEnd, work: &Work<'_, P>) {
    while !work.cancel.load(Ordering::Relaxed) {
        let song = work.next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = work.paths.get(song) else {
            return;
        };
        let mut sink = Queue {
            work,
            song,
            heard: 0.0,
        };
        let streamed = front.stream(path.as_ref(), work.timeline, &mut sink);
        work.progress.add_files(1);
        let end = match streamed {
            Ok(None) => return, // cancelled, or the network is gone
            Ok(Some(s)) => Ok(s),
            Err(e) => Err(e),
        };
        if work.tx.send(Msg::End(song, end)).is_err() {
            return;
        }
    }
}

/// A worker's sink: each clip into the queue (in a pooled buffer).
struct Queue<'w, 'a, P> {
    work: &'w Work<'a, P>,
    song: usize,
    /// Seconds of this song added to the progress counters.
    heard: f64,
}

impl<P> Sink for Queue<'_, '_, P> {
    fn clip(&mut self, clip: Clip, logmel: &[f32]) -> bool {
        if self.work.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let mut buf = self.work.pool.take();
        buf.copy_from_slice(logmel);
        let msg = Msg::Clip {
            song: self.song,
            clip,
            logmel: buf,
        };
        self.work.tx.send(msg).is_ok()
    }

    fn repeat(&mut self, clip: Clip, of: Clip, _: &[f32]) -> bool {
        if self.work.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let msg = Msg::Repeat {
            song: self.song,
            clip,
            of,
        };
        self.work.tx.send(msg).is_ok()
    }

    fn restart(&mut self) {
        self.work
            .progress
            .add_audio_seconds(-std::mem::take(&mut self.heard));
        let _ = self.work.tx.send(Msg::Restart(self.song));
    }

    fn heard(&mut self, seconds: f64) {
        self.heard += seconds;
        self.work.progress.add_audio_seconds(seconds);
    }
}

/// The inline sink: each clip straight into the batch, the network run when it is full.
struct Inline<'n, 'm, D> {
    net: &'n mut Batcher<'m>,
    song: usize,
    done: &'n mut D,
    cancel: &'n AtomicBool,
    progress: &'n Counters,
    heard: f64,
}

impl<D: FnMut(usize, Result<SongScores>)> Sink for Inline<'_, '_, D> {
    fn clip(&mut self, clip: Clip, logmel: &[f32]) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            return false;
        }
        self.net.add(self.song, clip, logmel, self.done);
        true
    }

    fn repeat(&mut self, clip: Clip, of: Clip, _: &[f32]) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            return false;
        }
        self.net.repeat(self.song, clip, of);
        true
    }

    fn restart(&mut self) {
        self.progress
            .add_audio_seconds(-std::mem::take(&mut self.heard));
        self.net.restart(self.song);
    }

    fn heard(&mut self, seconds: f64) {
        self.heard += seconds;
        self.progress.add_audio_seconds(seconds);
    }
}

/// What [`analyze_one`] analyses.
pub(super) enum Input<'a> {
    File(&'a Path),
    Audio(&'a Audio),
}

/// One recording through `front` and the network on the calling thread, clips scored
/// `batch` at a time as they come.
pub(super) fn analyze_one(
    front: &mut FrontEnd,
    model: &Model,
    batch: usize,
    input: Input<'_>,
) -> Result<SongScores> {
    let progress = Counters::default();
    let mut net = Batcher::new(model, batch, &progress);
    let mut result = None;
    let mut done = |_, r| result = Some(r);
    let never = AtomicBool::new(false);
    let mut sink = Inline {
        net: &mut net,
        song: 0,
        done: &mut done,
        cancel: &never,
        progress: &progress,
        heard: 0.0,
    };
    let streamed = match input {
        Input::File(path) => front.stream(path, None, &mut sink),
        Input::Audio(audio) => front.stream_audio(audio, None, &mut sink),
    };
    let end = streamed.map(|s| s.expect("nothing cancels this run"));
    net.end(0, end, &mut done);
    net.flush(&mut done);
    result.unwrap_or_else(|| Err(Error::Forward("the song was not delivered".into())))
}

/// Receive clips until every worker is done or until `cancel`. Returns whether it stopped
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
            Ok(Msg::Clip { song, clip, logmel }) => {
                net.add(song, clip, &logmel, done);
                pool.put(logmel);
            }
            Ok(Msg::Repeat { song, clip, of }) => net.repeat(song, clip, of),
            Ok(Msg::Restart(song)) => net.restart(song),
            Ok(Msg::End(song, end)) => net.end(song, end, done),
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

/// The scores of a song whose clips are still in flight.
#[derive(Default)]
struct Partial {
    frames: Vec<Option<Vec<f32>>>,
    windows: Vec<Option<Vec<f32>>>,
    /// Clips added and not scored yet.
    pending: usize,
    /// What the recording was, once it ended.
    ended: Option<Streamed>,
    failed: Option<String>,
}

impl Partial {
    fn slots(&mut self, clip: Clip) -> (&mut Vec<Option<Vec<f32>>>, usize) {
        match clip {
            Clip::Frame(k) => (&mut self.frames, k),
            Clip::Window(k) => (&mut self.windows, k),
        }
    }

    /// `clip`'s scores, once they are in.
    fn scores(&mut self, clip: Clip) -> Option<Vec<f32>> {
        let (slots, k) = self.slots(clip);
        slots.get(k).cloned().flatten()
    }

    fn put(&mut self, clip: Clip, scores: Vec<f32>) {
        let (slots, k) = self.slots(clip);
        put(slots, k, scores);
    }
}

/// Gathers clips of any songs into full batches, runs the network and reassembles the
/// scores per song.
struct Batcher<'m> {
    model: &'m Model,
    /// Where the clips scored and repeated are counted.
    progress: &'m Counters,
    batch: usize,
    /// The batch being filled: `rows.len()` log-mels, concatenated.
    input: Vec<f32>,
    /// (song, clip) of each row of `input`.
    rows: Vec<(usize, Clip)>,
    /// (song, clip, of): clips whose scores are those of `of`, still in the batch (or itself
    /// such a repeat), in arrival order.
    repeats: Vec<(usize, Clip, Clip)>,
    songs: HashMap<usize, Partial>,
}

/// `slots[k] = value`, growing `slots` as needed.
fn put(slots: &mut Vec<Option<Vec<f32>>>, k: usize, value: Vec<f32>) {
    if slots.len() <= k {
        slots.resize(k + 1, None);
    }
    slots[k] = Some(value);
}

impl<'m> Batcher<'m> {
    fn new(model: &'m Model, batch: usize, progress: &'m Counters) -> Self {
        let batch = batch.max(1);
        Self {
            model,
            progress,
            batch,
            input: Vec::with_capacity(batch * FRAME_VALUES),
            rows: Vec::with_capacity(batch),
            repeats: Vec::new(),
            songs: HashMap::new(),
        }
    }

    /// Add `clip` of `song`; runs the network when the batch is full.
    fn add(
        &mut self,
        song: usize,
        clip: Clip,
        logmel: &[f32],
        done: &mut impl FnMut(usize, Result<SongScores>),
    ) {
        self.songs.entry(song).or_default().pending += 1;
        self.input.extend_from_slice(logmel);
        self.rows.push((song, clip));
        if self.rows.len() >= self.batch {
            self.flush(done);
        }
    }

    /// `clip` of `song` has the log-mel of `of`, its song's previous clip: it gets `of`'s
    /// scores, without a row of its own in the batch.
    fn repeat(&mut self, song: usize, clip: Clip, of: Clip) {
        let p = self.songs.entry(song).or_default();
        if p.failed.is_some() {
            return; // `of` was in a batch that failed: the song fails with it
        }
        self.progress.add_repeated(1);
        match p.scores(of) {
            Some(s) => p.put(clip, s),
            None => {
                // `of` waits in the batch (or is itself such a repeat): resolved by `flush`.
                p.pending += 1;
                self.repeats.push((song, clip, of));
            }
        }
    }

    /// Forget `song`'s clips: those scored and those waiting in the batch.
    fn forget(&mut self, song: usize) {
        self.songs.remove(&song);
        self.repeats.retain(|r| r.0 != song);
        if self.rows.iter().any(|r| r.0 == song) {
            let mut kept = 0;
            for i in 0..self.rows.len() {
                if self.rows[i].0 != song {
                    self.rows[kept] = self.rows[i];
                    self.input.copy_within(
                        i * FRAME_VALUES..(i + 1) * FRAME_VALUES,
                        kept * FRAME_VALUES,
                    );
                    kept += 1;
                }
            }
            self.rows.truncate(kept);
            self.input.truncate(kept * FRAME_VALUES);
        }
    }

    /// `song` starts again from its first clip.
    fn restart(&mut self, song: usize) {
        self.forget(song);
    }

    /// `song` ended: delivered now if it failed or all its clips are scored, else when they
    /// are.
    fn end(
        &mut self,
        song: usize,
        end: Result<Streamed>,
        done: &mut impl FnMut(usize, Result<SongScores>),
    ) {
        match end {
            Err(e) => {
                self.forget(song);
                done(song, Err(e));
            }
            Ok(streamed) => {
                let p = self.songs.entry(song).or_default();
                p.ended = Some(streamed);
                if p.pending == 0 {
                    if let Some(p) = self.songs.remove(&song) {
                        done(song, self.finish(p));
                    }
                }
            }
        }
    }

    /// Score the clips gathered so far and deliver every song that is now complete.
    fn flush(&mut self, done: &mut impl FnMut(usize, Result<SongScores>)) {
        if self.rows.is_empty() {
            // A repeat waits only for a clip in the batch (`repeat`), so none waits now.
            debug_assert!(self.repeats.is_empty());
            return;
        }
        let scored = self.model.predict(&self.input, self.batch);
        self.progress.add_scored(self.rows.len());
        let scored = match scored {
            Ok(s) if s.len() == self.rows.len() => Ok(s),
            Ok(s) => Err(format!(
                "{} score rows for {} clips",
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
        for (&(song, clip), s) in self.rows.iter().zip(scores) {
            if let Some(p) = self.songs.get_mut(&song) {
                match s {
                    Ok(s) => p.put(clip, s),
                    Err(reason) => p.failed = Some(reason),
                }
                p.pending -= 1;
                if p.pending == 0 && p.ended.is_some() {
                    complete.push(song);
                }
            }
        }
        // Then the repeats, in order: each one's `of` is in now (a row above, or a repeat
        // before it), unless its batch failed, and then so did the song.
        for (song, clip, of) in std::mem::take(&mut self.repeats) {
            if let Some(p) = self.songs.get_mut(&song) {
                if let Some(s) = p.scores(of) {
                    p.put(clip, s);
                }
                p.pending -= 1;
                if p.pending == 0 && p.ended.is_some() && !complete.contains(&song) {
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

    /// The song's result: the decision over its frames, the timeline of its windows, what was
    /// odd about its file.
    fn finish(&self, p: Partial) -> Result<SongScores> {
        if let Some(reason) = p.failed {
            return Err(Error::Forward(reason));
        }
        let Some(streamed) = p.ended else {
            return Err(Error::Forward("the song did not end".into()));
        };
        let frames: Vec<Vec<f32>> = p.frames.into_iter().flatten().collect();
        if frames.len() != streamed.frames {
            return Err(Error::Forward(format!(
                "{} of {} frames scored",
                frames.len(),
                streamed.frames
            )));
        }
        let mut song = song_scores(frames, self.model)?;
        song.timeline = streamed
            .windows
            .iter()
            .zip(p.windows)
            .filter_map(|(r, s)| Some(window(r, streamed.len, s?)))
            .collect();
        song.warnings = streamed.warnings;
        Ok(song)
    }
}
