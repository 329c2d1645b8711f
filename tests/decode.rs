//! Decoder tests on the GTZAN samples in every format of the data pack: each decodes to the
//! PCM of the same clip's FLAC (exactly for lossless formats, within codec tolerance otherwise).

use mgr_core::audio::{decode_file, decode_file_symphonia, decode_flac_own};
use mgr_core::resample::{Resampler, ResamplerKind};
use mgr_tests::{assert_close, best_lag, pack};

fn flac(genre: &str, id: &str) -> Vec<f32> {
    let a = decode_file(&pack(&format!(
        "data/gtzan-mini/genres/{genre}/{genre}.{id}.flac"
    )))
    .unwrap();
    assert_eq!((a.sample_rate(), a.source_channels()), (22_050, 1));
    a.into_samples()
}

/// Every FLAC in the data pack: our own decoder (the fast path of `decode_file`) gives
/// symphonia's samples bit for bit, and it is the path actually taken.
#[test]
fn own_flac_decoder_equals_symphonia_on_every_pack_flac() {
    let mut files = Vec::new();
    let mut dirs = vec![mgr_tests::data_pack()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "flac") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 100, "{} FLAC files", files.len());
    let mut samples = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let own = decode_flac_own(&bytes)
            .unwrap_or_else(|| panic!("{}: own decoder declined", f.display()));
        let sym = decode_file_symphonia(f).unwrap();
        assert_eq!(own.sample_rate(), sym.sample_rate(), "{}", f.display());
        assert_eq!(
            own.source_channels(),
            sym.source_channels(),
            "{}",
            f.display()
        );
        assert_eq!(own.samples().len(), sym.samples().len(), "{}", f.display());
        let same = own
            .samples()
            .iter()
            .zip(sym.samples())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{}: samples differ from symphonia", f.display());
        assert!(decode_file(f).unwrap() == own, "{}", f.display());
        samples += own.samples().len();
    }
    println!(
        "own FLAC decoder: {} files, {samples} samples, bit-exact with symphonia",
        files.len()
    );
}

#[test]
fn sun_au_equals_flac_exactly() {
    for (genre, id) in [("blues", "00000"), ("jazz", "00004"), ("metal", "00007")] {
        let au = decode_file(&pack(&format!("data/gtzan-mini/au-sample/{genre}.{id}.au"))).unwrap();
        assert_eq!(au.sample_rate(), 22_050);
        assert_eq!(au.source_channels(), 1);
        let want = flac(genre, id);
        assert_eq!(au.samples().len(), want.len(), "{genre}.{id}");
        assert!(
            au.samples() == want,
            "{genre}.{id}: .au PCM differs from FLAC"
        );
    }
}

#[test]
fn wav_equals_flac_exactly() {
    let wav = decode_file(&pack("data/gtzan-mini/formats/rock.00001.wav")).unwrap();
    assert_eq!(wav.sample_rate(), 22_050);
    assert!(wav.samples() == flac("rock", "00001"));
}

/// Lossy codecs: aligned by cross-correlation, then the waveform must agree closely.
fn check_lossy(file: &str, min_corr: f64, expected_lag: isize) {
    let dec = decode_file(&pack(&format!("data/gtzan-mini/formats/{file}"))).unwrap();
    assert_eq!(dec.sample_rate(), 22_050, "{file}");
    let want = flac("rock", "00001");
    let len_diff = (dec.samples().len() as isize - want.len() as isize).abs();
    assert!(
        len_diff < 4096,
        "{file}: {} vs {} samples",
        dec.samples().len(),
        want.len()
    );
    let (lag, corr) = best_lag(&want, dec.samples(), 100_000, 44_100, 3000);
    println!("{file}: lag {lag} samples, correlation {corr:.5}");
    assert_eq!(lag, expected_lag, "{file}: misaligned");
    assert!(corr >= min_corr, "{file}: correlation {corr}");
}

#[test]
fn mp3_matches_flac_within_codec_tolerance() {
    // The file has a LAME gapless header: decoder and encoder delays are both trimmed, so the
    // MP3 lines up with the FLAC sample for sample (as ffmpeg's output does).
    check_lossy("rock.00001.mp3", 0.999, 0);
}

#[test]
fn ogg_vorbis_matches_flac_within_codec_tolerance() {
    // Vorbis pre-skip is handled by the container: no offset at all.
    check_lossy("rock.00001.ogg", 0.99, 0);
}

/// 44.1 kHz stereo 24-bit WAV of the first 10 s (both channels equal, each at −3 dB: a
/// pan-law copy): mixed to mono and resampled to 12 kHz it is the FLAC resampled to 12 kHz,
/// times 1/√2, sample-aligned. (Its last second was limited by the tool that made it, so the
/// comparison covers 1–9 s.)
#[test]
fn stereo_44k_24bit_wav_matches_flac_at_12k() {
    let wav = decode_file(&pack(
        "data/gtzan-mini/formats/rock.00001.10s-stereo44k-s24.wav",
    ))
    .unwrap();
    assert_eq!((wav.sample_rate(), wav.source_channels()), (44_100, 2));
    assert!((wav.seconds() - 10.0).abs() < 0.01, "{} s", wav.seconds());
    let r = Resampler::new(ResamplerKind::Reference);
    let a = r.to_12k(wav.samples(), 44_100).unwrap();
    let b = r.to_12k(&flac("rock", "00001"), 22_050).unwrap();
    let (lag, corr) = best_lag(&b, &a, 12_000, 96_000, 50);
    println!("stereo 44.1k wav vs flac at 12 kHz: lag {lag}, correlation {corr:.6}");
    assert_eq!(lag, 0);
    assert!(corr > 0.9999, "correlation {corr}");
    let (seg_a, seg_b) = (&a[12_000..108_000], &b[12_000..108_000]);
    let dot: f64 = seg_a
        .iter()
        .zip(seg_b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let gain = dot / seg_b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>();
    println!("gain {gain:.5}");
    assert!(
        (gain - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.005,
        "gain {gain}"
    );
    let scaled: Vec<f64> = seg_b.iter().map(|y| f64::from(*y) * gain).collect();
    assert_close(
        "stereo 44.1k wav vs flac·gain at 12 kHz",
        seg_a,
        &scaled,
        0.01,
    );
}
