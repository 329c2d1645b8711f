//! Bad and unusual input: every case ends in a one-line `mgr_core::Error` or a correct,
//! finite result — never a panic.

use std::path::Path;

use mgr_core::audio::{decode_bytes, decode_bytes_symphonia, decode_file, decode_flac_own, Audio};
use mgr_core::model::{device, DeviceKind, Model};
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::ResamplerKind;
use mgr_core::Error;
use mgr_tests::{pack, wav_bytes};

fn analyzer() -> Analyzer {
    let dev = device(DeviceKind::Cpu).unwrap();
    Analyzer::new(
        mgr_core::model::Builtin::Gtzan.load(&dev).unwrap(),
        ResamplerKind::Reference,
    )
}

fn assert_one_line(e: &Error) {
    let msg = e.to_string();
    assert!(
        !msg.is_empty() && !msg.contains('\n'),
        "not one line: {msg:?}"
    );
}

fn tone(rate: u32, channels: usize, seconds: f64) -> Vec<f32> {
    let frames = (f64::from(rate) * seconds) as usize;
    let mut v = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for c in 0..channels {
            let f = 220.0 * (c + 1) as f64;
            v.push(
                (0.3 * (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin()) as f32,
            );
        }
    }
    v
}

/// Scores are finite probabilities and there is one decision.
fn assert_sane(a: &mut Analyzer, audio: &Audio) -> usize {
    let song = a.analyze_audio(audio).unwrap();
    assert!(!song.frames.is_empty());
    assert!(
        song.mean
            .iter()
            .all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
        "{:?}",
        song.mean
    );
    song.frames.len()
}

#[test]
fn empty_file_is_an_error() {
    let e = decode_bytes(Vec::new(), Some("wav"), Path::new("empty.wav")).unwrap_err();
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e}");
    assert_one_line(&e);
}

#[test]
fn text_renamed_wav_is_an_error() {
    let text = b"This is not audio, just some text that was renamed to .wav\n".repeat(50);
    let e = decode_bytes(text, Some("wav"), Path::new("notes.wav")).unwrap_err();
    assert!(matches!(e, Error::UnsupportedFormat { .. }), "{e}");
    assert_one_line(&e);
}

#[test]
fn missing_file_is_an_io_error() {
    let e = decode_file(Path::new("no/such/file.mp3")).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert_one_line(&e);
}

#[test]
fn zero_length_wav_is_an_error() {
    let e = decode_bytes(
        wav_bytes(&[], 1, 44_100),
        Some("wav"),
        Path::new("zero.wav"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::EmptyAudio { .. }), "{e}");
    assert_one_line(&e);
}

#[test]
fn truncated_mp3_decodes_what_is_there() {
    let bytes = std::fs::read(pack("audio/bensound/bensound-cute.mp3")).unwrap();
    // Cut in the middle of a frame, at 40 % of the file.
    let cut = bytes[..bytes.len() * 2 / 5 + 7].to_vec();
    let audio = decode_bytes(cut, Some("mp3"), Path::new("cut.mp3")).unwrap();
    let full = 1_378_944.0;
    let frac = audio.samples().len() as f64 / full;
    assert!(
        (0.35..0.45).contains(&frac),
        "decoded {frac:.3} of the song"
    );
    assert_sane(&mut analyzer(), &audio);
    // A few header bytes only: an error, not a panic.
    let e = decode_bytes(bytes[..100].to_vec(), Some("mp3"), Path::new("tiny.mp3")).unwrap_err();
    assert_one_line(&e);
}

/// Damaged FLAC: our own decoder declines (frame CRCs, sample count) and symphonia decides, as
/// before the fast path existed: `decode_bytes` gives exactly what symphonia alone gives, the
/// same samples or the same one-line error. Never a panic.
#[test]
fn damaged_flac_falls_back_to_symphonia() {
    let path = pack("data/gtzan-mini/genres/jazz/jazz.00004.flac");
    let bytes = std::fs::read(&path).unwrap();
    let full = decode_file(&path).unwrap();
    let n = bytes.len();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for frac in [0.001, 0.3, 0.5, 0.999] {
        let cut = (n as f64 * frac) as usize;
        cases.push((format!("cut at {cut}"), bytes[..cut].to_vec()));
    }
    for at in [n / 7, n / 3, n / 2 + 11, n - 5] {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        cases.push((format!("byte {at} flipped"), b));
    }
    let (mut decoded, mut refused) = (0, 0);
    for (what, b) in cases {
        assert!(
            decode_flac_own(&b).is_none(),
            "{what}: own decoder accepted it"
        );
        let path = Path::new("bad.flac");
        let symphonia = decode_bytes_symphonia(b.clone(), Some("flac"), path);
        match (decode_bytes(b, Some("flac"), path), symphonia) {
            (Ok(a), Ok(want)) => {
                assert!(a == want, "{what}: not symphonia's decode");
                assert!(a.samples().iter().all(|v| v.is_finite()), "{what}");
                assert!(a.samples().len() <= full.samples().len() + 8192, "{what}");
                decoded += 1;
            }
            (Err(e), Err(want)) => {
                assert_one_line(&e);
                assert_eq!(e.to_string(), want.to_string(), "{what}");
                refused += 1;
            }
            (got, want) => panic!(
                "{what}: decode_bytes gave {}, symphonia alone {}",
                summary(&got),
                summary(&want)
            ),
        }
    }
    println!("damaged FLAC: {decoded} decoded as symphonia does, {refused} refused as it does");
    assert!(decoded > 0, "no damaged file reached symphonia's decode");
}

/// A decode result in one line: sample count or error.
fn summary(r: &mgr_core::Result<Audio>) -> String {
    match r {
        Ok(a) => format!("{} samples", a.samples().len()),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn one_second_gives_one_padded_frame() {
    let audio = decode_bytes(
        wav_bytes(&tone(44_100, 1, 1.0), 1, 44_100),
        None,
        Path::new("1s.wav"),
    )
    .unwrap();
    assert_eq!(assert_sane(&mut analyzer(), &audio), 1);
}

#[test]
fn silence_gives_finite_scores() {
    let audio = Audio::new(vec![0.0; 22_050 * 30], 22_050, 1).unwrap();
    assert_sane(&mut analyzer(), &audio);
}

#[test]
fn unusual_rates_and_channel_counts() {
    let mut a = analyzer();
    for (rate, channels) in [(8_000u32, 1usize), (96_000, 2), (48_000, 6)] {
        let bytes = wav_bytes(&tone(rate, channels, 5.0), channels as u16, rate);
        let audio = decode_bytes(bytes, Some("wav"), Path::new("x.wav")).unwrap();
        assert_eq!(
            (audio.sample_rate(), audio.source_channels()),
            (rate, channels)
        );
        assert_eq!(audio.samples().len(), rate as usize * 5);
        // Mixdown is the channel average.
        let first: f32 = tone(rate, channels, 0.001)[channels..2 * channels]
            .iter()
            .sum::<f32>()
            / channels as f32;
        assert!((audio.samples()[1] - first).abs() < 1e-4);
        assert_sane(&mut a, &audio);
    }
}

#[test]
fn too_low_rate_is_refused() {
    let bytes = wav_bytes(&tone(4_000, 1, 1.0), 1, 4_000);
    let e = decode_bytes(bytes, Some("wav"), Path::new("4k.wav")).unwrap_err();
    assert!(matches!(e, Error::SampleRateTooLow(4_000)), "{e}");
    assert_one_line(&e);
}

#[test]
fn corrupt_model_file_is_an_error() {
    let dev = device(DeviceKind::Cpu).unwrap();
    let e = Model::from_bytes(b"definitely not safetensors", "junk", &dev).unwrap_err();
    assert!(matches!(e, Error::InvalidModel { .. }), "{e}");
    assert_one_line(&e);
    // A truncated copy of a real model.
    let real = mgr_core::model::Builtin::Gtzan.bytes();
    let e = Model::from_bytes(&real[..real.len() / 2], "half", &dev).unwrap_err();
    assert_one_line(&e);
}
