//! The paper's multiframe rule end to end: a 2-minute song is trimmed by 20 s at each end, cut
//! into non-overlapping 29.12 s frames, and decided by the mean of the frame scores.

use mgr_core::audio::{decode_file, Audio};
use mgr_core::config::{CLIP_SAMPLES, SAMPLE_RATE};
use mgr_core::mel::LogMel;
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::{Resampler, ResamplerKind};
use mgr_tests::{model, pack};

#[test]
fn two_minute_song_gives_two_frames_averaged() {
    // Four GTZAN clips of different genres back to back, at 12 kHz: 120 s.
    let r = Resampler::new(ResamplerKind::Reference);
    let mut y = Vec::new();
    for clip in [
        "classical/classical.00000",
        "metal/metal.00000",
        "jazz/jazz.00000",
        "reggae/reggae.00000",
    ] {
        let a = decode_file(&pack(&format!("data/gtzan-mini/genres/{clip}.flac"))).unwrap();
        let mut z = r.to_12k(&a.samples, a.sample_rate).unwrap();
        z.truncate(30 * SAMPLE_RATE as usize);
        y.extend(z);
    }
    assert_eq!(y.len(), 120 * 12_000);
    let song = Audio {
        samples: y.clone(),
        sample_rate: SAMPLE_RATE,
        source_channels: 1,
    };
    let m = model("gtzan");
    let mut analyzer = Analyzer::new(
        mgr_core::model::Model::builtin("gtzan", m.device()).unwrap(),
        ResamplerKind::Reference,
    );
    let scores = analyzer.analyze_audio(&song).unwrap();
    // (120 s − 40 s) / 29.12 s = 2.7 → 2 frames, starting at 20 s.
    assert_eq!(scores.frames.len(), 2);
    let mut lm = LogMel::new();
    for (i, frame) in scores.frames.iter().enumerate() {
        let start = 20 * 12_000 + i * CLIP_SAMPLES;
        let want = &m
            .predict(&lm.compute(&y[start..start + CLIP_SAMPLES]), 1)
            .unwrap()[0];
        let worst = frame
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "frame {i}: {worst}");
    }
    for (k, mean) in scores.mean.iter().enumerate() {
        let want = (scores.frames[0][k] + scores.frames[1][k]) / 2.0;
        assert!((mean - want).abs() < 1e-7);
    }
    let labels = m.labels();
    println!(
        "frames: {} / {}; song: {} (vote {})",
        labels[mgr_core::model::argmax(&scores.frames[0]).unwrap()],
        labels[mgr_core::model::argmax(&scores.frames[1]).unwrap()],
        labels[scores.by_mean()],
        labels[scores.by_vote()]
    );
}
