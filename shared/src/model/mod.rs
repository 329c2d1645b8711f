//! The networks and how they are loaded and run.
//!
//! * [`spec`]: which model — the built-in networks ([`Builtin`]) or a file ([`ModelSpec`]).
//! * [`load`]: a model file parsed ([`Weights`]), checked and built into a [`Model`];
//!   `run` (methods of [`Model`]): batched inference and the traced pass.
//! * [`device`](mod@device): the one place a device name becomes a candle device.
//! * [`net`]: the published networks as candle modules (FCN, CRNN, Keras-1 GRU, the
//!   stacked head); [`cpu`]: the fused CPU kernels they use on the CPU.
//! * [`meta`]: the metadata keys of a model file and a trained model's [`meta::Provenance`].

pub mod cpu;
pub mod device;
pub mod load;
pub mod meta;
pub mod net;
mod run;
pub mod spec;

/// Re-exported so callers need not depend on candle to hold a device.
pub use candle_core::Device as CandleDevice;
/// Re-exported tensor type.
pub use candle_core::Tensor as CandleTensor;

pub use device::{device, DeviceKind};
pub use load::{Model, Weights};
pub use net::layers::{argmax, ConvKernels};
pub use spec::{Builtin, ModelFile, ModelSpec};

/// Which network family a weights file holds (decided by its tensor names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Choi's 5-layer FCN.
    Fcn,
    /// Choi's CRNN (4 conv + 2 GRU).
    Crnn,
}
