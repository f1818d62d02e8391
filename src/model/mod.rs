//! The science: the [`Model`] trait, metadata about states, parameters, dose inputs, outputs and
//! endpoints, and the built-in models.
//!
//! A model is a system of ODEs on a fixed-size state `SVector<f64, N>` (stack allocated, `Copy`),
//! with
//! - a table of **parameters** ([`ParamInfo`]: name, unit, default, bounds, source) that drives
//!   validation, variability (parameters are varied by name) and output headers;
//! - **dose inputs** ([`InputInfo`]): the routes through which a regimen acts (a CAR-T product, a
//!   drug); a dose enters as a bolus jump in the state, as a zero-order infusion rate passed to the
//!   right-hand side, or through an exposure the model computes in closed form from the dose list
//!   it receives in [`Model::prepare`];
//! - **outputs** ([`OutputInfo`]): what is observed in blood, in named units, with detection
//!   limits;
//! - **endpoints** ([`EndpointInfo`]): per-patient numbers computed from the output trajectory.
//!
//! The crate is generic over this trait: write your own model outside the crate and every
//! simulation, cohort and summary tool works with it (see `examples/custom_model.rs`).

pub mod birth_death;
pub mod dose;
pub mod info;
pub mod pk;
pub mod sle;
pub mod stein;
pub mod step;
pub mod trajectory;

/// The state vector type of [`Model`], re-exported so that a model written outside the crate
/// uses exactly the nalgebra version cartsim was built with.
pub use nalgebra::SVector;

use crate::error::ParamError;
use crate::variability::{Covariates, Iiv, PatientRng};

pub use dose::{CAR_T, ResolvedDose};
pub use info::{
    EndpointInfo, EndpointKind, InputInfo, InputKind, ModelInfo, OutputInfo, ParamInfo, Source,
    StateInfo, check_values,
};
pub use sle::{SleModel, SleParams};
pub use stein::{SteinModel, SteinParams};
pub use step::{Crossing, Cubic, StepSpan, exp_kernel_moments};
pub use trajectory::Trajectory;

/// An ODE model of CAR-T therapy that the whole crate is generic over.
///
/// `N` is the number of states. Implementations must be cheap to share between threads: the
/// cohort runner calls every method concurrently through `&self`.
///
/// Time is in days throughout; `t_day = 0` is the CAR-T infusion by convention.
pub trait Model<const N: usize>: Send + Sync {
    /// Parameters of one patient (typical values or individual values).
    type Params: Clone + std::fmt::Debug + Send + Sync;
    /// Everything the right-hand side needs for one patient, precomputed once per patient from
    /// the parameters, covariates and doses (derived constants, closed-form exposure tables).
    type Patient: Send + Sync;

    /// What the model says about itself: name, states, parameters, inputs, outputs, endpoints.
    fn info(&self) -> &'static ModelInfo;

    /// Model name ([`ModelInfo::name`]).
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// The `N` states, in state-vector order ([`ModelInfo::states`]).
    fn states(&self) -> &'static [StateInfo] {
        self.info().states
    }
    /// Parameter table, in the order of [`Model::param_values`] ([`ModelInfo::parameters`]).
    fn parameters(&self) -> &'static [ParamInfo] {
        self.info().parameters
    }
    /// Dose inputs ([`ModelInfo::inputs`]).
    fn inputs(&self) -> &'static [InputInfo] {
        self.info().inputs
    }
    /// Observed outputs, in the order written by [`Model::observe`] ([`ModelInfo::outputs`]).
    fn outputs(&self) -> &'static [OutputInfo] {
        self.info().outputs
    }
    /// Endpoints, in the order written by [`Model::endpoints`] ([`ModelInfo::endpoints`]).
    fn endpoint_info(&self) -> &'static [EndpointInfo] {
        self.info().endpoints
    }

    /// Whether [`Model::endpoints`], [`Model::stochastic_endpoints`] or [`Model::finish`] read
    /// the output grid (default `true`). A model whose endpoints come from what it tracks on the
    /// solver's steps alone returns `false`; a cohort then fills only the grid points its
    /// percentile bands read (the rest of the grid is never written to any output).
    fn endpoints_read_grid(&self) -> bool {
        true
    }

    /// The model's own settings that change what it computes besides parameters, covariates
    /// and doses (for the SLE model, its endpoint definitions), as text for the cohort's
    /// fingerprint: results of models set differently do not merge. Default: none.
    fn settings_description(&self) -> String {
        String::new()
    }

    /// Builds parameters from values in table order.
    ///
    /// # Errors
    /// [`ParamError`] when the length is wrong or a value is non-finite, out of bounds or
    /// inconsistent with another.
    fn params_from_values(&self, values: &[f64]) -> Result<Self::Params, ParamError>;
    /// Writes the parameter values in table order into `out` (length = number of parameters).
    fn param_values(&self, params: &Self::Params, out: &mut [f64]);

    /// The typical parameters (each table default).
    fn default_params(&self) -> Self::Params;

    /// Precomputes one patient.
    ///
    /// # Errors
    /// [`ParamError`] when a covariate is invalid for this model.
    fn prepare(
        &self,
        params: &Self::Params,
        covariates: &Covariates,
        doses: &[ResolvedDose],
    ) -> Result<Self::Patient, ParamError>;

    /// State at the start of the horizon (before any dose).
    fn initial_state(&self, patient: &Self::Patient, start_day: f64) -> SVector<f64, N>;

    /// Right-hand side `dy = f(t, y)` inside `segment` (`segment.start_day ≤ t_day ≤
    /// segment.end_day`; the right-hand side is smooth within a segment).
    ///
    /// Must not allocate: it runs thousands of times per patient.
    fn rhs(
        &self,
        patient: &Self::Patient,
        t_day: f64,
        y: &SVector<f64, N>,
        segment: &Segment<'_>,
        dy: &mut SVector<f64, N>,
    );

    /// Extra times (day) where the right-hand side is discontinuous for this patient (e.g. a
    /// switch at a fixed time after infusion); the solver starts a new segment there.
    /// Dose times are always segment boundaries and need not be listed.
    fn breakpoints(&self, _patient: &Self::Patient, _out: &mut Vec<f64>) {}

    /// Applies a bolus of `amount` (cells or mg) of input `input` to the state.
    /// Inputs that the model handles in closed form ignore it.
    ///
    /// A dose given as an infusion reaches the model instead through
    /// [`Segment::infusion_rates`] in [`Model::rhs`]: a model must use that rate for every input it
    /// carries in its state (or reject infusions of it in [`Model::prepare`]). The solver also
    /// calls this method with the amount of an infusion running in a segment of round-off length.
    fn apply_bolus(
        &self,
        patient: &Self::Patient,
        input: usize,
        amount: f64,
        y: &mut SVector<f64, N>,
    );

    /// Observation function: writes the outputs at `t_day` into `out`.
    fn observe(&self, patient: &Self::Patient, t_day: f64, y: &SVector<f64, N>, out: &mut [f64]);

    /// Number of values the model tracks along the solver's accepted steps (default 0). They
    /// live in [`Trajectory::tracked`] and let endpoints depend on the solution, not on the
    /// output grid: peaks, threshold crossings, areas and values at fixed times located on the
    /// dense output of every step, or a fast linear filter of the states integrated exactly
    /// over each step. It may depend on the horizon `[start_day, end_day]` (values sampled at
    /// fixed times of the dense output, independent of the output grid).
    fn tracked_len(&self, _start_day: f64, _end_day: f64) -> usize {
        0
    }

    /// Sets the tracked values before the solve (they start as NaN).
    fn track_init(&self, _patient: &Self::Patient, _tracked: &mut [f64]) {}

    /// Updates the tracked values with one accepted step, in time order: every step of every
    /// segment, plus a point span (`step.is_point()`) at each segment start after its boluses
    /// and at the horizon end after the last ones. Called before the output points the step
    /// covers are observed. Must not allocate.
    fn track(&self, _patient: &Self::Patient, _step: &StepSpan<'_, N>, _tracked: &mut [f64]) {}

    /// Completes an output row at `t_day` inside `step` from the tracked values, after
    /// [`Model::observe`] wrote it (default: nothing). `tracked` holds the values as updated by
    /// [`Model::track`] with this step.
    fn observe_tracked(
        &self,
        _patient: &Self::Patient,
        _step: &StepSpan<'_, N>,
        _t_day: f64,
        _tracked: &[f64],
        _out: &mut [f64],
    ) {
    }

    /// Completes the trajectory after the solve (default: nothing). Models use it for outputs
    /// that feed nothing back and are cheaper and more accurate to compute on the output grid
    /// than to integrate (e.g. a fast cytokine driven by the solved states).
    fn finish(&self, _patient: &Self::Patient, _trajectory: &mut Trajectory) {}

    /// Computes the endpoints of one patient from its output trajectory into `out`.
    fn endpoints(&self, patient: &Self::Patient, trajectory: &Trajectory, out: &mut [f64]);

    /// Endpoints that need randomness (e.g. whether a clone of a handful of cells dies out or
    /// regrows, see [`birth_death`]), computed after [`Model::endpoints`] from the same
    /// trajectory, into the same `out`, with the patient's own stochastic stream.
    ///
    /// Cohorts pass [`stochastic_rng`](crate::variability::stochastic_rng)`(seed, id)`, a stream
    /// separate from the covariate and random-effect draws, so results stay a pure function of
    /// `(seed, id)`; [`simulate`](crate::simulate()) passes the documented fixed stream
    /// `stochastic_rng(0, 0)`. Default: nothing.
    fn stochastic_endpoints(
        &self,
        _patient: &Self::Patient,
        _trajectory: &Trajectory,
        _rng: &mut PatientRng,
        _out: &mut [f64],
    ) {
    }

    /// The model's default inter-individual variability for cohorts (none unless overridden).
    fn default_iiv(&self) -> Iiv {
        Iiv::none()
    }

    /// Index of a parameter by name.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] when there is no such parameter.
    fn param_index(&self, name: &str) -> Result<usize, ParamError> {
        info::param_position(self.name(), self.parameters(), name)
    }

    /// Index of an output by name.
    fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs().iter().position(|o| o.name == name)
    }

    /// The reference line figures draw on output `output`: its value (in the output's unit)
    /// and a label. Models whose endpoints apply a threshold to an output return that
    /// threshold, so that a figure shows the definition the endpoints use; the default is the
    /// output's detection limit (none when it is 0).
    fn reference_line(&self, output: usize) -> Option<(f64, String)> {
        self.outputs().get(output)?.detection_line()
    }
}

/// The solver segment a right-hand-side call belongs to: its bounds and the zero-order infusion
/// rates active in it (constant within a segment).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Segment start, day.
    pub start_day: f64,
    /// Segment end, day.
    pub end_day: f64,
    /// Rate of each input (index as in [`Model::inputs`]): cells/day or mg/day.
    pub infusion_rates: &'a [f64],
}
