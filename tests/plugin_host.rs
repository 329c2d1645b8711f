//! Helpers shared by the plugin tests: locate the bundles, a minimal CLAP host (clack-host),
//! a stereo processing session, and state save/load.

// Loading a plugin library is `unsafe` in clack-host (foreign code runs in this process).
#![allow(unsafe_code)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};
use serde_json::Value;

/// `target/bundled/mgr.clap`, honouring `CARGO_TARGET_DIR`.
pub fn bundle(ext: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() {
                t
            } else {
                root.join(t)
            }
        }
        None => root.join("target"),
    };
    let p = target.join("bundled").join(format!("mgr.{ext}"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask bundle mgr-plugin --features assert_process_allocs` first",
        p.display()
    );
    p
}

pub struct Shared {
    callback: AtomicBool,
}

impl<'a> SharedHandler<'a> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback.store(true, Ordering::SeqCst);
    }
}

// nice-plug needs the host's GUI extension to create its editor.
impl HostGuiImpl for Shared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

pub struct Main;
impl<'a> MainThreadHandler<'a> for Main {}

pub struct TestHost;
impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = Main;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

pub const PLUGIN_ID: &std::ffi::CStr = c"org.mgr.genre-analyzer";

pub fn load() -> (PluginEntry, PluginInstance<TestHost>) {
    let path = bundle("clap");
    // SAFETY: loading our own freshly built plugin library.
    let entry = unsafe { PluginEntry::load(&path) }.expect("the .clap loads");
    let instance = instance_of(&entry);
    (entry, instance)
}

/// Another instance from a loaded bundle.
pub fn instance_of(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let info = HostInfo::new("mgr-tests", "mgr", "", "0.1").unwrap();
    PluginInstance::<TestHost>::new(
        |_| Shared {
            callback: AtomicBool::new(false),
        },
        |_| Main,
        entry,
        PLUGIN_ID,
        &info,
    )
    .expect("the plugin instantiates")
}

/// Run main-thread callbacks the plugin asked for.
pub fn pump(instance: &mut PluginInstance<TestHost>) {
    let asked = instance.access_shared_handler(|h| h.callback.swap(false, Ordering::SeqCst));
    if asked {
        instance.call_on_main_thread_callback();
    }
}

/// A processing session at one rate, maximum block size and channel count (stereo unless
/// [`Session::start_channels`] selected another of the plugin's port configurations).
pub struct Session {
    pub proc: StartedPluginAudioProcessor<TestHost>,
    ins: AudioPorts,
    outs: AudioPorts,
    in_buf: Vec<Vec<f32>>,
    out_buf: Vec<Vec<f32>>,
    pub events: Vec<ParamValueEvent>,
    /// Transport sent with every block (`None`: no transport, i.e. not playing).
    pub transport: Option<TransportEvent>,
}

/// Select the plugin's audio port configuration with `channels` main input channels.
pub fn select_channels(instance: &mut PluginInstance<TestHost>, channels: u32) {
    let handle = instance.plugin_handle();
    let configs: PluginAudioPortsConfig = handle
        .get_extension()
        .expect("audio-ports-config extension");
    let mut buf = AudioPortsConfigBuffer::new();
    let mut id = None;
    for i in 0..configs.count(&handle) {
        if let Some(c) = configs.get(&handle, i, &mut buf) {
            if c.main_input.is_some_and(|m| m.channel_count == channels) {
                id = Some(c.id);
                break;
            }
        }
    }
    let id = id.unwrap_or_else(|| panic!("no port configuration with {channels} input channels"));
    configs.select(&handle, id).expect("configuration selected");
}

impl Session {
    /// A stereo session.
    pub fn start(instance: &mut PluginInstance<TestHost>, rate: f64, max_block: usize) -> Self {
        Self::start_channels(instance, rate, max_block, 2)
    }

    /// A session with `channels` input and output channels (selects that configuration).
    pub fn start_channels(
        instance: &mut PluginInstance<TestHost>,
        rate: f64,
        max_block: usize,
        channels: usize,
    ) -> Self {
        if channels != 2 {
            select_channels(instance, channels as u32);
        }
        let config = PluginAudioConfiguration {
            sample_rate: rate,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        let stopped = instance
            .activate(|_, _| (), config)
            .expect("the plugin activates");
        Self {
            proc: stopped.start_processing().expect("processing starts"),
            ins: AudioPorts::with_capacity(channels, 1),
            outs: AudioPorts::with_capacity(channels, 1),
            in_buf: vec![vec![0.0; max_block]; channels],
            out_buf: vec![vec![0.0; max_block]; channels],
            events: Vec::new(),
            transport: None,
        }
    }

    /// Process one block of stereo input; returns the output channels.
    pub fn block(&mut self, left: &[f32], right: &[f32]) -> (&[f32], &[f32]) {
        let n = left.len();
        self.channels(&[left, right]);
        (&self.out_buf[0][..n], &self.out_buf[1][..n])
    }

    /// Process one block, one slice per channel; returns the output channels.
    pub fn channels(&mut self, input: &[&[f32]]) -> Vec<&[f32]> {
        assert_eq!(input.len(), self.in_buf.len(), "channel count");
        let n = input[0].len();
        for (b, x) in self.in_buf.iter_mut().zip(input) {
            b[..n].copy_from_slice(x);
        }
        for o in &mut self.out_buf {
            o[..n].fill(f32::NAN);
        }
        let input = self.ins.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.in_buf
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..n])),
            ),
        }]);
        let mut output = self.outs.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                self.out_buf.iter_mut().map(|b| &mut b[..n]),
            ),
        }]);
        let events = InputEvents::from_buffer(&self.events);
        let mut out_events = EventBuffer::new();
        self.proc
            .process(
                &input,
                &mut output,
                &events,
                &mut OutputEvents::from_buffer(&mut out_events),
                None,
                self.transport.as_ref(),
            )
            .expect("process succeeds");
        self.events.clear();
        self.out_buf.iter().map(|o| &o[..n]).collect()
    }

    pub fn stop(self, instance: &mut PluginInstance<TestHost>) {
        instance.deactivate(self.proc.stop_processing());
    }
}

/// The CLAP id of parameter number `index` (in the plugin's order: hop, gate,
/// restart-reset, reset).
pub fn param_id(instance: &mut PluginInstance<TestHost>, index: u32) -> ClapId {
    let handle = instance.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    let mut buf = ParamInfoBuffer::new();
    params
        .get_info(&handle, index, &mut buf)
        .expect("param info")
        .id
}

/// Force the plugin into offline render mode (the host says so).
pub fn set_offline(instance: &mut PluginInstance<TestHost>) {
    let h = instance.plugin_handle();
    let r: PluginRender = h.get_extension().expect("render extension");
    r.set(&h, RenderMode::Offline).expect("offline render mode");
}

/// The saved analysis `a` has analysed `heard` samples (12 kHz) and holds a song result: a
/// render of that many input samples is complete.
pub fn song_done(a: &Value, heard: u64) -> bool {
    a["heard_samples"].as_u64() == Some(heard) && a["song"].is_object()
}

/// Poll the saved analysis until `done` holds for it (timeout: `limit`).
pub fn wait_for(
    instance: &mut PluginInstance<TestHost>,
    limit: std::time::Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        pump(instance);
        let a = analysis(&save_state(instance));
        if done(&a) {
            return a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analysis did not get there in {limit:?}: {a}"
        );
    }
}

pub fn save_state(instance: &mut PluginInstance<TestHost>) -> Vec<u8> {
    let handle = instance.plugin_handle();
    let state: PluginState = handle.get_extension().expect("state extension");
    let mut blob = Vec::new();
    state.save(&handle, &mut blob).expect("state saves");
    blob
}

pub fn load_state(instance: &mut PluginInstance<TestHost>, blob: &[u8]) -> bool {
    let handle = instance.plugin_handle();
    let state: PluginState = handle.get_extension().expect("state extension");
    state.load(&handle, &mut &blob[..]).is_ok()
}

/// nice-plug's CLAP state: an 8-byte little-endian length, then the JSON document.
pub fn state_json(blob: &[u8]) -> Value {
    assert!(blob.len() >= 8, "state blob of {} bytes", blob.len());
    let len = u64::from_le_bytes(blob[..8].try_into().unwrap()) as usize;
    assert_eq!(len, blob.len() - 8, "state length prefix");
    serde_json::from_slice(&blob[8..]).expect("the state is JSON")
}

/// The blob for a JSON state document.
pub fn state_blob(v: &Value) -> Vec<u8> {
    let json = serde_json::to_vec(v).unwrap();
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(&json);
    blob
}

/// The persisted analysis (`fields.analysis`, a JSON string) out of a state blob.
pub fn analysis(blob: &[u8]) -> Value {
    let v = state_json(blob);
    let field = v["fields"]["analysis"]
        .as_str()
        .expect("state has the analysis field");
    serde_json::from_str(field).expect("analysis is JSON")
}

/// A playing transport at `seconds` on the timeline.
pub fn playing_at(seconds: f64) -> TransportEvent {
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags: TransportFlags::IS_PLAYING | TransportFlags::HAS_SECONDS_TIMELINE,
        song_pos_beats: BeatTime::from_int(0),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo: 120.0,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_int(0),
        loop_end_beats: BeatTime::from_int(0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_int(0),
        bar_number: 0,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}
