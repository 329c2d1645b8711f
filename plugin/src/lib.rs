//! **mgr** as a CLAP / VST3 plugin: shows the genre of the song passing through, live.
//!
//! Threads (see `docs/plugin.md`, "How it works"):
//!
//! * audio thread — [`MgrPlugin::process`]: audio passes through untouched; the block is mixed
//!   to mono and pushed into a lock-free SPSC ring (`rtrb`). No allocation, lock, log or I/O;
//!   it waits for ring space only in a render (offline, or measured faster than real time).
//! * analysis worker (one per instance, [`worker`]) — runs the model (shared by the instances
//!   that load the same file); resamples to 12 kHz,
//!   scores windows, publishes an immutable [`state::Snapshot`] through an atomic pointer swap.
//! * editor ([`editor`]) — draws the latest snapshot; acts only through what a host can do too:
//!   the `reset` parameter and the saved state's model path.

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use mgr_core::resample::StreamResampler;
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, RepaintNotifier};

pub mod analysis;
pub mod editor;
pub mod loader;
mod pace;
pub mod params;
pub mod state;
pub mod worker;

use pace::{Pace, RENDER_LEAD};
use params::MgrParams;
use state::Snapshot;
use worker::{AudioSignals, Command, Shared, Worker};

/// Seconds of host-rate audio the ring holds. In real time the worker drains it every 15 ms;
/// its longest stalls are loading the model on the first audio and one forward pass (22–44 ms
/// each on one core of the 2-core test machine, a few hundred ms when the machine is loaded).
/// The ring must also hold [`RENDER_LEAD`] of a render before the audio thread may wait.
const RING_SECONDS: f32 = 8.0;

/// Position differences (samples) below this are rounding in the host's transport, not jumps.
const JUMP_SLACK: i64 = 64;

/// The persisted field of [`MgrParams::saved`] (its `#[persist]` key).
pub const ANALYSIS_FIELD: &str = "analysis";

/// Longest an offline render waits for ring space before counting samples as dropped.
const OFFLINE_WAIT: Duration = Duration::from_secs(30);

pub struct MgrPlugin {
    params: Arc<MgrParams>,
    shared: Arc<Shared>,
    /// Commands to the worker; the receiver waits here until the worker is started in the
    /// first `activate()`.
    commands: Sender<Command>,
    receiver: Option<Receiver<Command>>,
    worker: Option<Worker>,
    ring: Option<rtrb::Producer<f32>>,
    /// Samples pushed since the stream started (the worker counts the same).
    pushed: u64,
    offline: bool,
    pace: Pace,
    /// Last transport state, for restart and jump detection.
    was_playing: bool,
    expected_pos: Option<i64>,
    /// Last value of the `reset` parameter seen by the audio thread (acts on rising edges),
    /// and the state loads seen: a loaded value is taken as it is, not as a press.
    reset_seen: bool,
    loads_seen: u64,
}

impl Default for MgrPlugin {
    fn default() -> Self {
        let params = Arc::new(MgrParams::default());
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(Snapshot {
                model: state::ModelInfo::builtin(),
                ..Snapshot::default()
            }),
            saved: params.saved.clone(),
            signals: AudioSignals::default(),
            repaint: RepaintNotifier::new(),
        });
        let (commands, receiver) = std::sync::mpsc::channel();
        Self {
            params,
            shared,
            commands,
            receiver: Some(receiver),
            worker: None,
            ring: None,
            pushed: 0,
            offline: false,
            pace: Pace::new(48_000.0),
            was_playing: false,
            expected_pos: None,
            reset_seen: false,
            loads_seen: 0,
        }
    }
}

impl MgrPlugin {
    /// Mark a position in the pushed stream for the worker (audio thread: atomics only).
    fn signal(&self, at: &std::sync::atomic::AtomicU64) {
        at.store(self.pushed, Ordering::Release);
    }

    /// Mix the block to mono (any channel count) and push it. When the ring is full, waits
    /// for space only in an offline render or a stream well ahead of real time (a render the
    /// host calls realtime); otherwise the rest of the block is counted as dropped.
    fn push_mono(&mut self, buffer: &Buffer) {
        let Some(ring) = &mut self.ring else {
            return;
        };
        let chans = buffer.as_slice_immutable();
        let n = buffer.samples();
        if chans.is_empty() || n == 0 {
            return;
        }
        let signals = &self.shared.signals;
        let scale = 1.0 / chans.len() as f32;
        let mut done = 0;
        let mut waited: Option<Instant> = None;
        while done < n {
            let room = ring.slots().min(n - done);
            if room == 0 {
                let alive = signals.alive.load(Ordering::Acquire);
                let now = Instant::now();
                let start = *waited.get_or_insert(now);
                let offline = self.offline && now - start < OFFLINE_WAIT;
                if alive && (offline || self.pace.ahead(now) > RENDER_LEAD) {
                    // Nobody listens live, and the analysis needs every sample. Sleeping is
                    // neither a lock nor an allocation; the lead bounds it in realtime mode.
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                signals
                    .dropped
                    .fetch_add((n - done) as u64, Ordering::Relaxed);
                break;
            }
            if let Ok(mut chunk) = ring.write_chunk(room) {
                let (a, b) = chunk.as_mut_slices();
                for (i, out) in (done..).zip(a.iter_mut().chain(b.iter_mut())) {
                    let mut s = 0.0;
                    for c in chans.iter() {
                        s += c[i];
                    }
                    *out = s * scale;
                }
                chunk.commit_all();
            }
            done += room;
        }
        if let Some(start) = waited {
            signals
                .waited_us
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        let fill = (ring.buffer().capacity() - ring.slots()) as u64;
        signals.ring_peak.fetch_max(fill, Ordering::Relaxed);
        self.pushed += done as u64;
    }
}

impl Plugin for MgrPlugin {
    const NAME: &'static str = "mgr";
    const VENDOR: &'static str = "mgr developers";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
        // 5.1 (any 6-channel bus): all channels are mixed down for the analysis.
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(6),
            main_output_channels: NonZeroU32::new(6),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = EguiEditor<editor::App>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    /// Every state a host loads passes here first (on the host's thread, before the values
    /// are set): parameters out of range are set to their defaults and the `analysis` field is
    /// read by [`state::SavedState::from_untrusted`], so that what nice-plug then sets is
    /// always a valid state, with a note saying what was replaced. No file is touched here:
    /// the model path is loaded on the worker.
    fn filter_state(state: &mut PluginState) {
        let mut notes = Vec::new();
        params::sanitize(&mut state.params, &mut notes);
        let field = state.fields.get(ANALYSIS_FIELD);
        if field.is_none() && notes.is_empty() {
            return;
        }
        let mut saved =
            field.map_or_else(Default::default, |f| state::SavedState::from_untrusted(f));
        notes.extend(saved.state_note.take());
        saved.state_note = (!notes.is_empty()).then(|| notes.join("; "));
        if let Ok(json) = serde_json::to_string(&saved) {
            state.fields.insert(ANALYSIS_FIELD.to_string(), json);
        }
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        if let Some(rx) = self.receiver.take() {
            match Worker::spawn(self.shared.clone(), self.params.clone(), rx) {
                Ok(w) => self.worker = Some(w),
                Err(_) => return false,
            }
        }
        let rate = config.sample_rate.round() as u32;
        let capacity =
            ((config.sample_rate * RING_SECONDS) as usize).max(4 * config.max_buffer_size as usize);
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let resampler = StreamResampler::new(rate)
            .map(Box::new)
            .map_err(|e| e.to_string());
        self.ring = Some(producer);
        self.pushed = 0;
        self.offline = config.process_mode == ProcessMode::Offline;
        self.pace = Pace::new(f64::from(config.sample_rate));
        self.reset_seen = self.params.reset.value();
        self.loads_seen = self.params.saved.loads();
        let signals = &self.shared.signals;
        signals.restart_at.store(u64::MAX, Ordering::Release);
        signals.splice_at.store(u64::MAX, Ordering::Release);
        signals
            .ring_capacity
            .store(capacity as u64, Ordering::Relaxed);
        let _ = self.commands.send(Command::Stream {
            ring: consumer,
            resampler,
            rate,
            offline: self.offline,
        });
        true
    }

    fn reset(&mut self) {
        // A discontinuity: the worker restarts its resampler here (the song goes on).
        self.signal(&self.shared.signals.splice_at);
        self.expected_pos = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let t = context.transport();
        let n = buffer.samples() as i64;
        self.pace.block(buffer.samples(), Instant::now());
        let signals = &self.shared.signals;
        signals
            .lead_peak_ms
            .fetch_max((self.pace.lead_s() * 1e3) as u64, Ordering::Relaxed);
        // The Reset button (a parameter, so hosts can press it too): a new song from here.
        let reset = self.params.reset.value();
        let loads = self.params.saved.loads();
        if loads != self.loads_seen {
            self.loads_seen = loads;
            self.reset_seen = reset;
        }
        if reset && !self.reset_seen {
            self.signal(&signals.restart_at);
            signals.resets.fetch_add(1, Ordering::Release);
        }
        self.reset_seen = reset;
        if t.playing {
            if let Some(pos) = t.pos_samples() {
                // Hosts that give seconds or beats round the position: allow some slack.
                let jumped = self
                    .expected_pos
                    .is_some_and(|e| (e - pos).abs() > JUMP_SLACK);
                let restarted = pos <= 0 && (jumped || !self.was_playing);
                if restarted && self.params.reset_on_restart.value() {
                    if self.pushed > 0 {
                        self.signal(&self.shared.signals.restart_at);
                    }
                } else if jumped {
                    self.signal(&self.shared.signals.splice_at);
                }
                self.expected_pos = Some(pos + n);
            }
        } else {
            self.expected_pos = None;
        }
        self.was_playing = t.playing;
        self.push_mono(buffer);
        // The audio passes through untouched, except subnormal samples (below 1.2e-38, some
        // −750 dBFS), which become 0 so that they do not slow down the plugins after this one.
        for ch in buffer.as_slice() {
            for v in ch.iter_mut() {
                if v.is_subnormal() {
                    *v = 0.0;
                }
            }
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.ring = None;
    }
}

impl Drop for MgrPlugin {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Quit);
        // Joins the worker thread.
        self.worker = None;
    }
}

impl ClapPlugin for MgrPlugin {
    const CLAP_ID: &'static str = "org.mgr.genre-analyzer";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live song-level music genre recognition (GTZAN CRNN)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for MgrPlugin {
    const VST3_CLASS_ID: [u8; 16] = *b"mgrGenreAnalyzer";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

/// The CLAP and VST3 entry points: the one place that needs `unsafe` (C ABI exports).
#[allow(unsafe_code)]
mod export {
    use super::MgrPlugin;
    use nice_plug::prelude::*;

    nice_export_clap!(MgrPlugin);
    nice_export_vst3!(MgrPlugin);
}

/// A state document as a host hands it back (nice-plug's JSON, after the blob's length
/// prefix), read and filtered the way a load does before any value is set; `None` where
/// nice-plug refuses the document. The entry point of the `plugin_state` fuzz target.
pub fn filtered_state(json: &[u8]) -> Option<PluginState> {
    let mut state = serde_json::from_slice(json).ok()?;
    MgrPlugin::filter_state(&mut state);
    Some(state)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nice_plug::plugin::ParamValue;

    use super::*;

    fn document(params: BTreeMap<String, ParamValue>, analysis: Option<&str>) -> PluginState {
        PluginState {
            version: "0.1.0".into(),
            params,
            fields: analysis
                .map(|a| BTreeMap::from([(ANALYSIS_FIELD.to_string(), a.to_string())]))
                .unwrap_or_default(),
        }
    }

    fn saved(s: &PluginState) -> state::SavedState {
        serde_json::from_str(&s.fields[ANALYSIS_FIELD]).unwrap()
    }

    /// What nice-plug sets after `filter_state` is always a state that reads; the notes on
    /// parameters and analysis are one line together.
    #[test]
    fn filtered_states_always_read_and_say_what_was_replaced() {
        let hop = BTreeMap::from([("hop".to_string(), ParamValue::F32(-2.0))]);
        let mut s = document(
            hop.clone(),
            Some(r#"{"song": {"mean": "x"}, "heard_s": 3}"#),
        );
        MgrPlugin::filter_state(&mut s);
        assert!(matches!(s.params["hop"], ParamValue::F32(v) if v == params::DEFAULT_HOP_S));
        let a = saved(&s);
        assert_eq!(a.heard_s, 3.0);
        let note = a.state_note.unwrap();
        assert!(
            note.starts_with("parameter hop F32(-2.0)") && note.contains("; song: invalid type"),
            "{note}"
        );
        // Bad parameters without an analysis field: one is added to carry the note.
        let mut s = document(hop, None);
        MgrPlugin::filter_state(&mut s);
        assert!(saved(&s).state_note.is_some());
        // A clean state without the field is left alone.
        let mut s = document(BTreeMap::new(), None);
        MgrPlugin::filter_state(&mut s);
        assert!(s.fields.is_empty());
        // Not JSON at all.
        let mut s = document(BTreeMap::new(), Some("\u{0}\u{1}garbage"));
        MgrPlugin::filter_state(&mut s);
        assert!(saved(&s).state_note.unwrap().contains("not JSON"));
    }
}
