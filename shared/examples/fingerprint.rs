//! Fingerprints of the front end on the files given: per resampler, the 12 kHz length and
//! FNV-1a of its bits, and FNV-1a of every frame's log-mel.
use mgr_core::config::FramingConfig;
use mgr_core::hash::fnv1a;
use mgr_core::pipeline::FrontEnd;
use mgr_core::resample::ResamplerKind;

fn h(v: &[f32]) -> u64 {
    fnv1a(0, v.iter().flat_map(|x| x.to_bits().to_le_bytes()))
}

fn main() {
    let root = std::env::args().nth(1).unwrap();
    let files: Vec<String> = std::io::stdin().lines().map(|l| l.unwrap()).collect();
    let mut out = serde_json::Map::new();
    for kind in [ResamplerKind::Reference, ResamplerKind::Fast] {
        let mut front = FrontEnd::new(kind, FramingConfig::default());
        let mut per = serde_json::Map::new();
        for f in &files {
            let p = std::path::Path::new(&root).join(f);
            let feats = front.file(&p).unwrap();
            let frames: Vec<String> = feats
                .logmels
                .chunks(96 * 1366)
                .map(|c| format!("{:016x}", h(c)))
                .collect();
            per.insert(f.clone(), serde_json::json!(frames));
        }
        out.insert(
            format!("{kind:?}").to_lowercase(),
            serde_json::Value::Object(per),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::Value::Object(out)).unwrap()
    );
}
