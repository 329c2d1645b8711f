//! Results to Python through their JSON: the dicts a Python caller gets are the objects the
//! CLI prints (`classify --json`, `eval --json`), key for key and value for value.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Python's `json.loads`, imported once.
fn loads(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("json")?.getattr("loads")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// A JSON text as Python objects (dicts, lists, floats, …).
pub fn from_text(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(loads(py)?.call1((text,))?.unbind())
}

/// Any serialisable value as the Python objects of its JSON.
pub fn to_python<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| crate::errors::Class::Internal.err(format!("cannot serialise: {e}")))?;
    from_text(py, &text)
}
