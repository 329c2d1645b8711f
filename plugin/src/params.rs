//! Parameters. The `#[id]` strings are the host-facing identity of each parameter and never
//! change once released; `analysis` carries the persisted song result and model choice.

use std::sync::Arc;

use nice_plug::prelude::*;

use crate::state::SavedCell;

/// Default seconds between current-window updates. Each update is one forward pass of the
/// CRNN; see `docs/performance.md` for what it costs.
pub const DEFAULT_HOP_S: f32 = 5.0;

#[derive(Params)]
pub struct MgrParams {
    /// Seconds between updates of the current 29.12 s window.
    #[id = "hop"]
    pub hop: FloatParam,
    /// Windows with an RMS level below this (dBFS) are shown but do not vote.
    #[id = "gate"]
    pub gate: FloatParam,
    /// Start a new song when the host transport restarts from the beginning.
    #[id = "restart-reset"]
    pub reset_on_restart: BoolParam,
    /// *Reset song*: switching it on starts a new song at that sample (the editor's button
    /// presses it through the host, so hosts and automation can too). It is a trigger: only
    /// the change to on counts; a value that arrives with a state load is not a press.
    #[id = "reset"]
    pub reset: BoolParam,
    /// Model path, last model folder, song average and history, saved with the host project.
    /// Loading a state with another model path loads that model (the editor's model selector
    /// does exactly that).
    #[persist = "analysis"]
    pub saved: Arc<SavedCell>,
}

impl Default for MgrParams {
    fn default() -> Self {
        Self {
            hop: FloatParam::new(
                "Update every",
                DEFAULT_HOP_S,
                FloatRange::Linear {
                    min: 1.0,
                    max: 30.0,
                },
            )
            .with_step_size(0.5)
            .with_unit(" s"),
            gate: FloatParam::new(
                "Silence gate",
                -50.0,
                FloatRange::Linear {
                    min: -90.0,
                    max: -10.0,
                },
            )
            .with_step_size(1.0)
            .with_unit(" dB"),
            reset_on_restart: BoolParam::new("New song on restart", true),
            reset: BoolParam::new("Reset song", false),
            saved: Arc::new(SavedCell::default()),
        }
    }
}
