//! The fuzz targets' bodies and what every one asserts of a decode: valid audio, or a one-line
//! error. A panic anywhere (ours or symphonia's, even one the library would catch) aborts
//! through libFuzzer's panic hook and is reported as a crash. Two targets take the other
//! inputs that travel between people (issue 22): `model` (a safetensors file: header,
//! metadata, tensors, a stacked head) and `plugin_state` (the state document a host hands the
//! plugin back).
//!
//! The `stream` target takes any audio through the streamed front end (decoded a packet at a
//! time, resampled, cut and log-melled as it comes, chained streams restarting it) and checks
//! it against the same audio decoded whole.
//!
//! Each `fuzz_targets/NAME.rs` only hands its input to the function of the same name in
//! [`TARGETS`]; `tests/fuzz_regressions.rs` runs the same functions on stable over each
//! target's corpus and seeded mutations of it, so a target that rots fails `cargo test`.

use std::path::Path;

use mgr_core::audio::{
    decode_bytes, decode_bytes_symphonia, decode_flac_own, Audio, AudioStream, MAX_INPUT_RATE,
};
use mgr_core::config::{FramingConfig, FRAME_SECONDS, MIN_INPUT_RATE};
use mgr_core::hash::fnv1a;
use mgr_core::model::meta::{MAX_LABELS, MAX_LABEL_BYTES};
use mgr_core::model::{device, DeviceKind, Model};
use mgr_core::pipeline::{Clip, FrontEnd, Sink};
use mgr_core::resample::{Resampler, ResamplerKind};
use mgr_core::timeline::TimelineConfig;
use mgr_plugin::params::{GATE_RANGE, HOP_RANGE};
use mgr_plugin::state::{SavedState, MAX_HISTORY, MAX_PATH_BYTES};
use mgr_plugin::ANALYSIS_FIELD;
use nice_plug::plugin::ParamValue;

/// A fuzz target's body: panics on a finding.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz_targets/` file and `corpus/` folder).
pub const TARGETS: [(&str, Target); 8] = [
    ("flac", flac),
    ("wav", wav),
    ("au", au),
    ("symphonia", symphonia),
    ("flac_vs_symphonia", flac_vs_symphonia),
    ("model", model),
    ("plugin_state", plugin_state),
    ("stream", stream),
];

/// The targets whose inputs are not audio (their corpus and regressions sit in folders of
/// their name).
pub const NOT_AUDIO: [&str; 2] = ["model", "plugin_state"];

/// Panics (a finding) unless `r` is valid audio or an error of one line.
pub fn check(r: &mgr_core::Result<Audio>) {
    match r {
        Ok(a) => {
            assert!((MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&a.sample_rate()));
            assert!(a.source_channels() > 0);
            assert!(!a.samples().is_empty());
            assert!(a.samples().iter().all(|v| v.is_finite()));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
        }
    }
}

/// The whole `decode_bytes` path on FLAC-named input: our decoder first, symphonia where ours
/// declines. (A panic in our decoder surfaces here too; the differential target compares the
/// two decoders.)
pub fn flac(data: &[u8]) {
    check(&decode_bytes(
        data.to_vec(),
        Some("flac"),
        Path::new("f.flac"),
    ));
}

/// WAV through `decode_bytes` (screened, then symphonia).
pub fn wav(data: &[u8]) {
    check(&decode_bytes(
        data.to_vec(),
        Some("wav"),
        Path::new("f.wav"),
    ));
}

/// Our Sun/NeXT `.au` reader: the input's first four bytes are replaced by the magic, so
/// every input reaches it.
pub fn au(data: &[u8]) {
    let mut bytes = b".snd".to_vec();
    bytes.extend_from_slice(data.get(4..).unwrap_or_default());
    check(&decode_bytes(bytes, Some("au"), Path::new("f.au")));
}

/// Any format through the screened symphonia path, with no extension hint (the probe decides:
/// MP3, Ogg Vorbis, WAV, FLAC).
pub fn symphonia(data: &[u8]) {
    check(&decode_bytes_symphonia(data.to_vec(), None, Path::new("f")));
}

/// Differential: whenever our FLAC decoder accepts the bytes, symphonia (the path it falls
/// back to) decodes them to the same rate, channel count and samples, bit for bit. Where ours
/// declines (a CRC error, a format it leaves to symphonia), symphonia's result is what users
/// get, and the `flac` target checks it.
pub fn flac_vs_symphonia(data: &[u8]) {
    let Some(own) = decode_flac_own(data) else {
        return;
    };
    let sym = decode_bytes_symphonia(data.to_vec(), Some("flac"), Path::new("f.flac"))
        .unwrap_or_else(|e| panic!("ours decodes, symphonia refuses: {e}"));
    assert_eq!(own.sample_rate(), sym.sample_rate());
    assert_eq!(own.source_channels(), sym.source_channels());
    assert_eq!(own.samples().len(), sym.samples().len());
    let first_diff = own
        .samples()
        .iter()
        .zip(sym.samples())
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_diff, None, "samples differ");
}

/// The clips a front end sent: each one's log-mel hashed, in the order sent (a restart
/// empties it, as it voids what was sent).
#[derive(Default, PartialEq, Debug)]
struct Clips(Vec<(Clip, u64)>);

impl Sink for Clips {
    fn clip(&mut self, clip: Clip, logmel: &[f32]) -> bool {
        assert!(
            logmel.iter().all(|v| v.is_finite()),
            "{clip:?}: a log-mel value not finite"
        );
        let hash = fnv1a(0, logmel.iter().flat_map(|v| v.to_bits().to_le_bytes()));
        self.0.push((clip, hash));
        true
    }

    fn restart(&mut self) {
        self.0.clear();
    }
}

/// Targets whose inputs are audio behind one byte that picks how it is read.
pub const PICKED: [&str; 1] = ["stream"];

/// The `stream` target's format hints: its first byte modulo their number picks one.
pub const STREAM_HINTS: [Option<&str>; 6] = [
    None,
    Some("flac"),
    Some("wav"),
    Some("au"),
    Some("mp3"),
    Some("ogg"),
];

/// The streamed front end (issue 19) on any input: the first byte picks the format hint and
/// the timeline (none, 29.12 s or 5 s windows), the rest is the file. The file streamed
/// packet by packet through the resampler, cutter and log-mel gives the clips (log-mels bit
/// for bit) and length of the same audio decoded whole, resampled whole and cut whole; its
/// warnings are one line each; or both refuse it with a one-line error. A whole decode refused
/// for its length (the stream has no limit) is the one difference allowed.
pub fn stream(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let hints = STREAM_HINTS.len();
    let ext = STREAM_HINTS[usize::from(pick) % hints];
    let hop = [None, Some(FRAME_SECONDS), Some(5.0)][usize::from(pick) / hints % 3];
    let timeline = hop.map(|hop| TimelineConfig { hop });
    let path = Path::new("f");
    let mut front = FrontEnd::new(ResamplerKind::Fast, FramingConfig::default());
    let mut got = Clips::default();
    let streamed = AudioStream::from_bytes(bytes.to_vec(), ext, path)
        .and_then(|a| front.stream_from(a, timeline.as_ref(), &mut got));
    let whole = decode_bytes(bytes.to_vec(), ext, path);
    match (streamed, whole) {
        (Ok(s), Ok(audio)) => {
            let s = s.expect("a sink that never stops");
            for w in &s.warnings {
                one_line(&w.to_string());
            }
            let y = Resampler::new(ResamplerKind::Fast)
                .to_12k(audio.samples(), audio.sample_rate())
                .expect("decoded audio resamples");
            let mut want = Clips::default();
            let w = front
                .stream_12k(&y, timeline.as_ref(), &mut want)
                .expect("a sink that never stops");
            assert_eq!((s.len, s.frames), (w.len, w.frames));
            assert_eq!(s.windows, w.windows);
            assert!(s.frames >= 1, "a decoded recording has a frame");
            assert_eq!(
                got, want,
                "the streamed clips differ from the whole audio's"
            );
        }
        (Ok(_), Err(e)) => {
            one_line(&e.to_string());
            assert!(
                e.to_string().contains("long"),
                "only the whole decode refuses: {e}"
            );
        }
        (Err(e), Ok(_)) => panic!("the whole decode works, the stream fails: {e}"),
        (Err(a), Err(b)) => {
            one_line(&a.to_string());
            one_line(&b.to_string());
        }
    }
}

/// Panics unless `msg` is one non-empty line.
fn one_line(msg: &str) {
    assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
}

/// A model file as `--model` or the plugin's model path loads it: a model whose labels fit
/// the limits, or a one-line error.
pub fn model(data: &[u8]) {
    let Ok(dev) = device(DeviceKind::Cpu) else {
        panic!("no CPU device");
    };
    match Model::from_bytes(data, "fuzz.safetensors", &dev) {
        Ok(m) => {
            let labels = m.labels();
            assert!((1..=MAX_LABELS).contains(&labels.len()), "{}", labels.len());
            assert!(labels.iter().all(|l| l.len() <= MAX_LABEL_BYTES));
        }
        Err(e) => one_line(&e.to_string()),
    }
}

/// The state document a host hands back, through the plugin's filter (what nice-plug then
/// sets): every parameter in its range and of its type, an analysis field that reads as it
/// is and holds at most the limits, and a note of one line; the same bytes read as the
/// analysis field alone hold to the same limits.
pub fn plugin_state(data: &[u8]) {
    check_saved(&SavedState::from_untrusted(&String::from_utf8_lossy(data)));
    let Some(state) = mgr_plugin::filtered_state(data) else {
        return;
    };
    for (id, (lo, hi)) in [("hop", HOP_RANGE), ("gate", GATE_RANGE)] {
        match state.params.get(id) {
            None => {}
            Some(ParamValue::F32(v)) => assert!((lo..=hi).contains(v), "{id} {v}"),
            Some(other) => panic!("{id} {other:?}"),
        }
    }
    for id in ["reset", "restart-reset"] {
        let v = state.params.get(id);
        assert!(
            v.is_none_or(|v| matches!(v, ParamValue::Bool(_))),
            "{id} {v:?}"
        );
    }
    if let Some(field) = state.fields.get(ANALYSIS_FIELD) {
        let saved: SavedState = serde_json::from_str(field)
            .unwrap_or_else(|e| panic!("the filtered analysis does not read: {e}"));
        check_saved(&saved);
        // Filtered once is filtered: reading it again replaces nothing.
        let again = SavedState::from_untrusted(field);
        assert_eq!(again.state_note, None);
        let plugin_written = SavedState {
            state_note: None,
            ..saved
        };
        assert_eq!(again, plugin_written);
    }
}

/// What a loaded [`SavedState`] holds at most, and its note in one line.
fn check_saved(s: &SavedState) {
    assert!(s.labels.len() <= MAX_LABELS && s.history.len() <= MAX_HISTORY);
    assert!(s.labels.iter().all(|l| l.len() <= MAX_LABEL_BYTES));
    for p in [&s.model_path, &s.last_folder].into_iter().flatten() {
        assert!(p.len() <= MAX_PATH_BYTES);
    }
    if let Some(song) = &s.song {
        assert_eq!(song.mean.len(), s.labels.len());
        assert!(song.mean.iter().all(|m| (0.0..=1.0).contains(m)));
    }
    assert!(s.heard_s.is_finite() && s.heard_s >= 0.0);
    assert!(s
        .history
        .iter()
        .all(|h| h.end_s.is_finite() && h.score.is_finite()));
    if let Some(note) = &s.state_note {
        one_line(note);
    }
}
