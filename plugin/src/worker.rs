//! The per-instance analysis thread: drains the audio ring, resamples to 12 kHz, runs the
//! network, and publishes [`Snapshot`]s. Only workers touch a model (instances on the same file
//! share it: inference only reads it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use mgr_core::config::{CLIP_SAMPLES, N_FRAMES, N_MELS, SAMPLE_RATE};
use mgr_core::mel::LogMel;
use mgr_core::model::meta::keys;
use mgr_core::model::{device, DeviceKind, Model, ModelSpec};
use mgr_core::resample::StreamResampler;
use nice_plug_egui::RepaintNotifier;

use crate::analysis::{Analysis, Scorer, Settings};
use crate::pace::RENDER_LEAD;
use crate::params::MgrParams;
use crate::state::{
    Current, HistoryEntry, ModelInfo, SavedCell, SavedState, Snapshot, SongResult, StreamStats,
    BUILTIN_NAME,
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

/// Which model file, and which version of it (a file rewritten by a new fine-tune is another
/// model).
type ModelKey = (Option<String>, Option<(u64, Option<SystemTime>)>);

/// Load a model, or share the one another instance in this process already loaded from the
/// same file: the weights and their Winograd form are read-only during inference and take
/// about 9 MB, which eight instances on a mix need only once.
fn load_model(path: Option<&str>) -> Result<Arc<Model>, String> {
    static LOADED: Mutex<Vec<(ModelKey, Weak<Model>)>> = Mutex::new(Vec::new());
    let version = path
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| (m.len(), m.modified().ok()));
    let key: ModelKey = (path.map(str::to_string), version);
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    loaded.retain(|(_, m)| m.strong_count() > 0);
    if let Some(m) = loaded
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, m)| m.upgrade())
    {
        return Ok(m);
    }
    let dev = device(DeviceKind::Cpu).map_err(|e| e.to_string())?;
    // A path is always a file, even one called `gtzan`; no path is the built-in default.
    let spec = path.map_or_else(ModelSpec::default, |p| ModelSpec::File(p.into()));
    let model = spec.load(&dev).map_err(|e| e.to_string())?;
    let model = Arc::new(model);
    loaded.push((key, Arc::downgrade(&model)));
    Ok(model)
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
                let mut state = WorkerState::new(shared, params);
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
    fn new(shared: Arc<Shared>, params: Arc<MgrParams>) -> Self {
        Self {
            shared,
            params,
            net: None,
            model_path: None,
            model_info: ModelInfo::builtin(),
            last_folder: None,
            labels: Vec::new(),
            model_error: None,
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
            hop_s: self.params.hop.value(),
            gate_db: self.params.gate.value(),
            catch_up,
        }
    }

    fn run(&mut self, rx: Receiver<Command>) {
        loop {
            match rx.recv_timeout(POLL) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(cmd) => self.command(cmd),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(saved) = self.shared.saved.take_restored() {
                self.restore(saved);
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

    /// Load another model; on success the song starts again, on failure the current model and
    /// song stay and the error is shown. Returns whether it loaded.
    fn switch_model(&mut self, path: Option<String>) -> bool {
        match load_model(path.as_deref()) {
            Ok(model) => {
                self.model_error = None;
                self.install(model, path);
                self.analysis = Analysis::new();
                self.ended = None;
                true
            }
            Err(e) => {
                // The library's message names the file and what is wrong with it.
                self.model_error = Some(match path {
                    Some(_) => e,
                    None => format!("built-in model: {e}"),
                });
                false
            }
        }
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

    /// Load the model on first use (never in the plugin's constructor).
    fn ensure_model(&mut self) -> bool {
        if self.net.is_none() {
            match load_model(self.model_path.as_deref()) {
                Ok(m) => {
                    let p = self.model_path.clone();
                    self.install(m, p);
                }
                Err(e) => {
                    self.model_error = Some(format!("could not load the model: {e}"));
                    if self.model_path.is_some() {
                        // Fall back to the built-in model; the error stays visible.
                        self.model_path = None;
                        if let Ok(m) = load_model(None) {
                            self.install(m, None);
                        }
                    }
                }
            }
        }
        self.net.is_some()
    }

    fn restore(&mut self, saved: SavedState) {
        self.last_folder = saved.last_folder.clone();
        if saved.model_path != self.model_path {
            if self.net.is_some() {
                if !self.switch_model(saved.model_path.clone()) {
                    // Nothing is lost: the current model and its song stay.
                    self.dirty = true;
                    return;
                }
            } else {
                self.model_path = saved.model_path.clone();
                self.model_error = None;
            }
        }
        let compatible = self.labels.is_empty() || saved.labels == self.labels;
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
