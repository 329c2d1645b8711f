//! # mgr-core
//!
//! Music genre recognition after A. Jiménez and F. Marqués, *Music genre recognition with deep
//! neural networks*, on K. Choi's FCN and CRNN music taggers. Data flows one way:
//!
//! [`audio`] (decode + mixdown) → [`resample`] (to 12 kHz) → [`aggregate`] (cut 29.12 s
//! frames) → [`mel`] (log-mel `[96, 1366]`) → [`model`] (candle FCN/CRNN) → scores →
//! [`aggregate`] (song decision). [`pipeline`] strings the stages together (one song, or many
//! files streamed through all cores); [`library`] is the whole workflow over a music library
//! (walk, shards, resumable result files, genre tags).
//! [`train`] (transfer learning, fine-tuning) and [`eval`] (GTZAN layouts, splits, metrics)
//! build on them; [`mfcc`] is the baseline's descriptor.
//!
//! ## A song's genre
//!
//! Decode a clip of the data pack (`../shared` beside the repository), run the default genre
//! model (Jiménez's GTZAN CRNN, compiled in) on the CPU and print the song's label:
//!
//! ```rust
//! use std::path::Path;
//!
//! use mgr_core::model::{device, DeviceKind, ModelSpec};
//! use mgr_core::pipeline::Analyzer;
//! use mgr_core::resample::ResamplerKind;
//!
//! # fn main() -> mgr_core::Result<()> {
//! let model = ModelSpec::default().load(&device(DeviceKind::Cpu)?)?;
//! // The reference resampler gives the inputs the published model was made with.
//! let mut analyzer = Analyzer::new(model, ResamplerKind::Reference);
//!
//! let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
//! let song = analyzer.analyze_file(&pack.join("data/gtzan-mini/genres/blues/blues.00000.flac"))?;
//! let top = song.by_mean(); // the paper's rule: argmax of the mean over 29.12 s frames
//! let label = &analyzer.model().labels()[top];
//! println!("{label} ({:.3}, {} frame)", song.mean[top], song.frames.len());
//!
//! // A 30 s clip is one frame; the reference pipeline scores it blues, 0.4575
//! // (reference/golden/gtzan-blues.00000/golden.json in the data pack).
//! assert_eq!(song.frames.len(), 1);
//! assert_eq!(label, "blues");
//! assert!((song.mean[top] - 0.4575).abs() < 1e-4);
//! # Ok(())
//! # }
//! ```
//!
//! Many files at once go through [`pipeline::Pipeline`] (all cores, batched);
//! [`library::run`] adds the walk, result files and tags.

#![warn(missing_docs)]

pub mod aggregate;
pub mod audio;
pub mod config;
pub mod dataset;
pub mod error;
pub mod eval;
mod flac;
pub mod fsio;
pub mod hash;
pub mod library;
pub mod mel;
pub mod mfcc;
pub mod model;
mod names;
pub mod pipeline;
pub mod progress;
pub mod resample;
pub mod rng;
#[cfg(test)]
mod testing;
pub mod timeline;
pub mod train;

pub use error::{Error, Result};
