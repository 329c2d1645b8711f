//! The one place that turns a device name into a candle device, and the check that the CUDA
//! libraries can be loaded before candle tries (cudarc would panic on a missing one).

use candle_core::Device;

use crate::error::{Error, Result};

/// Compute device selection for `--device cpu|cuda|metal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// The CPU, with the fused kernels of [`super::cpu`].
    #[default]
    Cpu,
    /// NVIDIA GPU 0 (a build with the `cuda` feature).
    Cuda,
    /// Apple GPU 0 (a build with the `metal` feature).
    Metal,
}

crate::names::kebab_names!(DeviceKind);

/// The one place that turns a [`DeviceKind`] into a candle device.
///
/// A build with the CUDA libraries loaded at run time (feature `cuda-dynamic-loading`, made by
/// `bench/cuda/build.sh`) first checks that they can be loaded: cudarc panics on a missing one,
/// this returns [`Error::DeviceUnavailable`] naming it instead.
pub fn device(kind: DeviceKind) -> Result<Device> {
    let unavailable = |name: &str, e: candle_core::Error| {
        // One line: candle appends a backtrace when RUST_BACKTRACE is set.
        let e = match e {
            candle_core::Error::WithBacktrace { inner, .. } => *inner,
            e => e,
        };
        let reason = match e {
            candle_core::Error::NotCompiledWithCudaSupport => {
                "this build has no CUDA support (docs/gpu.md says how to build it)".into()
            }
            candle_core::Error::NotCompiledWithMetalSupport => {
                "this build has no Metal support (cargo feature `metal`)".into()
            }
            e => e.to_string(),
        };
        Error::DeviceUnavailable {
            device: name.into(),
            reason,
        }
    };
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => {
            #[cfg(feature = "cuda-dynamic-loading")]
            cuda_libraries::check().map_err(|reason| Error::DeviceUnavailable {
                device: "cuda".into(),
                reason,
            })?;
            // cuDNN (and cuBLAS where asked) run float32 work on TF32 tensor cores on Ampere
            // and later unless told otherwise; TF32 keeps 10 mantissa bits and would move the
            // scores by ~1e-3. mgr promises the CPU's scores within 1e-4, so it asks for strict
            // float32, unless the user set the variable themselves.
            #[cfg(feature = "cudnn")]
            if std::env::var_os("NVIDIA_TF32_OVERRIDE").is_none() {
                std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
            }
            Device::new_cuda(0).map_err(|e| unavailable("cuda", e))
        }
        DeviceKind::Metal => Device::new_metal(0).map_err(|e| unavailable("metal", e)),
    }
}

/// Can the CUDA libraries that candle's CUDA device opens be loaded?
#[cfg(feature = "cuda-dynamic-loading")]
mod cuda_libraries {
    /// Whether cuDNN loads (builds with the `cudnn` feature run every convolution through it).
    #[cfg(feature = "cudnn")]
    #[allow(unsafe_code)]
    fn cudnn_present() -> bool {
        // SAFETY: as for the probes below.
        unsafe { cudarc::cudnn::sys::is_culib_present() }
    }

    #[cfg(not(feature = "cudnn"))]
    fn cudnn_present() -> bool {
        true
    }

    /// `Err` names every library that cannot be loaded, in words a user can act on.
    ///
    /// These are the libraries `CudaDevice::new` opens: the driver (context), cuBLAS (which
    /// needs cuBLASLt) and cuRAND. The probes are cudarc's own, with the same file names
    /// (`libcublas.so.13`, `libcublas.so`, …) as the loader that would otherwise panic.
    pub fn check() -> Result<(), String> {
        // SAFETY: each probe `dlopen`s the library (running its initialisers) and closes it,
        // which cudarc does anyway before its first call into it.
        #[allow(unsafe_code)]
        let present = unsafe {
            [
                cudarc::driver::sys::is_culib_present(),
                cudarc::cublas::sys::is_culib_present(),
                cudarc::cublaslt::sys::is_culib_present(),
                cudarc::curand::sys::is_culib_present(),
                cfg!(not(feature = "cudnn")) || cudnn_present(),
            ]
        };
        let names = [
            "libcuda (the NVIDIA driver's)",
            "libcublas",
            "libcublasLt",
            "libcurand",
            "libcudnn",
        ];
        let missing: Vec<&str> = names
            .into_iter()
            .zip(present)
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "cannot load {}; put the folders that hold the CUDA libraries on LD_LIBRARY_PATH \
             (docs/gpu.md)",
            missing.join(", ")
        ))
    }
}
