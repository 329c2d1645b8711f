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
