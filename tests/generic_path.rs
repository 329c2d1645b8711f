//! The code path of CUDA and Metal, run on the CPU: candle's conv2d → ELU → max-pool instead
//! of the fused CPU kernels, and every matrix product refusing strided operands as CUDA's does
//! (`ConvKernels::Generic`). At batch 1, 4 and 8 it must give the fused CPU path's scores
//! for all three built-in models (batch 64 takes minutes on 2 cores: `mgr-cli parity` runs it
//! on a GPU machine). Before the GRU returned its last state as a contiguous
//! tensor, the CRNNs failed here at batch 4 exactly as they did on an H200.

use mgr_core::config::{FramingConfig, N_FRAMES, N_MELS};
use mgr_core::model::{CandleDevice, CandleTensor, ConvKernels, Model};
use mgr_core::pipeline::FrontEnd;
use mgr_core::resample::ResamplerKind;
use mgr_tests::{model, pack};

/// Largest |Δ| of a probability between the two paths (the bar).
const TOLERANCE: f32 = 1e-4;
/// Eight real clips, one per genre, so that a mix-up of batch entries changes the scores.
const CLIPS: [&str; 8] = [
    "blues/blues.00000",
    "classical/classical.00001",
    "country/country.00002",
    "disco/disco.00003",
    "hiphop/hiphop.00004",
    "jazz/jazz.00005",
    "metal/metal.00006",
    "reggae/reggae.00007",
];
const PER: usize = N_MELS * N_FRAMES;

/// `n` distinct log-mel frames: the first frame of each clip, and past eight the same frames
/// rotated in time by 97 columns per round.
fn frames(n: usize) -> Vec<f32> {
    let mut front = FrontEnd::new(ResamplerKind::Reference, FramingConfig::default());
    let clips: Vec<Vec<f32>> = CLIPS
        .iter()
        .map(|c| {
            let f = front
                .file(&pack(&format!("data/gtzan-mini/genres/{c}.flac")))
                .unwrap();
            f.logmels[..PER].to_vec()
        })
        .collect();
    let mut out = Vec::with_capacity(n * PER);
    for i in 0..n {
        let (clip, shift) = (&clips[i % clips.len()], 97 * (i / clips.len()));
        for row in clip.chunks_exact(N_FRAMES) {
            out.extend(row.iter().cycle().skip(shift % N_FRAMES).take(N_FRAMES));
        }
    }
    out
}

fn generic(name: &str) -> Model {
    mgr_core::model::ModelSpec::from(name)
        .load(&CandleDevice::Cpu)
        .unwrap()
        .with_conv_kernels(ConvKernels::Generic)
}

/// Each batch of the first frames through the generic path in one forward pass must give the
/// fused CPU path's scores of the same frames one at a time.
fn check(name: &str, batches: &[usize]) {
    let max = batches.iter().copied().max().unwrap_or(1);
    let logmels = frames(max);
    let want = model(name).predict(&logmels, 1).unwrap();
    let generic = generic(name);
    for &b in batches {
        let got = generic.predict(&logmels[..b * PER], b).unwrap_or_else(|e| {
            panic!("{name}, generic path, batch {b}: {e}");
        });
        assert_eq!(got.len(), b);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| mgr_tests::max_abs_diff(g, w))
            .fold(0f32, f32::max);
        println!("{name}: batch {b}: worst |generic − fused| = {worst:.2e}");
        assert!(
            worst <= TOLERANCE,
            "{name} at batch {b}: the generic path is {worst:.2e} from the CPU's scores"
        );
    }
}

#[test]
fn gtzan_crnn_generic_path_equals_cpu_at_every_batch() {
    check("gtzan", &[1, 4, 8]);
}

#[test]
fn msd_crnn_generic_path_equals_cpu_at_every_batch() {
    check("crnn", &[1, 4, 8]);
}

#[test]
fn fcn_generic_path_equals_cpu_at_every_batch() {
    check("fcn", &[1, 4, 8]);
}

/// The penultimate features feed the transfer-learning heads (`finetune`, `eval`): the same
/// values and a contiguous layout on the generic path.
#[test]
fn crnn_features_of_a_batch_are_contiguous_and_equal() {
    let logmels = frames(4);
    let fused = model("gtzan");
    let generic = generic("gtzan");
    let x = generic.input_tensor(&logmels).unwrap();
    let g = generic.features(&x).unwrap();
    assert!(g.is_contiguous(), "{:?}", g.layout());
    assert_eq!(g.dims(), [4, 32]);
    let f = fused
        .features(&fused.input_tensor(&logmels).unwrap())
        .unwrap();
    let flat = |t: &CandleTensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let worst = mgr_tests::max_abs_diff(&flat(&g), &flat(&f));
    println!("gtzan features, batch 4: worst |generic − fused| = {worst:.2e}");
    assert!(worst <= TOLERANCE, "{worst}");
}
