//! The streaming library pipeline (`mgr_core::pipeline::stream`): a frame's scores do not
//! depend on which frames share its batch, so batching across files gives bit-identical
//! results to one song at a time; results come back per song, errors in their own slot;
//! cancelling stops cleanly.

use std::sync::atomic::{AtomicBool, Ordering};

use mgr_core::pipeline::{Analyzer, FrontEnd, Pipeline, PipelineConfig, FRAME_VALUES};
use mgr_core::resample::ResamplerKind;
use mgr_tests::{model, pack, scratch_dir};

/// Log-mels of some GTZAN frames of different genres (plus one of a long song).
fn frames(n: usize) -> Vec<f32> {
    let mut front = FrontEnd::new(ResamplerKind::Fast, Default::default());
    let mut out = Vec::new();
    for genre in [
        "blues",
        "classical",
        "disco",
        "metal",
        "pop",
        "reggae",
        "jazz",
    ] {
        let f = front
            .file(&pack(&format!(
                "data/gtzan-mini/genres/{genre}/{genre}.00002.flac"
            )))
            .unwrap();
        out.extend(f.logmels);
    }
    while out.len() < n * FRAME_VALUES {
        // Shifted copies: distinct frames without more decoding.
        let k = out.len() / FRAME_VALUES;
        let mut f = out[(k % 7) * FRAME_VALUES..(k % 7 + 1) * FRAME_VALUES].to_vec();
        f.rotate_left(1366 * (k + 1));
        out.extend(f);
    }
    out.truncate(n * FRAME_VALUES);
    out
}

#[test]
fn a_frames_scores_do_not_depend_on_its_batch() {
    let n = 11;
    let x = frames(n);
    for name in ["gtzan", "fcn"] {
        let m = model(name);
        let alone: Vec<Vec<f32>> = x
            .chunks(FRAME_VALUES)
            .map(|f| m.predict(f, 1).unwrap().remove(0))
            .collect();
        for batch in [2, 3, 8, 11] {
            let together = m.predict(&x, batch).unwrap();
            for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
                let same = a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same, "{name} frame {i} at batch {batch}: {a:?} vs {b:?}");
            }
        }
        println!("{name}: {n} frames at batch 1, 2, 3, 8, 11: bit-identical");
    }
}

/// The test's library, written into a scratch folder of its own (`name`): tests run in
/// parallel and a scratch folder starts empty.
fn library_paths(name: &str) -> Vec<std::path::PathBuf> {
    let dir = scratch_dir(name);
    let broken = dir.join("broken.wav");
    std::fs::write(&broken, b"RIFF not really a wave file").unwrap();
    let mut paths = vec![
        pack("data/gtzan-mini/genres/jazz/jazz.00001.flac"),
        broken,
        pack("audio/bensound/bensound-cute.mp3"),
        pack("data/gtzan-mini/genres/metal/metal.00001.flac"),
    ];
    // A 2-minute song: 2 frames of 29.12 s after dropping 20 s at each end.
    let long = dir.join("long.wav");
    let mut samples = Vec::new();
    for clip in [
        "classical/classical.00000",
        "rock/rock.00003",
        "pop/pop.00004",
    ] {
        let a = mgr_core::audio::decode_file(&pack(&format!("data/gtzan-mini/genres/{clip}.flac")))
            .unwrap();
        samples.extend_from_slice(&a.samples()[..22_050 * 30]);
    }
    samples.extend_from_slice(&samples.clone()[..22_050 * 30]);
    std::fs::write(&long, mgr_tests::wav_bytes(&samples, 1, 22_050)).unwrap();
    paths.push(long);
    paths.push(pack("data/gtzan-mini/genres/pop/pop.00001.flac"));
    paths
}

#[test]
fn stream_equals_one_song_at_a_time_for_any_batch_and_workers() {
    let paths = library_paths("stream-lib-batches");
    let m = model("gtzan");
    let mut single = Analyzer::new(
        mgr_core::model::Builtin::Gtzan.load(m.device()).unwrap(),
        ResamplerKind::Reference,
    );
    let want: Vec<_> = paths.iter().map(|p| single.analyze_file(p)).collect();
    assert_eq!(
        want[4].as_ref().unwrap().frames.len(),
        2,
        "the long song has 2 frames"
    );
    let never = AtomicBool::new(false);
    for (batch, workers) in [(1, 0), (3, 0), (8, 1), (3, 2), (8, 3), (64, 2)] {
        let cfg = PipelineConfig {
            batch,
            workers,
            ..PipelineConfig::for_device(m.device())
        };
        let mut got: Vec<Option<_>> = (0..paths.len()).map(|_| None).collect();
        let summary = Pipeline::new(m, cfg).run(&paths, &never, |i, r| {
            assert!(got[i].is_none(), "song {i} delivered twice");
            got[i] = Some(r);
        });
        assert_eq!(summary.delivered, paths.len());
        assert!(!summary.cancelled);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let g = g.as_ref().expect("every song delivered");
            match (g, w) {
                (Ok(g), Ok(w)) => {
                    assert_eq!(g.frames.len(), w.frames.len(), "song {i}");
                    for (a, b) in g.frames.iter().flatten().zip(w.frames.iter().flatten()) {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "song {i}, batch {batch}, {workers} workers"
                        );
                    }
                    assert_eq!(g.mean, w.mean);
                }
                (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string()),
                _ => panic!("song {i}: {g:?} vs {w:?}"),
            }
        }
    }
}

#[test]
fn analyze_files_keeps_input_order() {
    let paths = library_paths("stream-lib-order");
    let m = model("gtzan");
    let mut a = Analyzer::new(
        mgr_core::model::Builtin::Gtzan.load(m.device()).unwrap(),
        ResamplerKind::Fast,
    )
    .with_batch(4);
    let mut order = Vec::new();
    a.analyze_files(&paths, |i, r| order.push((i, r.is_ok())));
    assert_eq!(
        order,
        [
            (0, true),
            (1, false),
            (2, true),
            (3, true),
            (4, true),
            (5, true)
        ]
    );
}

#[test]
fn cancel_stops_before_the_next_file_and_delivers_nothing_half_done() {
    // Every fourth song is the 2-frame long song, so that a batch of 2 often holds the halves
    // of different songs: a song delivered after the cancel must still have all its frames.
    let long = library_paths("stream-lib-cancel").swap_remove(4);
    let frames_of = |i: usize| if i % 4 == 1 { 2 } else { 1 };
    let paths: Vec<_> = (0..40)
        .map(|i| {
            if frames_of(i) == 2 {
                long.clone()
            } else {
                pack(&format!(
                    "data/gtzan-mini/genres/blues/blues.{:05}.flac",
                    i % 10
                ))
            }
        })
        .collect();
    let m = model("gtzan");
    let cancel = AtomicBool::new(false);
    let cfg = PipelineConfig {
        batch: 2,
        workers: 2,
        ..PipelineConfig::for_device(m.device())
    };
    let mut got = Vec::new();
    let summary = Pipeline::new(m, cfg).run(&paths, &cancel, |i, r| {
        let song = r.expect("every song decodes");
        assert_eq!(song.frames.len(), frames_of(i), "song {i} delivered whole");
        got.push(i);
        if got.len() == 3 {
            cancel.store(true, Ordering::Relaxed);
        }
    });
    assert!(summary.cancelled);
    assert!(got.len() >= 3 && got.len() < 40, "{got:?}");
    assert_eq!(summary.delivered, got.len());
}

/// With a timeline asked for, every window of the whole recording (its first and last 20 s
/// included) is scored through the same queue and batches: each window's scores are those of
/// its own 12 kHz samples (zero-padded past the end) alone, and the song decision beside it
/// is unchanged.
#[test]
fn timeline_windows_cover_the_recording_and_leave_the_song_unchanged() {
    use mgr_core::timeline::{window_ranges, TimelineConfig};
    let long = library_paths("stream-lib-timeline").swap_remove(4);
    let short = pack("data/gtzan-mini/genres/jazz/jazz.00001.flac");
    let paths = [long, short];
    let m = model("gtzan");
    let timeline = TimelineConfig { hop: 10.0 };
    let never = AtomicBool::new(false);
    let run = |timeline, workers| {
        let cfg = PipelineConfig {
            batch: 3,
            workers,
            timeline,
            ..PipelineConfig::for_device(m.device())
        };
        let mut got: Vec<Option<_>> = vec![None, None];
        Pipeline::new(m, cfg).run(&paths, &never, |i, r| got[i] = Some(r.unwrap()));
        got.into_iter().map(Option::unwrap).collect::<Vec<_>>()
    };
    let plain = run(None, 1);
    let mut front = FrontEnd::new(ResamplerKind::Reference, Default::default());
    for workers in [0, 2] {
        let with = run(Some(timeline), workers);
        for ((song, plain), path) in with.iter().zip(&plain).zip(&paths) {
            assert_eq!(
                song.mean, plain.mean,
                "{path:?}: the song decision is unchanged"
            );
            assert!(plain.timeline.is_empty());
            let y = front.signal_12k(path).unwrap();
            let ranges = window_ranges(y.len(), timeline.hop_samples());
            assert_eq!(song.timeline.len(), ranges.len(), "{path:?}");
            assert_eq!(song.timeline[0].start, 0.0);
            let last = song.timeline.last().unwrap();
            assert_eq!(last.end, y.len() as f64 / 12_000.0, "up to the very end");
            for (w, r) in song.timeline.iter().zip(&ranges) {
                assert_eq!(w.start, r.start as f64 / 12_000.0);
                let mut x = y[r.start..r.end.min(y.len())].to_vec();
                x.resize(r.len(), 0.0);
                let alone = m.predict(&front.at_12k(&x).logmels, 1).unwrap();
                assert_eq!(w.scores, alone[0], "{path:?} window at {} s", w.start);
            }
        }
    }
    assert_eq!(plain[0].timeline.len(), 0);
}

/// Every clip the front end cuts, as it cuts it (a repeat counted and kept like any clip).
#[derive(Default)]
struct Every {
    clips: Vec<(mgr_core::pipeline::Clip, Vec<f32>)>,
    repeats: usize,
}

impl mgr_core::pipeline::Sink for Every {
    fn clip(&mut self, clip: mgr_core::pipeline::Clip, logmel: &[f32]) -> bool {
        self.clips.push((clip, logmel.to_vec()));
        true
    }

    fn repeat(
        &mut self,
        clip: mgr_core::pipeline::Clip,
        of: mgr_core::pipeline::Clip,
        logmel: &[f32],
    ) -> bool {
        assert_eq!(
            Some(&of),
            self.clips.last().map(|c| &c.0),
            "a repeat is of the clip before"
        );
        assert!(self.clips.last().unwrap().1 == logmel);
        self.repeats += 1;
        self.clip(clip, logmel)
    }
}

/// Clips whose log-mels repeat bit for bit (stretches of digital silence) are not run through
/// the network again but given their twin's scores: the frames and timeline windows of a
/// recording with silent stretches equal every clip scored on its own, for any batch and
/// workers, and the silence is really skipped.
#[test]
fn repeated_silent_clips_get_the_scores_of_their_twin() {
    use mgr_core::pipeline::Clip;
    use mgr_core::timeline::TimelineConfig;
    let dir = scratch_dir("stream-silent-stretches");
    let music =
        mgr_core::audio::decode_file(&pack("data/gtzan-mini/genres/jazz/jazz.00002.flac")).unwrap();
    let rate = 22_050;
    let mut samples = vec![0.0; 70 * rate];
    samples.extend_from_slice(&music.samples()[..30 * rate]);
    samples.extend(std::iter::repeat_n(0.0, 120 * rate));
    samples.extend_from_slice(&music.samples()[..25 * rate]);
    samples.extend(std::iter::repeat_n(0.0, 75 * rate));
    let path = dir.join("gaps.wav");
    std::fs::write(&path, mgr_tests::wav_bytes(&samples, 1, rate as u32)).unwrap();

    let m = model("gtzan");
    let timeline = TimelineConfig::default();
    let mut front = FrontEnd::new(ResamplerKind::Reference, Default::default());
    let mut every = Every::default();
    let streamed = front
        .stream(&path, Some(&timeline), &mut every)
        .unwrap()
        .unwrap();
    assert!(every.repeats >= 6, "{} repeats", every.repeats);
    assert!(streamed.warnings.is_empty(), "{:?}", streamed.warnings);
    let alone = |clip: Clip| {
        let (_, x) = every.clips.iter().find(|c| c.0 == clip).unwrap();
        m.predict(x, 1).unwrap().remove(0)
    };
    let never = AtomicBool::new(false);
    for (batch, workers) in [(1, 0), (3, 0), (3, 2), (8, 1)] {
        let cfg = PipelineConfig {
            batch,
            workers,
            timeline: Some(timeline),
            ..PipelineConfig::for_device(m.device())
        };
        let mut song = None;
        let counters = mgr_core::progress::Counters::default();
        Pipeline::new(m, cfg)
            .run_with_progress(&[&path], &never, &counters, |_, r| song = Some(r.unwrap()));
        let song = song.unwrap();
        // The repeats were not run through the network.
        let load = |c: &std::sync::atomic::AtomicUsize| c.load(Ordering::Relaxed);
        assert_eq!(load(&counters.repeated), every.repeats);
        assert_eq!(load(&counters.scored), every.clips.len() - every.repeats);
        assert_eq!(song.frames.len(), streamed.frames);
        for (k, f) in song.frames.iter().enumerate() {
            assert_eq!(
                f,
                &alone(Clip::Frame(k)),
                "frame {k}, batch {batch}, {workers} workers"
            );
        }
        assert_eq!(song.timeline.len(), streamed.windows.len());
        for (k, w) in song.timeline.iter().enumerate() {
            assert_eq!(
                w.scores,
                alone(Clip::Window(k)),
                "window {k}, batch {batch}"
            );
        }
    }
}
