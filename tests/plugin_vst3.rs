//! The bundled `mgr.vst3` loaded by a VST3 host: pedalboard (Python) processes audio at three
//! rates, mono and stereo, three block sizes, and the output must equal the input exactly.
//! Needs `python3` with `pedalboard` (`.ci/run` installs it into a virtual environment and
//! puts it first on `PATH`).

use std::path::PathBuf;
use std::process::Command;

#[path = "plugin_host.rs"]
mod plugin_host;

#[test]
fn pedalboard_passes_audio_unchanged() {
    let vst3 = plugin_host::bundle("vst3");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/vst3_passthrough.py");
    let python = std::env::var("MGR_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(&vst3)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        !text.contains("No module named 'pedalboard'"),
        "pedalboard is not installed for {python} (pip install pedalboard)"
    );
    assert!(out.status.success(), "pedalboard check failed:\n{text}");
    // Every case ran (the script stops at the first failure).
    assert_eq!(
        text.matches("0 samples differ in their bits").count(),
        18,
        "{text}"
    );
}
