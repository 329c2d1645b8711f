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
        let mut z = r.to_12k(a.samples(), a.sample_rate()).unwrap();
        z.truncate(30 * SAMPLE_RATE as usize);
        y.extend(z);
    }
    assert_eq!(y.len(), 120 * 12_000);
    let song = Audio::new(y.clone(), SAMPLE_RATE, 1).unwrap();
    let m = model("gtzan");
    let mut analyzer = Analyzer::new(
        mgr_core::model::Builtin::Gtzan.load(m.device()).unwrap(),
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
        let worst = mgr_tests::max_abs_diff(frame, want);
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

#[test]
fn many_files_pipelined_equal_one_at_a_time_and_keep_order() {
    // The front-end of file i + 1 overlaps the network of file i; results must come back in
    // order, unchanged, with a broken file's error in its own slot.
    let dir = mgr_tests::scratch_dir("pipelined");
    let broken = dir.join("broken.wav");
    std::fs::write(&broken, b"RIFF not really a wave file").unwrap();
    let paths = vec![
        pack("data/gtzan-mini/genres/jazz/jazz.00001.flac"),
        broken,
        pack("data/gtzan-mini/genres/metal/metal.00001.flac"),
        pack("data/gtzan-mini/genres/pop/pop.00001.flac"),
    ];
    let m = model("gtzan");
    let new_analyzer = || {
        Analyzer::new(
            mgr_core::model::Builtin::Gtzan.load(m.device()).unwrap(),
            ResamplerKind::Fast,
        )
    };
    let mut got = Vec::new();
    new_analyzer().analyze_files(&paths, |i, r| got.push((i, r)));
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let mut single = new_analyzer();
    for (i, r) in &got {
        match single.analyze_file(&paths[*i]) {
            Ok(want) => assert_eq!(r.as_ref().unwrap().mean, want.mean, "file {i}"),
            Err(e) => assert_eq!(r.as_ref().unwrap_err().to_string(), e.to_string()),
        }
    }
    assert!(got[1].1.is_err());
}
