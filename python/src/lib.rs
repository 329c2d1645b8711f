//! `import mgr`: mgr-core for Python. The extension module `mgr._mgr`; the package around it
//! (`python/mgr/`) adds the exceptions, the progress adapters and the type stubs.
//!
//! A thin face, like the CLI: every function is one call into mgr-core, with numpy float32
//! arrays in and out, mgr-core's errors as Python exceptions ([`errors`]), the GIL released
//! while mgr works and no panic let through ([`errors::released`]).
//!
//! * [`audio`]: `load`, `resample`, `logmel`, `frames`.
//! * [`model`]: `Model` (`labels`, `provenance`, `predict`, `embed`).
//! * [`classify`]: `classify`, the library run as an iterator of dicts.
//! * [`train`]: `finetune`, `evaluate`.

mod audio;
mod classify;
mod errors;
mod json;
mod model;
mod train;

use mgr_core::config::{CLIP_SAMPLES, N_FRAMES, N_MELS, SAMPLE_RATE};
use mgr_core::model::spec::{LICENSE_CHOI, LICENSE_JIMENEZ};
use mgr_core::model::Builtin;
use pyo3::prelude::*;

#[pymodule]
fn _mgr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SAMPLE_RATE", SAMPLE_RATE)?;
    m.add("N_MELS", N_MELS)?;
    m.add("N_FRAMES", N_FRAMES)?;
    m.add("CLIP_SAMPLES", CLIP_SAMPLES)?;
    m.add("BUILTIN_MODELS", Builtin::ALL.map(Builtin::name).to_vec())?;
    // The MIT notices of the weights compiled into this module (they ship with it).
    let licenses = pyo3::types::PyDict::new(m.py());
    for b in Builtin::ALL {
        let notice = match b {
            Builtin::Gtzan => LICENSE_JIMENEZ,
            Builtin::Crnn | Builtin::Fcn => LICENSE_CHOI,
        };
        licenses.set_item(b.name(), notice)?;
    }
    m.add("WEIGHT_LICENSES", licenses)?;
    m.add_function(wrap_pyfunction!(audio::load, m)?)?;
    m.add_function(wrap_pyfunction!(audio::resample, m)?)?;
    m.add_function(wrap_pyfunction!(audio::logmel, m)?)?;
    m.add_function(wrap_pyfunction!(audio::frames, m)?)?;
    m.add_function(wrap_pyfunction!(classify::classify, m)?)?;
    m.add_function(wrap_pyfunction!(train::finetune, m)?)?;
    m.add_function(wrap_pyfunction!(train::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(errors::panic_for_tests, m)?)?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<classify::Classification>()?;
    Ok(())
}
