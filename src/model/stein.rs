//! Built-in model 2: the multiphasic cellular kinetic model of tisagenlecleucel (Stein et al.,
//! CPT:PSP 2019;8:285).
//!
//! Transgene level C (copies/µg DNA) rises exponentially until `Tmax` days after infusion, then
//! falls bi-exponentially (a fast effector-like and a slow memory-like phase):
//!
//! ```text
//! C(t) = R0 · exp(ρ t)                                               t < Tmax
//! C(t) = (1 − FB) · Cmax · exp(−α (t − Tmax)) + FB · Cmax · exp(−β (t − Tmax))   t ≥ Tmax
//! ρ = ln(foldx) / Tmax,   R0 = Cmax / foldx
//! ```
//!
//! As an ODE it has two states, both growing at ρ before `Tmax` (initial split `1 − FB : FB`),
//! then decaying at α and β: their sum is exactly the closed form, which makes this model an exact
//! oracle for the solver path (time-dependent switch, segment boundaries, dose jumps).
//! Time is measured from the first CAR-T dose; the infusion sets the states to `R0` whatever the
//! cell number (Stein's Cmax is an individual parameter, not a dose response). The CAR-T dose must
//! be a bolus; later CAR-T doses are ignored.

use nalgebra::SVector;

use crate::error::ParamError;
use crate::model::dose::ResolvedDose;
use crate::model::trajectory::Trajectory;
use crate::model::{
    EndpointInfo, EndpointKind, InputInfo, InputKind, Model, ModelInfo, OutputInfo, Segment,
    Source, StateInfo,
};
use crate::param_table;
use crate::variability::Covariates;

const STEIN: Source = Source::Literature("Stein et al., CPT:PSP 2019;8:285, typical value");

param_table! {
    /// Parameters of the Stein 2019 model (typical values for tisagenlecleucel in B-ALL).
    pub struct SteinParams;
    const STEIN_PARAMS;
    /// Fold expansion from infusion to peak.
    fold_expansion: "foldx", "1", 3900.0, [1.0001, 1e8], STEIN;
    /// Time of peak after infusion.
    peak_day: "Tmax", "day", 9.3, [0.1, 100.0], STEIN;
    /// Peak transgene level.
    peak_copies_per_ug: "Cmax", "copies/µg DNA", 24000.0, [1e-6, 1e9], STEIN;
    /// Decline rate of the effector-like phase.
    alpha_per_day: "α", "1/day", 0.16, [1e-6, 10.0], STEIN;
    /// Fraction of the peak in the memory-like phase.
    memory_fraction: "FB", "1", 0.0079, [0.0, 1.0], STEIN;
    /// Decline rate of the memory-like phase.
    beta_per_day: "β", "1/day", 0.0032, [0.0, 10.0], STEIN;
}

const STATES: &[StateInfo] = &[
    StateInfo {
        name: "effector_phase",
        unit: "copies/µg DNA",
        description: "fast (effector-like) part of the transgene level",
    },
    StateInfo {
        name: "memory_phase",
        unit: "copies/µg DNA",
        description: "slow (memory-like) part of the transgene level",
    },
];

const INPUTS: &[InputInfo] = &[InputInfo {
    name: crate::model::dose::CAR_T,
    kind: InputKind::Cells,
    description: "CAR-T infusion (cells); starts the kinetics at R0 = Cmax/foldx",
}];

const OUTPUTS: &[OutputInfo] = &[OutputInfo {
    name: "transgene_copies_per_ug",
    unit: "copies/µg DNA",
    detection_limit: 50.0,
    log_scale: true,
    description: "CAR transgene level in blood (qPCR), sum of both phases",
}];

const ENDPOINTS: &[EndpointInfo] = &[
    EndpointInfo {
        name: "transgene_peak_copies_per_ug",
        unit: "copies/µg DNA",
        kind: EndpointKind::Continuous,
        description: "maximum transgene level",
    },
    EndpointInfo {
        name: "transgene_peak_day",
        unit: "day",
        kind: EndpointKind::Continuous,
        description: "day of the maximum transgene level",
    },
    EndpointInfo {
        name: "transgene_auc_0_28_copies_day_per_ug",
        unit: "copies·day/µg DNA",
        kind: EndpointKind::Continuous,
        description: "area under the transgene curve, day 0 to 28",
    },
];

/// The Stein 2019 multiphasic CAR-T cellular kinetic model.
#[derive(Debug, Clone, Copy, Default)]
pub struct SteinModel;

/// A prepared Stein patient.
#[derive(Debug, Clone, Copy)]
pub struct SteinPatient {
    params: SteinParams,
    rho_per_day: f64,
    r0: f64,
    infusion_day: f64,
}

impl SteinPatient {
    /// The closed-form transgene level at `t_day` (day, same clock as the regimen).
    pub fn closed_form(&self, t_day: f64) -> f64 {
        let p = &self.params;
        let tau = t_day - self.infusion_day;
        if tau < 0.0 {
            0.0
        } else if tau < p.peak_day {
            self.r0 * (self.rho_per_day * tau).exp()
        } else {
            let s = tau - p.peak_day;
            p.peak_copies_per_ug
                * ((1.0 - p.memory_fraction) * (-p.alpha_per_day * s).exp()
                    + p.memory_fraction * (-p.beta_per_day * s).exp())
        }
    }
}

/// Index of the CAR-T product in the model's inputs (its only input).
pub const CAR_T_INPUT: usize = 0;

/// Metadata of the model: name, states, parameters, inputs, outputs, endpoints.
pub const INFO: ModelInfo = ModelInfo {
    name: "stein2019",
    states: STATES,
    parameters: STEIN_PARAMS,
    inputs: INPUTS,
    outputs: OUTPUTS,
    endpoints: ENDPOINTS,
};

impl Model<2> for SteinModel {
    type Params = SteinParams;
    type Patient = SteinPatient;

    fn info(&self) -> &'static ModelInfo {
        &INFO
    }
    fn default_params(&self) -> SteinParams {
        SteinParams::default()
    }
    fn params_from_values(&self, values: &[f64]) -> Result<SteinParams, ParamError> {
        SteinParams::from_values(self.name(), values)
    }
    fn param_values(&self, params: &SteinParams, out: &mut [f64]) {
        params.to_values(out);
    }

    fn prepare(
        &self,
        params: &SteinParams,
        _covariates: &Covariates,
        doses: &[ResolvedDose],
    ) -> Result<SteinPatient, ParamError> {
        let first = doses
            .iter()
            .find(|d| d.input == CAR_T_INPUT)
            .ok_or_else(|| ParamError::Invalid {
                name: "car_t".into(),
                reason: "the Stein model needs a CAR-T dose".into(),
            })?;
        // The kinetics start at R0 at the infusion; a zero-order infusion has no meaning here
        // and would otherwise be ignored silently (the solver only applies boluses as jumps).
        if let Some(duration_day) = first.infusion_day() {
            return Err(ParamError::Invalid {
                name: "car_t".into(),
                reason: format!(
                    "the Stein model takes the CAR-T product as a bolus, got an infusion over {duration_day} day"
                ),
            });
        }
        let infusion_day = first.time_day;
        Ok(SteinPatient {
            params: *params,
            rho_per_day: params.fold_expansion.ln() / params.peak_day,
            r0: params.peak_copies_per_ug / params.fold_expansion,
            infusion_day,
        })
    }

    fn initial_state(&self, _patient: &SteinPatient, _start_day: f64) -> SVector<f64, 2> {
        SVector::zeros()
    }

    fn rhs(
        &self,
        p: &SteinPatient,
        _t_day: f64,
        y: &SVector<f64, 2>,
        segment: &Segment<'_>,
        dy: &mut SVector<f64, 2>,
    ) {
        // The switch at Tmax is a segment boundary: decide by the segment, not by t, so that
        // stage evaluations exactly at Tmax use the right branch.
        let expanding = segment.end_day <= p.infusion_day + p.params.peak_day + 1e-12;
        if expanding {
            dy[0] = p.rho_per_day * y[0];
            dy[1] = p.rho_per_day * y[1];
        } else {
            dy[0] = -p.params.alpha_per_day * y[0];
            dy[1] = -p.params.beta_per_day * y[1];
        }
    }

    fn breakpoints(&self, p: &SteinPatient, out: &mut Vec<f64>) {
        out.push(p.infusion_day + p.params.peak_day);
    }

    fn apply_bolus(&self, p: &SteinPatient, _input: usize, _amount: f64, y: &mut SVector<f64, 2>) {
        if y[0] == 0.0 && y[1] == 0.0 {
            y[0] = (1.0 - p.params.memory_fraction) * p.r0;
            y[1] = p.params.memory_fraction * p.r0;
        }
    }

    fn observe(&self, _p: &SteinPatient, _t_day: f64, y: &SVector<f64, 2>, out: &mut [f64]) {
        if let Some(o) = out.first_mut() {
            *o = y[0] + y[1];
        }
    }

    fn endpoints(&self, p: &SteinPatient, traj: &Trajectory, out: &mut [f64]) {
        let (day, peak) = traj.peak(0, p.infusion_day);
        let vals = [
            peak,
            day - p.infusion_day,
            traj.auc(0, p.infusion_day, p.infusion_day + 28.0),
        ];
        for (o, v) in out.iter_mut().zip(vals) {
            *o = v;
        }
    }
}
