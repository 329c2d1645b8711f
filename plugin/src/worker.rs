//! The per-instance analysis thread: drains the audio ring, resamples to 12 kHz, runs the
//! network, and publishes [`Snapshot`]s. It owns the model; nothing else touches it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mgr_core::config::{CLIP_SAMPLES, N_FRAMES, N_MELS, SAMPLE_RATE};
use mgr_core::mel::LogMel;
use mgr_core::model::{device, DeviceKind, Model};
use mgr_core::resample::StreamResampler;
use nice_plug_egui::RepaintNotifier;

use crate::analysis::{Analysis, Scorer, Settings};
use crate::params::MgrParams;
use crate::state::{SavedCell, SavedState, Snapshot};

/// Threads of the per-instance rayon pool that candle's CPU kernels run on. Kept low so that
/// many instances do not oversubscribe the machine.
pub const WORKER_THREADS: usize = 2;

/// How often the worker wakes up to drain the ring when no command arrives.
const POLL: Duration = Duration::from_millis(15);

/// After this long without new audio, the short-song frame is brought up to date.
const SETTLE_AFTER: Duration = Duration::from_millis(300);

/// Name shown for the embedded model.
pub const BUILTIN_NAME: &str = "GTZAN CRNN (built-in)";

/// Messages from the plugin and the editor.
pub enum Command {
    /// A new audio stream (after `activate`): its ring and resampler, made on the host's thread.
    Stream {
        ring: rtrb::Consumer<f32>,
        resampler: Result<Box<StreamResampler>, String>,
        rate: u32,
    },
    /// Forget the song (Reset button).
    Reset,
    /// Switch model: `None` = built-in, `Some(path)` = a user `.safetensors`.
    LoadModel(Option<String>),
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
    /// Worker alive; the audio thread stops waiting for ring space (offline mode) when it is not.
    pub alive: AtomicBool,
}

impl Default for AudioSignals {
    fn default() -> Self {
        Self {
            restart_at: AtomicU64::new(u64::MAX),
            splice_at: AtomicU64::new(u64::MAX),
            dropped: AtomicU64::new(0),
            alive: AtomicBool::new(false),
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

/// The network plus the log-mel front-end, on a small private thread pool.
struct Net {
    model: Model,
    logmel: LogMel,
    mel: Vec<f32>,
    pool: Option<rayon::ThreadPool>,
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

fn load_model(path: Option<&str>) -> Result<Model, String> {
    let dev = device(DeviceKind::Cpu).map_err(|e| e.to_string())?;
    match path {
        None => Model::builtin("gtzan", &dev).map_err(|e| e.to_string()),
        Some(p) => Model::load(Path::new(p), &dev).map_err(|e| e.to_string()),
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
                let mut state = WorkerState::new(shared.clone(), params);
                state.run(rx);
                shared.signals.alive.store(false, Ordering::Release);
            })?;
        Ok(Self {
            thread: Some(thread),
        })
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
    model_name: String,
    labels: Vec<String>,
    model_error: Option<String>,
    stream_error: Option<String>,
    ring: Option<rtrb::Consumer<f32>>,
    resampler: Option<StreamResampler>,
    rate: u32,
    /// Samples taken from the ring since the stream started.
    consumed: u64,
    analysis: Analysis,
    /// Drained host-rate samples and the 12 kHz output of one step.
    scratch: Vec<f32>,
    out12: Vec<f32>,
    last_input: Instant,
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
            model_name: BUILTIN_NAME.into(),
            labels: Vec::new(),
            model_error: None,
            stream_error: None,
            ring: None,
            resampler: None,
            rate: 0,
            consumed: 0,
            analysis: Analysis::new(),
            scratch: Vec::with_capacity(1 << 16),
            out12: Vec::with_capacity(1 << 15),
            last_input: Instant::now(),
            dirty: true,
            last_publish: Instant::now(),
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            hop_s: self.params.hop.value(),
            gate_db: self.params.gate.value(),
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
            } else if self.last_input.elapsed() >= SETTLE_AFTER && self.unsettled() {
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
            } => {
                // Finish what the previous stream delivered, then switch.
                self.drain();
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
            Command::Reset => {
                self.analysis = Analysis::new();
                if let Some(r) = &mut self.resampler {
                    r.reset();
                }
            }
            Command::LoadModel(path) => self.switch_model(path),
            Command::Quit => {}
        }
        self.dirty = true;
    }

    fn switch_model(&mut self, path: Option<String>) {
        match load_model(path.as_deref()) {
            Ok(model) => {
                self.model_error = None;
                self.install(model, path);
                self.analysis = Analysis::new();
            }
            Err(e) => {
                let what = path.as_deref().unwrap_or("built-in model");
                self.model_error = Some(format!("could not load {what}: {e}"));
            }
        }
    }

    fn install(&mut self, model: Model, path: Option<String>) {
        self.labels = model.labels().to_vec();
        self.model_name = match &path {
            None => BUILTIN_NAME.into(),
            Some(p) => Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone()),
        };
        self.model_path = path;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKER_THREADS)
            .thread_name(|i| format!("mgr-candle-{i}"))
            .build()
            .ok();
        self.net = Some(Net {
            model,
            logmel: LogMel::new(),
            mel: vec![0.0; N_MELS * N_FRAMES],
            pool,
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
        if saved.model_path != self.model_path {
            if self.net.is_some() {
                self.switch_model(saved.model_path.clone());
            } else {
                self.model_path = saved.model_path.clone();
            }
        }
        let compatible = self.labels.is_empty() || saved.labels == self.labels;
        if compatible {
            if self.labels.is_empty() {
                self.labels = saved.labels.clone();
            }
            self.analysis.restore(saved.song.as_ref(), saved.history);
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
            let avail = ring.slots();
            if avail == 0 {
                return got;
            }
            let restart = self.shared.signals.restart_at.load(Ordering::Acquire);
            let splice = self.shared.signals.splice_at.load(Ordering::Acquire);
            // Stop at the next signal position so that it applies between the right samples.
            let mut n = avail.min(1 << 15);
            for pos in [restart, splice] {
                if pos != u64::MAX && pos > self.consumed {
                    n = n.min((pos - self.consumed) as usize);
                }
            }
            if restart != u64::MAX && restart <= self.consumed {
                let _ = self.shared.signals.restart_at.compare_exchange(
                    restart,
                    u64::MAX,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                self.analysis = Analysis::new();
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
            self.scratch.clear();
            if let Ok(chunk) = ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                self.scratch.extend_from_slice(a);
                self.scratch.extend_from_slice(b);
                chunk.commit_all();
            }
            self.consumed += n as u64;
            got = true;
            self.feed();
        }
    }

    fn unsettled(&self) -> bool {
        self.analysis.unsettled() || self.resampler.as_ref().is_some_and(|r| r.has_pending())
    }

    /// The input paused: emit what the resampler holds back and bring the song frame up to
    /// date, so that the result covers every sample heard (an offline render's last block).
    fn settle(&mut self) {
        if let Some(rs) = &mut self.resampler {
            self.out12.clear();
            let out = &mut self.out12;
            rs.flush(&mut |y| out.extend_from_slice(y));
            self.analyse_out12();
        }
        if self.ensure_model() {
            let set = self.settings();
            if let Some(net) = &mut self.net {
                self.analysis.settle(set, net);
            }
        }
        self.dirty = true;
    }

    fn feed(&mut self) {
        let Some(rs) = &mut self.resampler else {
            return;
        };
        self.out12.clear();
        let out = &mut self.out12;
        rs.push(&self.scratch, &mut |y| out.extend_from_slice(y));
        self.analyse_out12();
    }

    /// Run the analysis over the 12 kHz samples in `out12`.
    fn analyse_out12(&mut self) {
        if self.out12.is_empty() || !self.ensure_model() {
            return;
        }
        let set = self.settings();
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

    fn publish(&mut self) {
        let song = self.analysis.song();
        let snap = Snapshot {
            labels: self.labels.clone(),
            model_name: self.model_name.clone(),
            model_path: self.model_path.clone(),
            model_error: self.model_error.clone(),
            stream_error: self.stream_error.clone(),
            heard_s: self.analysis.len() as f64 / f64::from(SAMPLE_RATE),
            buffered: self.analysis.buffered(),
            current: self.analysis.current.clone(),
            song: song.clone(),
            history: self.analysis.history.clone(),
            last_inference_ms: self.analysis.last_inference_ms,
            inferences: self.analysis.inferences,
            dropped: self.shared.signals.dropped.load(Ordering::Relaxed),
            rate: self.rate,
        };
        let song_label = song
            .as_ref()
            .and_then(|s| s.top())
            .and_then(|(i, _)| self.labels.get(i).cloned());
        self.shared.saved.store(SavedState {
            model_path: self.model_path.clone(),
            labels: self.labels.clone(),
            song,
            song_label,
            history: snap.history.clone(),
            heard_s: snap.heard_s,
            heard_samples: self.analysis.len() as u64,
            dropped_samples: snap.dropped,
        });
        self.shared.snapshot.store(Arc::new(snap));
        self.shared.repaint.request_repaint();
        self.dirty = false;
        self.last_publish = Instant::now();
    }
}
