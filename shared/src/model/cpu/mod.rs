//! Fused CPU kernels for the conv blocks: what makes the published networks fast on a CPU
//! without changing a score beyond float summation order (the golden tests bound it).
//!
//! [`conv`] runs a whole block (3×3 "same" conv → max-pool → bias → ELU) in cache-sized
//! tiles, [`winograd`] is its F(m×m, 3×3) transform, and `gemm` holds the crate's one call
//! into the `gemm` crate (its only `unsafe` block, kept in a leaf of its own). The networks
//! in [`super::net`] call them on the CPU and candle's generic ops on every other device.

pub mod conv;
mod gemm;
pub mod winograd;
