//! The published networks as candle modules, one struct per block, tensor names from
//! `vb.pp(..)` prefixes that match the safetensors files (`weights/README.md` of the data
//! pack): Choi's [`fcn`] and [`crnn`] (with the Keras-1 [`gru`]), the shared [`layers`], and
//! the stacked [`head`] that `finetune --strategy stack` puts on top.

pub mod crnn;
pub mod fcn;
pub mod gru;
pub mod head;
pub mod layers;
