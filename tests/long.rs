//! Recordings of any length (issue 19): the streamed front end gives the answers of the
//! whole-file path it replaced, bit for bit, and a recording of an hour or more is classified
//! in bounded memory.

use std::path::{Path, PathBuf};
use std::process::Command;

use mgr_core::aggregate::SongScores;
use mgr_core::audio::decode_file;
use mgr_core::hash::fnv1a;
use mgr_core::pipeline::{FrontEnd, Pipeline, PipelineConfig, FRAME_VALUES};
use mgr_core::resample::{Resampler, ResamplerKind};
use mgr_tests::{model, pack, scratch_dir};

fn hash(v: &[f32]) -> String {
    format!(
        "{:016x}",
        fnv1a(0, v.iter().flat_map(|x| x.to_bits().to_le_bytes()))
    )
}

/// `tests/data/frontend-main.json` holds, per resampler and per clip of the pack, the FNV-1a
/// of the bits of every frame's log-mel as the whole-file front end computed them before it
/// streamed (commit 594364d: decode whole, resample whole, cut whole; made with
/// `cargo run -p mgr-core --example fingerprint -- PACK < LIST`). The streamed front end
/// must give the same bits: the network then gives the same song scores and labels.
#[test]
fn streamed_log_mels_equal_the_whole_file_path_on_every_pack_clip() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/frontend-main.json"),
    )
    .unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut clips = 0;
    for (name, kind) in [
        ("reference", ResamplerKind::Reference),
        ("fast", ResamplerKind::Fast),
    ] {
        let mut front = FrontEnd::new(kind, Default::default());
        let per_clip = want[name].as_object().expect("one entry per resampler");
        for (clip, frames) in per_clip {
            let got: Vec<String> = front
                .file(&pack(clip))
                .unwrap()
                .logmels
                .chunks(FRAME_VALUES)
                .map(hash)
                .collect();
            let frames: Vec<&str> = frames
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(got, frames, "{name} resampler, {clip}");
            clips += 1;
        }
    }
    assert!(clips >= 2 * 280, "{clips} clips checked");
    println!("{clips} clip × resampler log-mels bit-identical to the whole-file path");
}

/// An MP3 without its ID3 tags (frames only), so that copies of it can be concatenated.
fn mp3_frames(path: &Path) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    while b.starts_with(b"ID3") {
        let size = b[6..10]
            .iter()
            .fold(0usize, |s, &x| s << 7 | usize::from(x));
        let footer = if b[3] == 4 && b[5] & 0x10 != 0 { 10 } else { 0 };
        b.drain(..10 + size + footer);
    }
    if b.len() >= 128 && &b[b.len() - 128..b.len() - 125] == b"TAG" {
        b.truncate(b.len() - 128);
    }
    b
}

/// The four bensound songs (2 min 06 s in all) back to back, `reps` times: one MP3 stream.
fn concatenated_mp3(dir: &Path, reps: usize) -> PathBuf {
    let songs: Vec<Vec<u8>> = ["actionable", "cute", "dubstep", "thejazzpiano"]
        .iter()
        .map(|n| mp3_frames(&pack(&format!("audio/bensound/bensound-{n}.mp3"))))
        .collect();
    let path = dir.join("long.mp3");
    let mut out = Vec::new();
    for _ in 0..reps {
        for s in &songs {
            out.extend_from_slice(s);
        }
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// This process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// The scores of the song at `path` through the library pipeline as `classify` runs it
/// (the default model, a front-end worker per core), one line of JSON: the frame scores'
/// and the mean's bits, and the peak memory.
fn classify_in_this_process(path: &Path) -> String {
    let m = model("gtzan");
    let config = PipelineConfig::for_device(m.device());
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut song = None;
    Pipeline::new(m, config).run(&[path], &never, |_, r| song = Some(r.unwrap()));
    let song = song.expect("the song was delivered");
    serde_json::json!({
        "frames": song.frames.iter().map(|f| bits(f)).collect::<Vec<_>>(),
        "mean": bits(&song.mean),
        "peak_rss": peak_rss(),
    })
    .to_string()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The whole-file path, as it was: the file decoded whole, resampled whole, cut whole, every
/// frame through the network.
fn whole_file_scores(path: &Path) -> SongScores {
    let m = model("gtzan");
    let audio = decode_file(path).unwrap();
    let y = Resampler::new(ResamplerKind::Reference)
        .to_12k(audio.samples(), audio.sample_rate())
        .unwrap();
    drop(audio);
    let mut front = FrontEnd::new(ResamplerKind::Reference, Default::default());
    let features = front.at_12k(&y);
    SongScores::from_frames(m.predict(&features.logmels, 8).unwrap()).unwrap()
}

const CHILD: &str = "MGR_LONG_CHILD";

/// Run the test `name` of this binary again in a child process with `key=path` set (its
/// memory is then its own) and read the JSON it prints after `CHILD `.
fn in_a_child(name: &str, key: &str, path: &Path) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(key, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD ").map(|(_, json)| json))
        .unwrap_or_else(|| panic!("no result line from the child: {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// An hour-long MP3 (the bensound songs concatenated 29 times, 61 min) classified in a child
/// process: its peak memory stays under 150 MB, and its scores are the whole-file path's.
#[test]
fn an_hour_long_file_is_classified_in_bounded_memory_with_the_whole_file_scores() {
    if let Some(path) = std::env::var_os(CHILD) {
        println!("CHILD {}", classify_in_this_process(Path::new(&path)));
        return;
    }
    let dir = scratch_dir("long-hour");
    let path = concatenated_mp3(&dir, 29);
    let got = in_a_child(
        "an_hour_long_file_is_classified_in_bounded_memory_with_the_whole_file_scores",
        CHILD,
        &path,
    );
    let peak = got["peak_rss"].as_u64().unwrap();
    let want = whole_file_scores(&path);
    // (3660 s − 2 × 20 s) / 29.12 s: the song rule's frames of an hour and a minute.
    assert!(want.frames.len() >= 124, "{} frames", want.frames.len());
    let frames: Vec<Vec<u32>> = serde_json::from_value(got["frames"].clone()).unwrap();
    assert_eq!(frames.len(), want.frames.len());
    for (k, (g, w)) in frames.iter().zip(&want.frames).enumerate() {
        assert_eq!(g, &bits(w), "frame {k}");
    }
    let mean: Vec<u32> = serde_json::from_value(got["mean"].clone()).unwrap();
    assert_eq!(mean, bits(&want.mean));
    println!(
        "{} frames, scores bit-identical; child peak RSS {:.1} MB",
        frames.len(),
        peak as f64 / 1e6
    );
    assert!(peak < 150_000_000, "peak RSS {peak} bytes");
}

/// Counts what the front end sends.
#[derive(Default)]
struct Count {
    clips: usize,
}

impl mgr_core::pipeline::Sink for Count {
    fn clip(&mut self, _: mgr_core::pipeline::Clip, _: &[f32]) -> bool {
        self.clips += 1;
        true
    }
}

fn stream(path: &Path) -> mgr_core::error::Result<mgr_core::pipeline::Streamed> {
    let mut front = FrontEnd::new(ResamplerKind::Fast, Default::default());
    let streamed = front.stream(path, None, &mut Count::default())?;
    Ok(streamed.expect("nothing stops a counting sink"))
}

/// A 22.05 kHz mono 16-bit WAV of `seconds` of a pack clip whose data chunk announces
/// `claimed` seconds instead.
fn lying_wav(dir: &Path, name: &str, seconds: usize, claimed: usize) -> PathBuf {
    let clip = decode_file(&pack("data/gtzan-mini/genres/jazz/jazz.00001.flac")).unwrap();
    let samples: Vec<f32> = clip
        .samples()
        .iter()
        .cycle()
        .take(22_050 * seconds)
        .copied()
        .collect();
    let mut bytes = mgr_tests::wav_bytes(&samples, 1, 22_050);
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    let claim = u32::try_from(22_050 * 2 * claimed).unwrap();
    bytes[data + 4..data + 8].copy_from_slice(&claim.to_le_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A header's length is a hint, never trusted: 10 h announced over 10 s of data gives the
/// 10 s and a warning; 10 s announced over 5 min gives the 10 s announced and a warning that
/// the rest was ignored; a file cut in the middle of a packet gives what decoded.
#[test]
fn a_header_that_lies_about_the_length_gives_what_decoded_and_one_line_warning() {
    let dir = scratch_dir("long-lies");
    let ten_s = 10 * 12_000;
    let s = stream(&lying_wav(&dir, "claims-10h.wav", 10, 36_000)).unwrap();
    assert!(s.len.abs_diff(ten_s) <= 1, "10 s at 12 kHz: {}", s.len);
    assert_eq!(s.frames, 1);
    let notes: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        notes,
        ["the header announces 10:00:00 of audio, the file holds 0:00:10: it ends early"]
    );

    let s = stream(&lying_wav(&dir, "claims-10s.wav", 300, 10)).unwrap();
    assert!(s.len.abs_diff(ten_s) <= 1, "the 10 s announced: {}", s.len);
    let notes: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        notes,
        ["data after the end the header announces (0:00:10) was ignored"]
    );

    let whole = pack("audio/bensound/bensound-cute.mp3");
    let full = stream(&whole).unwrap().len;
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.join("cut.mp3");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();
    let s = stream(&cut).unwrap();
    assert!(
        s.len > full * 2 / 5 && s.len < full * 3 / 5,
        "about half of {full}: {}",
        s.len
    );
    for w in &s.warnings {
        assert!(!w.to_string().contains('\n'));
    }
}

/// A chained Ogg file (links are whole Ogg streams, one after the other) whose second link
/// has another rate and channel count: the recording is the first link, bit for bit, and one
/// line says where the rate changed. `tests/data/tone-44k-stereo.ogg` is 2 s of a 440 Hz tone,
/// 44.1 kHz stereo Vorbis (libsndfile); the pack's Ogg clip is 22.05 kHz mono.
#[test]
fn a_chained_ogg_whose_rate_changes_gives_the_first_link_and_one_line_warning() {
    let dir = scratch_dir("long-chained");
    let clip = pack("data/gtzan-mini/formats/rock.00001.ogg");
    let tone = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tone-44k-stereo.ogg");
    for (name, first, second, want) in [
        (
            "clip-then-tone.ogg",
            &clip,
            &tone,
            "the sample rate changes from 22050 to 44100 Hz at 0:00:30; the audio after it was left out",
        ),
        (
            "tone-then-clip.ogg",
            &tone,
            &clip,
            "the sample rate changes from 44100 to 22050 Hz at 0:00:02; the audio after it was left out",
        ),
    ] {
        let chained = dir.join(name);
        let mut bytes = std::fs::read(first).unwrap();
        bytes.extend(std::fs::read(second).unwrap());
        std::fs::write(&chained, bytes).unwrap();
        let alone = stream(first).unwrap();
        let s = stream(&chained).unwrap();
        assert_eq!((s.len, s.frames), (alone.len, alone.frames), "{name}");
        let mut front = FrontEnd::new(ResamplerKind::Fast, Default::default());
        let want_mels = front.file(first).unwrap().logmels;
        assert!(
            bits(&front.file(&chained).unwrap().logmels) == bits(&want_mels),
            "{name}: the log-mels differ from the first link's"
        );
        let notes: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(notes, [want], "{name}");
    }
}

const SILENT_CHILD: &str = "MGR_SILENT_CHILD";

/// A 24-hour WAV of digital silence (8 kHz mono 16-bit: 1.38 GB of zeros, written as a sparse
/// file where the file system allows, so it costs no disk) classified in a child process as
/// `classify --resampler fast` runs it: every one of its 2,965 frames is scored, in bounded
/// memory, with the score the network gives a silent frame (the frames' log-mels repeat bit
/// for bit, so the network runs once for them all), and one line says it is silent.
#[test]
fn a_day_of_silence_is_classified_in_bounded_memory_with_one_line_warning() {
    if let Some(path) = std::env::var_os(SILENT_CHILD) {
        let m = model("gtzan");
        let config = PipelineConfig {
            resampler: ResamplerKind::Fast,
            ..PipelineConfig::for_device(m.device())
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        let mut song = None;
        let t = std::time::Instant::now();
        let counters = mgr_core::progress::Counters::default();
        Pipeline::new(m, config).run_with_progress(
            &[Path::new(&path)],
            &never,
            &counters,
            |_, r| song = Some(r.unwrap()),
        );
        let song = song.expect("the song was delivered");
        let line = serde_json::json!({
            "scored": counters.scored.load(std::sync::atomic::Ordering::Relaxed),
            "repeated": counters.repeated.load(std::sync::atomic::Ordering::Relaxed),
            "frames": song.frames.iter().map(|f| bits(f)).collect::<Vec<_>>(),
            "warnings": song.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "peak_rss": peak_rss(),
            "seconds": t.elapsed().as_secs_f64(),
        });
        println!("CHILD {line}");
        return;
    }
    let dir = scratch_dir("long-silent-day");
    let path = dir.join("day-of-silence.wav");
    let (rate, seconds) = (8_000u32, 24 * 3600u32);
    let data = 2 * rate * seconds;
    let mut header = mgr_tests::wav_bytes(&[], 1, rate);
    header[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    header[40..44].copy_from_slice(&data.to_le_bytes());
    let file = std::fs::File::create(&path).unwrap();
    std::io::Write::write_all(&mut &file, &header).unwrap();
    file.set_len(44 + u64::from(data)).unwrap(); // zeros, sparse where the file system allows
    drop(file);

    let got = in_a_child(
        "a_day_of_silence_is_classified_in_bounded_memory_with_one_line_warning",
        SILENT_CHILD,
        &path,
    );
    let _ = std::fs::remove_file(&path);
    let frames: Vec<Vec<u32>> = serde_json::from_value(got["frames"].clone()).unwrap();
    // (86,400 s − 2 × 20 s) / 29.12 s.
    assert_eq!(frames.len(), 2_965);
    // The network ran for the first frame; every later one repeats it.
    assert_eq!(
        (got["scored"].as_u64(), got["repeated"].as_u64()),
        (Some(1), Some(2_964))
    );
    // One silent frame (a short song of zeros: its one frame is zeros) through the network.
    let mut front = FrontEnd::new(ResamplerKind::Fast, Default::default());
    let silent = front.at_12k(&vec![0.0; 12_000 * 40]);
    let want = bits(&model("gtzan").predict(&silent.logmels, 1).unwrap()[0]);
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f, &want, "frame {k}");
    }
    let warnings: Vec<String> = serde_json::from_value(got["warnings"].clone()).unwrap();
    assert_eq!(warnings, ["the recording is silent (every sample is zero)"]);
    let peak = got["peak_rss"].as_u64().unwrap();
    println!(
        "24 h of silence: {} frames in {:.1} s, child peak RSS {:.1} MB",
        frames.len(),
        got["seconds"].as_f64().unwrap(),
        peak as f64 / 1e6
    );
    assert!(peak < 150_000_000, "peak RSS {peak} bytes");
}

/// What a library run's observer saw of the progress: each report's (seconds of audio
/// decoded, seconds expected from the headers, headers looked up).
#[derive(Default)]
struct Seen {
    ticks: Vec<(f64, Option<f64>, usize)>,
    songs: Vec<(f64, Option<f64>, usize)>,
    todo: usize,
}

impl Seen {
    fn now(&self, p: &mgr_core::progress::Counters) -> (f64, Option<f64>, usize) {
        let looked_up = p.looked_up.load(std::sync::atomic::Ordering::Relaxed);
        (
            p.audio_seconds(),
            p.expected_audio_seconds(self.todo),
            looked_up,
        )
    }
}

impl mgr_core::library::Observer for Seen {
    fn start(&mut self, plan: &mgr_core::library::RunPlan) {
        self.todo = plan.todo;
    }
    fn song(&mut self, _: &mgr_core::library::SongOutcome<'_>, p: &mgr_core::progress::Counters) {
        let now = self.now(p);
        self.songs.push(now);
    }
    fn tick(&mut self, p: &mgr_core::progress::Counters) {
        let now = self.now(p);
        self.ticks.push(now);
    }
}

/// A library run's progress counts seconds of audio, not only files: the headers' lengths
/// give the total to expect (what the bar's ETA divides), the decoded seconds grow while a
/// long file runs (the observer hears them twice a second between songs), and at the end
/// both are the files' lengths.
#[test]
fn a_library_runs_progress_counts_audio_seconds_out_of_the_headers_lengths() {
    let dir = scratch_dir("long-progress");
    let mut long = Vec::new();
    for genre in ["classical", "rock", "pop", "jazz", "blues", "disco"] {
        let clip = pack(&format!(
            "data/gtzan-mini/genres/{genre}/{genre}.00000.flac"
        ));
        long.extend_from_slice(decode_file(&clip).unwrap().samples());
    }
    for _ in 0..2 {
        long.extend_from_within(..);
    }
    let wav = dir.join("twelve-minutes.wav");
    std::fs::write(&wav, mgr_tests::wav_bytes(&long, 1, 22_050)).unwrap();
    let paths = vec![
        pack("data/gtzan-mini/genres/metal/metal.00000.flac"),
        wav,
        pack("data/gtzan-mini/genres/pop/pop.00001.flac"),
    ];
    let seconds: f64 = paths
        .iter()
        .map(|p| {
            let a = decode_file(p).unwrap();
            a.samples().len() as f64 / f64::from(a.sample_rate())
        })
        .sum();
    let m = model("gtzan");
    let job = mgr_core::library::LibraryJob {
        roots: paths,
        walk: mgr_core::library::walk::WalkOptions::default(),
        shard: None,
        results: None,
        per_frame: false,
        tags: None,
        segments: Default::default(),
        pipeline: PipelineConfig {
            resampler: ResamplerKind::Reference,
            workers: 1,
            ..PipelineConfig::for_device(m.device())
        },
    };
    let mut seen = Seen::default();
    let never = std::sync::atomic::AtomicBool::new(false);
    let t = std::time::Instant::now();
    mgr_core::library::run(&job, m, &never, &mut seen).unwrap();
    let took = t.elapsed();
    assert_eq!(seen.songs.len(), 3);
    let (decoded, expected, looked_up) = *seen.songs.last().unwrap();
    assert!(
        (decoded - seconds).abs() < 0.01,
        "{decoded} of {seconds} s decoded"
    );
    assert_eq!(looked_up, 3, "every header looked up");
    let expected = expected.expect("the headers announce their lengths");
    assert!(
        (expected - seconds).abs() < 0.01,
        "{expected} s expected, {seconds} s held"
    );
    // Songs are delivered at the start and the end; in between, the 12-minute file ran for most
    // of the run (about 3 s here): the observer heard how far it was twice a second. (A
    // machine that does it all within two ticks gives none to check.)
    if took.as_secs_f64() > 2.0 {
        assert!(!seen.ticks.is_empty(), "no tick in {took:?}");
    }
    assert!(
        seen.ticks.windows(2).all(|w| w[0].0 <= w[1].0),
        "{:?}",
        seen.ticks
    );
    println!(
        "{} ticks; decoded {decoded:.2} s, expected {expected:.2} s",
        seen.ticks.len()
    );
}
