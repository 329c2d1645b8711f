//! Parameters. The `#[id]` strings are the host-facing identity of each parameter and never
//! change once released; `analysis` carries the persisted song result and model choice.

use std::collections::BTreeMap;
use std::sync::Arc;

use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

use crate::state::SavedCell;

/// Default seconds between current-window updates. Each update is one forward pass of the
/// CRNN; see `docs/performance.md` for what it costs.
pub const DEFAULT_HOP_S: f32 = 5.0;

/// *Update every*: 1 to 30 s.
pub const HOP_RANGE: (f32, f32) = (1.0, 30.0);

/// Default silence gate, dBFS.
pub const DEFAULT_GATE_DB: f32 = -50.0;

/// *Silence gate*: −90 to −10 dBFS.
pub const GATE_RANGE: (f32, f32) = (-90.0, -10.0);

/// The float parameters by id: range and default.
const FLOATS: [(&str, (f32, f32), f32); 2] = [
    ("hop", HOP_RANGE, DEFAULT_HOP_S),
    ("gate", GATE_RANGE, DEFAULT_GATE_DB),
];

/// The bool parameters by id.
const BOOLS: [&str; 2] = ["restart-reset", "reset"];

/// `v` if it is a number in `range`, else `default`.
fn in_range_or(v: f32, range: (f32, f32), default: f32) -> f32 {
    if (range.0..=range.1).contains(&v) {
        v
    } else {
        default
    }
}

/// Check the parameter values of a state a host handed back: a float parameter that is not a
/// number in its range (a negative *Update every*, say), or any known parameter of the wrong
/// type, is set to its default, with a note saying so. (nice-plug stores a loaded value as it
/// comes, unclamped.)
pub fn sanitize(values: &mut BTreeMap<String, ParamValue>, notes: &mut Vec<String>) {
    for (id, range, default) in FLOATS {
        match values.get(id) {
            None => {}
            Some(ParamValue::F32(v)) if in_range_or(*v, range, f32::NAN) == *v => {}
            Some(other) => {
                notes.push(format!(
                    "parameter {id} {other:?} is not a number from {} to {} ({default} used)",
                    range.0, range.1
                ));
                values.insert(id.to_string(), ParamValue::F32(default));
            }
        }
    }
    for id in BOOLS {
        if let Some(v) = values.get(id).filter(|v| !matches!(v, ParamValue::Bool(_))) {
            notes.push(format!("parameter {id} {v:?} is not on or off (not used)"));
            values.remove(id);
        }
    }
}

impl MgrParams {
    /// *Update every*, seconds, always in [`HOP_RANGE`] (whatever a host or a state set).
    pub fn hop_s(&self) -> f32 {
        in_range_or(self.hop.value(), HOP_RANGE, DEFAULT_HOP_S)
    }

    /// *Silence gate*, dBFS, always in [`GATE_RANGE`].
    pub fn gate_db(&self) -> f32 {
        in_range_or(self.gate.value(), GATE_RANGE, DEFAULT_GATE_DB)
    }
}

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
                    min: HOP_RANGE.0,
                    max: HOP_RANGE.1,
                },
            )
            .with_step_size(0.5)
            .with_unit(" s"),
            gate: FloatParam::new(
                "Silence gate",
                DEFAULT_GATE_DB,
                FloatRange::Linear {
                    min: GATE_RANGE.0,
                    max: GATE_RANGE.1,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A negative, NaN or out-of-range *Update every*, a gate given as text, a trigger given
    /// as a number: defaults, each with a note; good values stay.
    #[test]
    fn loaded_values_out_of_range_become_defaults() {
        for (hop, want) in [
            (ParamValue::F32(-5.0), DEFAULT_HOP_S),
            (ParamValue::F32(f32::NAN), DEFAULT_HOP_S),
            (ParamValue::F32(1e30), DEFAULT_HOP_S),
            (ParamValue::I32(3), DEFAULT_HOP_S),
            (ParamValue::F32(12.0), 12.0),
        ] {
            let mut values = BTreeMap::from([
                ("hop".to_string(), hop.clone()),
                ("gate".to_string(), ParamValue::String("loud".into())),
                ("reset".to_string(), ParamValue::F32(1.0)),
                ("restart-reset".to_string(), ParamValue::Bool(false)),
            ]);
            let mut notes = Vec::new();
            sanitize(&mut values, &mut notes);
            assert!(
                matches!(values["hop"], ParamValue::F32(v) if v == want),
                "{hop:?}"
            );
            assert!(matches!(values["gate"], ParamValue::F32(v) if v == DEFAULT_GATE_DB));
            assert!(!values.contains_key("reset"));
            assert!(matches!(values["restart-reset"], ParamValue::Bool(false)));
            let text = notes.join("; ");
            assert_eq!(notes.len(), if want == 12.0 { 2 } else { 3 }, "{text}");
            assert!(text.contains("parameter gate String(\"loud\")"), "{text}");
        }
    }

    /// Whatever a parameter holds, the analysis gets a value in range.
    #[test]
    fn the_analysis_reads_values_in_range() {
        let p = MgrParams::default();
        assert_eq!((p.hop_s(), p.gate_db()), (DEFAULT_HOP_S, DEFAULT_GATE_DB));
        assert_eq!(in_range_or(f32::NAN, HOP_RANGE, 5.0), 5.0);
        assert_eq!(in_range_or(-1.0, HOP_RANGE, 5.0), 5.0);
        assert_eq!(in_range_or(30.0, HOP_RANGE, 5.0), 30.0);
    }
}
