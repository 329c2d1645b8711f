//! The per-instance analysis thread: drains the audio ring, resamples to 12 kHz, runs the
//! network, and publishes [`Snapshot`]s. Only workers touch a model (instances on the same file
//! share it: inference only reads it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mgr_core::config::{CLIP_SAMPLES, N_FRAMES, N_MELS, SAMPLE_RATE};
use mgr_core::mel::LogMel;
use mgr_core::model::meta::keys;
use mgr_core::model::Model;
use mgr_core::resample::StreamResampler;
use nice_plug_egui::RepaintNotifier;

use crate::analysis::{Analysis, Scorer, Settings};
use crate::loader::{load_model, LoadFn, Loaded, Loader};
use crate::pace::RENDER_LEAD;
use crate::params::MgrParams;
use crate::state::{
    Current, HistoryEntry, Loading, ModelInfo, SavedCell, SavedState, Snapshot, SongResult,
    StreamStats, BUILTIN_NAME,
};

/// Threads of the rayon pool that the network's CPU kernels run on: one pool for all the
/// instances in a process, so that many instances neither oversubscribe the machine nor each
/// keep threads (and their allocator arenas) of their own.
pub const WORKER_THREADS: usize = 2;

/// How often the worker wakes up to drain the ring when no command arrives.
const POLL: Duration = Duration::from_millis(15);

/// After this long without new audio, the short-song frame is brought up to date.
const SETTLE_AFTER: Duration = Duration::from_millis(300);

/// The worker is behind when, after taking a chunk, the ring still holds more than this many
/// seconds of input: it then scores only the song frames until it has caught up.
const BEHIND_S: f32 = 0.5;

/// While a chosen model loads, the audio waits in the ring (and commands wait) for at most
/// this long, so that the song starts on the new model with the first sample after the
/// choice. In real time, less than the ring holds (`RING_SECONDS`, 8 s): nothing is dropped.
const HOLD_REALTIME: Duration = Duration::from_secs(5);

/// The same in an offline render, which waits for the analysis anyway: less than the 30 s the
/// audio thread waits for ring space before it counts samples as dropped.
const HOLD_OFFLINE: Duration = Duration::from_secs(20);

/// Commands kept waiting during a hold at most (a host that re-activates the plugin many
/// times meanwhile ends the hold: each holds a ring).
const MAX_DEFERRED: usize = 4;

/// Messages from the plugin and the editor.
pub enum Command {
    /// A new audio stream (after `activate`): its ring and resampler, made on the host's thread.
    Stream {
        ring: rtrb::Consumer<f32>,
        resampler: Result<Box<StreamResampler>, String>,
        rate: u32,
        /// The host renders offline: it waits for the analysis, so no window is skipped.
        offline: bool,
    },
    Quit,
}

/// Signals from the audio thread, as sample positions in the stream of pushed samples.
#[derive(Debug)]
pub struct AudioSignals {
    /// The transport restarted from the beginning at this position (a new song).
    pub restart_at: AtomicU64,
    /// The timeline jumped (or `reset()` was called) at this position: restart the resampler.
    pub splice_at: AtomicU64,
    /// Samples the audio thread could not push (ring full in realtime mode).
    pub dropped: AtomicU64,
    /// Worker alive; the audio thread stops waiting for ring space (renders) when it is not.
    pub alive: AtomicBool,
    /// Rising edges of the `reset` parameter seen by the audio thread.
    pub resets: AtomicU64,
    /// Microseconds the audio thread waited for ring space (renders only).
    pub waited_us: AtomicU64,
    /// Fullest the ring has been since the plugin was created, and its capacity (samples).
    pub ring_peak: AtomicU64,
    pub ring_capacity: AtomicU64,
    /// Largest lead of the input over real time since the plugin was created, milliseconds.
    pub lead_peak_ms: AtomicU64,
}

impl Default for AudioSignals {
    fn default() -> Self {
        Self {
            restart_at: AtomicU64::new(u64::MAX),
            splice_at: AtomicU64::new(u64::MAX),
            dropped: AtomicU64::new(0),
            alive: AtomicBool::new(false),
            resets: AtomicU64::new(0),
            waited_us: AtomicU64::new(0),
            ring_peak: AtomicU64::new(0),
            ring_capacity: AtomicU64::new(0),
            lead_peak_ms: AtomicU64::new(0),
        }
    }
}

/// Everything the plugin, the worker and the editor share.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub saved: Arc<SavedCell>,
    pub signals: AudioSignals,
    pub repaint: RepaintNotifier,
}

/// The network (shared with the other instances that use the same file) plus this instance's
/// log-mel front-end, run on the shared pool.
struct Net {
    model: Arc<Model>,
    logmel: LogMel,
    mel: Vec<f32>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// The pool for the network, shared by the instances alive in this process (see
/// [`WORKER_THREADS`]); it ends with the last of them, so no thread outlives the plugin's
/// instances (a host may unload the library then).
fn pool() -> Option<Arc<rayon::ThreadPool>> {
    static POOL: Mutex<Weak<rayon::ThreadPool>> = Mutex::new(Weak::new());
    let mut shared = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = shared.upgrade() {
        return Some(p);
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(WORKER_THREADS)
            .thread_name(|i| format!("mgr-candle-{i}"))
            .build()
            .ok()?,
    );
    *shared = Arc::downgrade(&p);
    Some(p)
}

impl Scorer for Net {
    fn score(&mut self, clip: &[f32]) -> Result<Vec<f32>, String> {
        debug_assert!(clip.len() <= CLIP_SAMPLES);
        self.logmel.compute_into(clip, &mut self.mel);
        let (model, mel) = (&self.model, &self.mel);
        let run = || model.predict(mel, 1);
        let out = match &self.pool {
            Some(p) => p.install(run),
            None => run(),
        };
        out.map_err(|e| e.to_string())?
            .pop()
            .ok_or_else(|| "the model returned no scores".to_string())
    }
}

/// Name, description, base model and provenance of `model` loaded from `path` (`None`: built-in).
fn model_info(model: &Model, path: Option<&str>) -> ModelInfo {
    let meta = model.metadata();
    ModelInfo {
        name: match path {
            None => BUILTIN_NAME.into(),
            Some(p) => Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.to_string()),
        },
        description: meta.get(keys::MODEL).cloned(),
        base_model: meta
            .get(keys::BASE_MODEL)
            .or_else(|| meta.get(keys::BASE_MODEL_SPEC))
            .cloned(),
        provenance: model.provenance().map(|p| p.summary()),
    }
}

/// What is published of an [`Analysis`].
struct View {
    song: Option<SongResult>,
    len: usize,
    buffered: f32,
    current: Option<Current>,
    history: Vec<HistoryEntry>,
    last_inference_ms: Option<f32>,
    inferences: u64,
    skipped: u64,
}

impl View {
    fn of(a: &Analysis) -> Self {
        Self {
            song: a.song(),
            len: a.len(),
            buffered: a.buffered(),
            current: a.current.clone(),
            history: a.history.clone(),
            last_inference_ms: a.last_inference_ms,
            inferences: a.inferences,
            skipped: a.skipped,
        }
    }
}

/// Handle held by the plugin; joins the thread on drop (after the plugin sent `Quit`).
pub struct Worker {
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(
        shared: Arc<Shared>,
        params: Arc<MgrParams>,
        rx: Receiver<Command>,
    ) -> std::io::Result<Self> {
        shared.signals.alive.store(true, Ordering::Release);
        let thread = std::thread::Builder::new()
            .name("mgr-analysis".into())
            .spawn(move || {
                // Cleared however the thread ends, a panic included: the audio thread only
                // waits for room in the ring while the worker lives.
                let _alive = AliveGuard(shared.clone());
                let mut state = WorkerState::new(shared, params, Arc::new(load_model));
                state.run(rx);
            })?;
        Ok(Self {
            thread: Some(thread),
        })
    }
}

/// Marks the worker gone when dropped.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.signals.alive.store(false, Ordering::Release);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct WorkerState {
    shared: Arc<Shared>,
    params: Arc<MgrParams>,
    net: Option<Net>,
    model_path: Option<String>,
    model_info: ModelInfo,
    last_folder: Option<String>,
    labels: Vec<String>,
    model_error: Option<String>,
    /// Model files load on threads of their own (see `loader.rs`).
    loader: Loader,
    /// Commands that arrived while the audio waited for a model (see [`HOLD_REALTIME`]).
    deferred: Vec<Command>,
    /// What the last state a host loaded had wrong.
    state_note: Option<String>,
    stream_error: Option<String>,
    ring: Option<rtrb::Consumer<f32>>,
    resampler: Option<StreamResampler>,
    rate: u32,
    offline: bool,
    /// Samples taken from the ring since the stream started.
    consumed: u64,
    analysis: Analysis,
    /// Drained host-rate samples and the 12 kHz output of one step.
    scratch: Vec<f32>,
    out12: Vec<f32>,
    last_input: Instant,
    /// The result as if the input had ended here (see `settle`), shown until input goes on.
    ended: Option<View>,
    dirty: bool,
    last_publish: Instant,
}

impl WorkerState {
    fn new(shared: Arc<Shared>, params: Arc<MgrParams>, load: LoadFn) -> Self {
        Self {
            shared,
            params,
            net: None,
            model_path: None,
            model_info: ModelInfo::builtin(),
            last_folder: None,
            labels: Vec::new(),
            model_error: None,
            loader: Loader::new(load),
            deferred: Vec::new(),
            state_note: None,
            stream_error: None,
            ring: None,
            resampler: None,
            rate: 0,
            offline: false,
            consumed: 0,
            analysis: Analysis::new(),
            scratch: Vec::with_capacity(1 << 16),
            out12: Vec::with_capacity(1 << 15),
            last_input: Instant::now(),
            ended: None,
            dirty: true,
            last_publish: Instant::now(),
        }
    }

    fn settings(&self, catch_up: bool) -> Settings {
        Settings {
            hop_s: self.params.hop_s(),
            gate_db: self.params.gate_db(),
            catch_up,
        }
    }

    /// A chosen model is loading, and the audio (and the commands) wait for it: for at most
    /// [`HOLD_REALTIME`] / [`HOLD_OFFLINE`], then the analysis goes on with the model it has.
    fn holding(&self) -> bool {
        let hold = if self.offline {
            HOLD_OFFLINE
        } else {
            HOLD_REALTIME
        };
        self.loader
            .pending()
            .is_some_and(|(_, since)| since.elapsed() < hold)
            && self.deferred.len() < MAX_DEFERRED
    }

    fn run(&mut self, rx: Receiver<Command>) {
        loop {
            match rx.recv_timeout(POLL) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(cmd) if self.holding() => self.deferred.push(cmd),
                Ok(cmd) => self.command(cmd),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(loaded) = self.loader.poll() {
                self.loaded(loaded);
            }
            if !self.holding() {
                for cmd in std::mem::take(&mut self.deferred) {
                    self.command(cmd);
                }
            }
            if let Some(saved) = self.shared.saved.take_restored() {
                self.restore(saved);
            }
            if self.holding() {
                // Keep the "loading" line moving and the load count current.
                if self.last_publish.elapsed() >= Duration::from_millis(250) {
                    self.dirty = true;
                }
                if self.dirty {
                    self.publish();
                }
                continue;
            }
            let got = self.drain();
            if got {
                self.last_input = Instant::now();
                self.ended = None;
            }
            if !got && self.analysis.is_stale() {
                // Caught up after a render burst: show the latest window.
                self.refresh();
            } else if !got && self.last_input.elapsed() >= SETTLE_AFTER && self.unsettled() {
                self.settle();
            }
            if self.dirty && (self.last_publish.elapsed() >= Duration::from_millis(50) || !got) {
                self.publish();
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Stream {
                ring,
                resampler,
                rate,
                offline,
            } => {
                self.offline = offline;
                // Finish what the previous stream delivered (it has ended: its resampler's
                // tail is part of the song), then switch.
                self.drain();
                if let Some(rs) = &mut self.resampler {
                    self.out12.clear();
                    let out = &mut self.out12;
                    rs.flush(&mut |y| out.extend_from_slice(y));
                    self.analyse_out12(false);
                }
                self.ring = Some(ring);
                self.consumed = 0;
                self.rate = rate;
                match resampler {
                    Ok(r) => {
                        self.resampler = Some(*r);
                        self.stream_error = None;
                    }
                    Err(e) => {
                        self.resampler = None;
                        self.stream_error = Some(e);
                    }
                }
            }
            Command::Quit => {}
        }
        self.dirty = true;
    }

    /// The newest model load finished: on success the model is installed and the song starts
    /// again (with the song of the state that asked, if it fits the new labels); on failure
    /// the current model and song stay and the error is shown.
    fn loaded(&mut self, loaded: Loaded) {
        let Loaded {
            path,
            result,
            state,
        } = loaded;
        match result {
            Ok(model) => {
                self.model_error = None;
                self.install(model, Some(path));
                self.analysis = Analysis::new();
                self.ended = None;
                self.restore_song(state);
            }
            // The library's message names the file and what is wrong with it.
            Err(e) => self.model_error = Some(e),
        }
        self.dirty = true;
    }

    fn install(&mut self, model: Arc<Model>, path: Option<String>) {
        // A model trained on tags names its genres as the user spelled them.
        self.labels = mgr_core::model::meta::display_names(model.metadata(), model.labels())
            .unwrap_or_else(|| model.labels().to_vec());
        self.model_info = model_info(&model, path.as_deref());
        self.model_path = path;
        self.net = Some(Net {
            model,
            logmel: LogMel::new(),
            mel: vec![0.0; N_MELS * N_FRAMES],
            pool: pool(),
        });
    }

    /// The model for the audio (never in the plugin's constructor): the one installed, else
    /// the built-in (compiled in: no file is read) unless a chosen file is still within its
    /// hold.
    fn ensure_model(&mut self) -> bool {
        if self.net.is_none() && !self.holding() {
            match load_model(None) {
                Ok(m) => self.install(m, None),
                Err(e) => self.model_error = Some(format!("built-in model: {e}")),
            }
        }
        self.net.is_some()
    }

    /// A state a host (or the editor) loaded. Another model file starts loading on its own
    /// thread (the song waits for it, see [`loader`](crate::loader)); the built-in model needs
    /// no file and is switched to here. The song and history apply now, or once the new model
    /// is in.
    fn restore(&mut self, saved: SavedState) {
        self.last_folder = saved.last_folder.clone();
        self.state_note = saved.state_note.clone();
        self.dirty = true;
        match saved.model_path.clone() {
            Some(path) if Some(&path) != self.model_path.as_ref() => {
                if let Err(e) = self.loader.start(path, saved) {
                    self.model_error = Some(e);
                }
                return;
            }
            Some(_) => self.loader.cancel(),
            None => {
                self.loader.cancel();
                if self.model_path.is_some() {
                    match load_model(None) {
                        Ok(m) => {
                            self.model_error = None;
                            self.install(m, None);
                            self.analysis = Analysis::new();
                            self.ended = None;
                        }
                        Err(e) => {
                            // Nothing is lost: the current model and its song stay.
                            self.model_error = Some(format!("built-in model: {e}"));
                            return;
                        }
                    }
                } else {
                    self.model_error = None;
                }
            }
        }
        self.restore_song(saved);
    }

    /// The saved song and history, if they were made with the labels in use. A state without
    /// labels heard nothing (a new project, or one whose analysis was unreadable): the song
    /// starts again.
    fn restore_song(&mut self, saved: SavedState) {
        let compatible =
            self.labels.is_empty() || saved.labels.is_empty() || saved.labels == self.labels;
        if compatible {
            if self.labels.is_empty() {
                self.labels = saved.labels.clone();
            }
            self.analysis.restore(saved.song.as_ref(), saved.history);
            self.ended = None;
        }
        self.dirty = true;
    }

    /// Take everything in the ring, honouring restart/splice positions. Returns whether any
    /// audio arrived.
    fn drain(&mut self) -> bool {
        let mut got = false;
        loop {
            let Some(ring) = &mut self.ring else {
                return got;
            };
            let restart = self.shared.signals.restart_at.load(Ordering::Acquire);
            let splice = self.shared.signals.splice_at.load(Ordering::Acquire);
            if restart != u64::MAX && restart <= self.consumed {
                let _ = self.shared.signals.restart_at.compare_exchange(
                    restart,
                    u64::MAX,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                self.analysis = Analysis::new();
                self.ended = None;
                if let Some(r) = &mut self.resampler {
                    r.reset();
                }
                self.dirty = true;
                continue;
            }
            if splice != u64::MAX && splice <= self.consumed {
                let _ = self.shared.signals.splice_at.compare_exchange(
                    splice,
                    u64::MAX,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                if let Some(r) = &mut self.resampler {
                    r.reset();
                }
                continue;
            }
            let avail = ring.slots();
            if avail == 0 {
                return got;
            }
            // Stop at the next signal position so that it applies between the right samples.
            let mut n = avail.min(1 << 15);
            for pos in [restart, splice] {
                if pos != u64::MAX && pos > self.consumed {
                    n = n.min((pos - self.consumed) as usize);
                }
            }
            self.scratch.clear();
            if let Ok(chunk) = ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                self.scratch.extend_from_slice(a);
                self.scratch.extend_from_slice(b);
                chunk.commit_all();
            }
            let behind = !self.offline && ring.slots() as f32 > BEHIND_S * self.rate as f32;
            self.consumed += n as u64;
            got = true;
            self.feed(behind);
        }
    }

    fn unsettled(&self) -> bool {
        self.ended.is_none()
            && (self.analysis.unsettled()
                || self.resampler.as_ref().is_some_and(|r| r.has_pending()))
    }

    /// The input paused: publish the result as if the song ended here (the resampler's
    /// held-back tail emitted, the short-song frame brought up to date), so that it covers
    /// every sample heard (an offline render's last block). Done on copies: if the input goes
    /// on (a host that stalled, playback resumed), the stream continues untouched, as if the
    /// pause had not happened.
    fn settle(&mut self) {
        if !self.ensure_model() {
            return;
        }
        let set = self.settings(false);
        let mut tail = Vec::new();
        if let Some(rs) = &self.resampler {
            let mut rs = rs.clone();
            rs.flush(&mut |y| tail.extend_from_slice(y));
        }
        let mut ended = self.analysis.clone();
        if let Some(net) = &mut self.net {
            ended.push(&tail, set, net);
            ended.refresh(set, net);
            ended.settle(set, net);
        }
        self.ended = Some(View::of(&ended));
        self.publish();
    }

    /// Score the latest window after a catch-up.
    fn refresh(&mut self) {
        if self.ensure_model() {
            let set = self.settings(false);
            if let Some(net) = &mut self.net {
                self.analysis.refresh(set, net);
            }
        }
        self.dirty = true;
    }

    fn feed(&mut self, behind: bool) {
        let Some(rs) = &mut self.resampler else {
            return;
        };
        self.out12.clear();
        let out = &mut self.out12;
        rs.push(&self.scratch, &mut |y| out.extend_from_slice(y));
        self.analyse_out12(behind);
    }

    /// Run the analysis over the 12 kHz samples in `out12`.
    fn analyse_out12(&mut self, behind: bool) {
        if self.out12.is_empty() || !self.ensure_model() {
            return;
        }
        let set = self.settings(behind);
        let before = self.analysis.inferences;
        if let Some(net) = &mut self.net {
            let y = std::mem::take(&mut self.out12);
            self.analysis.push(&y, set, net);
            self.out12 = y;
        }
        self.dirty = true;
        if self.analysis.inferences != before {
            self.publish();
        }
    }

    fn stream_stats(&self, skipped_windows: u64) -> StreamStats {
        let sig = &self.shared.signals;
        let rate = f64::from(self.rate.max(1));
        let lead_peak_s = sig.lead_peak_ms.load(Ordering::Relaxed) as f64 / 1e3;
        StreamStats {
            faster_than_realtime: lead_peak_s > RENDER_LEAD,
            lead_peak_s,
            waited_s: sig.waited_us.load(Ordering::Relaxed) as f64 / 1e6,
            ring_peak_s: sig.ring_peak.load(Ordering::Relaxed) as f64 / rate,
            ring_s: sig.ring_capacity.load(Ordering::Relaxed) as f64 / rate,
            skipped_windows,
        }
    }

    /// Publish the live analysis, or the result as if the input had ended while it pauses,
    /// to the editor and the saved state.
    fn publish(&mut self) {
        let live;
        let view = match &self.ended {
            Some(v) => v,
            None => {
                live = View::of(&self.analysis);
                &live
            }
        };
        let song = view.song.clone();
        let stream = self.stream_stats(view.skipped);
        let snap = Snapshot {
            labels: self.labels.clone(),
            model: self.model_info.clone(),
            model_path: self.model_path.clone(),
            model_error: self.model_error.clone(),
            model_loading: self.loader.pending().map(|(path, since)| Loading {
                path: path.to_string(),
                since,
            }),
            state_note: self.state_note.clone(),
            stream_error: self.stream_error.clone(),
            heard_s: view.len as f64 / f64::from(SAMPLE_RATE),
            buffered: view.buffered,
            current: view.current.clone(),
            song: song.clone(),
            history: view.history.clone(),
            last_inference_ms: view.last_inference_ms,
            inferences: view.inferences,
            dropped: self.shared.signals.dropped.load(Ordering::Relaxed),
            rate: self.rate,
            stream: stream.clone(),
        };
        let song_label = song
            .as_ref()
            .and_then(|s| s.top())
            .and_then(|(i, _)| self.labels.get(i).cloned());
        self.shared.saved.store(SavedState {
            model_path: self.model_path.clone(),
            last_folder: self.last_folder.clone(),
            model: Some(self.model_info.clone()),
            model_error: self.model_error.clone(),
            state_note: self.state_note.clone(),
            model_loading: self.loader.pending().map(|(path, _)| path.to_string()),
            labels: self.labels.clone(),
            song,
            song_label,
            history: snap.history.clone(),
            heard_s: snap.heard_s,
            heard_samples: view.len as u64,
            dropped_samples: snap.dropped,
            stream: Some(stream),
            // The cell writes the loads this worker has taken (and so acted on by now).
            loads_applied: 0,
        });
        self.shared.snapshot.store(Arc::new(snap));
        self.shared.repaint.request_repaint();
        self.dirty = false;
        self.last_publish = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;

    use super::*;
    use crate::loader::LOAD_SLOW;

    /// Files that never answer until their gate opens, as on a network disk that hung.
    static GATES: (Mutex<u32>, Condvar) = (Mutex::new(0), Condvar::new());

    /// `hung-N.safetensors` blocks until gate N opens; any other file is the built-in weights.
    fn stand_in(path: Option<&str>) -> Result<Arc<Model>, String> {
        if let Some(n) = path.and_then(|p| p.strip_prefix("hung-")) {
            let n: u32 = n.trim_end_matches(".safetensors").parse().unwrap();
            let (open, cv) = &GATES;
            let mut g = open.lock().unwrap();
            while *g < n {
                g = cv.wait(g).unwrap();
            }
        }
        load_model(None)
    }

    fn open_gate(n: u32) {
        *GATES.0.lock().unwrap() = n;
        GATES.1.notify_all();
    }

    fn wait_for(shared: &Shared, what: &str, done: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        let t = Instant::now();
        loop {
            let s = shared.snapshot.load_full();
            if done(&s) {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{what}: {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn choose(shared: &Shared, path: &str) {
        shared.saved.request(SavedState {
            model_path: Some(path.into()),
            ..SavedState::default()
        });
    }

    /// A load that never finishes blocks nothing: it is shown as loading (still after
    /// [`LOAD_SLOW`]), a newer choice replaces it at once, its model is dropped when it
    /// finally comes, and the worker quits at once while another load hangs.
    #[test]
    fn a_hung_load_blocks_nothing_and_a_newer_choice_supersedes_it() {
        let params = Arc::new(MgrParams::default());
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            saved: params.saved.clone(),
            signals: AudioSignals::default(),
            repaint: RepaintNotifier::new(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = {
            let shared = shared.clone();
            std::thread::spawn(move || WorkerState::new(shared, params, Arc::new(stand_in)).run(rx))
        };
        let loading = |p: &'static str| {
            move |s: &Snapshot| s.model_loading.as_ref().is_some_and(|l| l.path == p)
        };
        choose(&shared, "hung-1.safetensors");
        wait_for(&shared, "loading", loading("hung-1.safetensors"));
        std::thread::sleep(LOAD_SLOW);
        let s = wait_for(&shared, "still loading", loading("hung-1.safetensors"));
        assert!(s.model_loading.as_ref().unwrap().since.elapsed() >= LOAD_SLOW);
        assert_eq!(
            shared.saved.get().model_loading.as_deref(),
            Some("hung-1.safetensors")
        );

        choose(&shared, "other.safetensors");
        let s = wait_for(&shared, "the newer choice", |s| {
            s.model_path.as_deref() == Some("other.safetensors")
        });
        assert!(
            s.model_loading.is_none() && s.model_error.is_none(),
            "{s:?}"
        );
        assert_eq!(s.model.name, "other.safetensors");

        // The hung file answers at last: its model is not wanted any more.
        open_gate(1);
        std::thread::sleep(Duration::from_millis(300));
        let s = shared.snapshot.load_full();
        assert_eq!(s.model_path.as_deref(), Some("other.safetensors"));

        choose(&shared, "hung-2.safetensors");
        wait_for(&shared, "loading again", loading("hung-2.safetensors"));
        let t = Instant::now();
        tx.send(Command::Quit).unwrap();
        worker.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        open_gate(2);
    }
}
