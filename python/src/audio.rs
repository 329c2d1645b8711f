//! Audio in, float32 arrays out: `load`, `resample`, `logmel`, `frames`. Each is one call
//! into mgr-core (`audio::decode_file`, `resample::Resampler`, `mel::LogMel`,
//! `pipeline::FrontEnd`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::OnceLock;

use mgr_core::audio::decode_file;
use mgr_core::config::{FramingConfig, N_FRAMES, N_MELS, SAMPLE_RATE};
use mgr_core::error::Error;
use mgr_core::mel::{frames_of, LogMel};
use mgr_core::pipeline::FrontEnd;
use mgr_core::resample::{Resampler, ResamplerKind};
use numpy::{AllowTypeChange, PyArray2, PyArray3};
use numpy::{PyArray1, PyArrayLike1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{py_err, released, ToPyErr};

/// A kebab-case option value (`"reference"`, `"cpu"`, …) parsed, or `ValueError` naming the
/// option and the accepted values.
pub fn parse_option<T: std::str::FromStr<Err = String>>(option: &str, value: &str) -> PyResult<T> {
    value
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{option}: {e}")))
}

/// The two resamplers, built once (the reference one computes a 32,769-entry table).
fn resampler(kind: ResamplerKind) -> &'static Resampler {
    static BOTH: OnceLock<[Resampler; 2]> = OnceLock::new();
    let both = BOTH.get_or_init(|| {
        [
            Resampler::new(ResamplerKind::Reference),
            Resampler::new(ResamplerKind::Fast),
        ]
    });
    match kind {
        ResamplerKind::Reference => &both[0],
        ResamplerKind::Fast => &both[1],
    }
}

/// `sr` must be the networks' rate: mgr has one front-end, at 12 kHz.
fn check_rate(sr: u32) -> PyResult<()> {
    if sr == SAMPLE_RATE {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "sr={sr}: mgr's front-end and networks run at {SAMPLE_RATE} Hz \
             (mgr.resample(y, orig_sr={sr}) converts)"
        )))
    }
}

/// A mono signal from Python as owned float32 samples (any real dtype is converted; a copy,
/// so that the array may change while the GIL is released), refused when not finite.
pub fn samples(y: &PyArrayLike1<'_, f32, AllowTypeChange>) -> PyResult<Vec<f32>> {
    let v = y.as_array().to_vec();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFiniteSamples.to_py());
    }
    Ok(v)
}

/// Decode an audio file to a mono float32 signal at 12 kHz.
///
/// Any format mgr reads (WAV, FLAC, MP3, Ogg Vorbis, Sun ``.au``); channels are averaged.
///
/// Args:
///     path: the audio file.
///     sr: the sample rate of the result; mgr's front-end runs at 12000 Hz only.
///     resampler: ``"reference"`` (the interpolator that made the published networks'
///         inputs, exact) or ``"fast"`` (a shorter polyphase filter; scores move by up to
///         0.012, see docs/verification.md).
///
/// Returns:
///     numpy.ndarray: float32, shape ``(samples,)``.
///
/// Raises:
///     FileNotFoundError: no such file (other ``OSError``\ s for other read failures).
///     mgr.DecodeError: not audio mgr can decode, no samples, a sample rate below 8 kHz.
#[pyfunction]
#[pyo3(signature = (path, sr = SAMPLE_RATE, resampler = "reference"))]
pub fn load<'py>(
    py: Python<'py>,
    path: PathBuf,
    sr: u32,
    resampler: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    check_rate(sr)?;
    let kind: ResamplerKind = parse_option("resampler", resampler)?;
    let y = released(py, || {
        let audio = decode_file(&path).map_err(py_err)?;
        self::resampler(kind)
            .to_12k(audio.samples(), audio.sample_rate())
            .map_err(py_err)
    })?;
    Ok(PyArray1::from_vec(py, y))
}

/// Resample a mono signal to 12 kHz.
///
/// The output has ``ceil(len(y) * 12000 / orig_sr)`` samples (librosa's length rule).
///
/// Args:
///     y: mono signal, any real dtype (converted to float32).
///     orig_sr: its sample rate in Hz (at least 8000).
///     target_sr: 12000, the only rate mgr's networks take.
///     resampler: ``"reference"`` or ``"fast"`` (see :func:`load`).
///
/// Returns:
///     numpy.ndarray: float32, shape ``(ceil(len(y) * 12000 / orig_sr),)``.
///
/// Raises:
///     mgr.DecodeError: ``orig_sr`` below 8000 Hz, or samples that are not finite.
#[pyfunction]
#[pyo3(signature = (y, orig_sr, target_sr = SAMPLE_RATE, resampler = "reference"))]
pub fn resample<'py>(
    py: Python<'py>,
    y: PyArrayLike1<'py, f32, AllowTypeChange>,
    orig_sr: u32,
    target_sr: u32,
    resampler: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    check_rate(target_sr)?;
    let kind: ResamplerKind = parse_option("resampler", resampler)?;
    let x = samples(&y)?;
    let y = released(py, || {
        self::resampler(kind).to_12k(&x, orig_sr).map_err(py_err)
    })?;
    Ok(PyArray1::from_vec(py, y))
}

thread_local! {
    /// One front-end per thread (FFT plan, filter bank, buffers), built on first use.
    static LOGMEL: RefCell<LogMel> = RefCell::new(LogMel::new());
}

/// Log-mel spectrogram of a 12 kHz signal: the published networks' front-end.
///
/// STFT with a periodic Hann window of 512 samples, hop 256, centred frames (reflect
/// padding); 96 Slaney mel bands from 0 to 6 kHz; the mel power squared once more, then
/// ``10·log10(max(1e-10, ·))`` and an 80 dB range below the maximum. In librosa's terms:
/// ``power_to_db(melspectrogram(y=y, sr=12000, n_fft=512, hop_length=256, n_mels=96)**2,
/// ref=1.0, amin=1e-10, top_db=80)``.
///
/// A 29.12 s signal (349,440 samples) gives ``(96, 1366)``, exactly one network input; any
/// other length gives ``1 + len(y) // 256`` frames of the whole signal. :func:`frames` cuts a
/// song into network inputs the way ``classify`` does.
///
/// Args:
///     y: mono signal at 12 kHz, any real dtype (converted to float32).
///     sr: its sample rate; must be 12000.
///
/// Returns:
///     numpy.ndarray: float32, shape ``(96, 1 + len(y) // 256)``, rows the mel bands (low to
///     high), in dB.
#[pyfunction]
#[pyo3(signature = (y, sr = SAMPLE_RATE))]
pub fn logmel<'py>(
    py: Python<'py>,
    y: PyArrayLike1<'py, f32, AllowTypeChange>,
    sr: u32,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    check_rate(sr)?;
    let x = samples(&y)?;
    let frames = frames_of(x.len());
    let out = released(py, || {
        Ok(LOGMEL.with(|lm| lm.borrow_mut().compute_signal(&x)))
    })?;
    PyArray1::from_vec(py, out).reshape([N_MELS, frames])
}

/// The network inputs of a song: log-mels of its 29.12 s frames, as ``classify`` cuts them.
///
/// The paper's multiframe rule: a song longer than 29.12 s + 2 × 20 s loses 20 s at each end
/// and is cut into consecutive non-overlapping 29.12 s frames (a shorter tail is dropped);
/// any shorter song is one frame, centre-cropped or zero-padded at the end. The mean of
/// ``Model.predict`` over these frames is the song's scores in ``classify``.
///
/// Args:
///     y: mono signal at 12 kHz (e.g. from :func:`load`), any real dtype.
///     sr: its sample rate; must be 12000.
///
/// Returns:
///     numpy.ndarray: float32, shape ``(frames, 96, 1366)``.
#[pyfunction]
#[pyo3(signature = (y, sr = SAMPLE_RATE))]
pub fn frames<'py>(
    py: Python<'py>,
    y: PyArrayLike1<'py, f32, AllowTypeChange>,
    sr: u32,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    check_rate(sr)?;
    let x = samples(&y)?;
    let feats = released(py, || {
        let mut front = FrontEnd::new(ResamplerKind::Reference, FramingConfig::default());
        Ok(front.at_12k(&x))
    })?;
    PyArray1::from_vec(py, feats.logmels).reshape([feats.frames, N_MELS, N_FRAMES])
}

/// Log-mels from Python, `(96, 1366)` or `(n, 96, 1366)`, as owned concatenated frames and
/// their count.
pub fn network_input(mels: &Bound<'_, PyAny>) -> PyResult<(Vec<f32>, usize)> {
    let array = mels.extract::<numpy::PyArrayLikeDyn<'_, f32, AllowTypeChange>>()?;
    let shape = array.shape().to_vec();
    let n = match shape.as_slice() {
        [m, t] if *m == N_MELS && *t == N_FRAMES => 1,
        [n, m, t] if *m == N_MELS && *t == N_FRAMES && *n > 0 => *n,
        _ => {
            return Err(PyValueError::new_err(format!(
                "expected log-mels of shape (n, {N_MELS}, {N_FRAMES}) or ({N_MELS}, {N_FRAMES}) \
                 (mgr.frames makes them), got {shape:?}"
            )))
        }
    };
    let data: Vec<f32> = array.as_array().iter().copied().collect();
    if data.iter().any(|x| !x.is_finite()) {
        return Err(PyValueError::new_err(
            "log-mels contain non-finite values (NaN or infinity)",
        ));
    }
    Ok((data, n))
}
