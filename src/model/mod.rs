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
pub mod pk;
pub mod sle;
pub mod stein;

/// The state vector type of [`Model`], re-exported so that a model written outside the crate
/// uses exactly the nalgebra version cartsim was built with.
pub use nalgebra::SVector;

use crate::error::ParamError;
use crate::regimen::ResolvedDose;
use crate::solve::{StepSpan, Trajectory};
use crate::variability::Covariates;

pub use sle::{SleModel, SleParams};
pub use stein::{SteinModel, SteinParams};

/// A state variable: name, unit and meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateInfo {
    /// Short name, snake_case.
    pub name: &'static str,
    /// Unit, e.g. `"1e6 cells"`.
    pub unit: &'static str,
    /// One-line description.
    pub description: &'static str,
}

/// Where a parameter value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read in the literature; the string cites it.
    Literature(&'static str),
    /// Calibrated; the string names the target it serves.
    Calibrated(&'static str),
    /// An assumption; the string says what was checked.
    Assumption(&'static str),
}

impl Source {
    /// Short tag: `literature`, `calibrated` or `assumption`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Literature(_) => "literature",
            Source::Calibrated(_) => "calibrated",
            Source::Assumption(_) => "assumption",
        }
    }

    /// The citation, target or justification.
    pub fn note(&self) -> &'static str {
        match self {
            Source::Literature(s) | Source::Calibrated(s) | Source::Assumption(s) => s,
        }
    }
}

/// Metadata of one model parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamInfo {
    /// Name, snake_case with unit suffix (`effector_proliferation_per_day`).
    pub name: &'static str,
    /// Mathematical symbol used in the model documentation.
    pub symbol: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Default (typical) value.
    pub default: f64,
    /// Smallest admissible value (inclusive).
    pub lower: f64,
    /// Largest admissible value (inclusive).
    pub upper: f64,
    /// Provenance.
    pub source: Source,
}

/// A dose input: the route through which a regimen acts on the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputInfo {
    /// Name used in regimens (`car_t`, `fludarabine`, `cyclophosphamide`).
    pub name: &'static str,
    /// What kind of amount the input takes.
    pub kind: InputKind,
    /// One-line description, with the unit the model receives.
    pub description: &'static str,
}

/// The amount unit an input accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A cell product; resolved amounts are in cells.
    Cells,
    /// A drug; resolved amounts are in mg.
    DrugMg,
}

/// An observed output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputInfo {
    /// Column name with unit suffix (`car_t_cells_per_ul`).
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Lower limit of detection/quantification in the output's unit (0 when none).
    pub detection_limit: f64,
    /// Whether values span decades (plots use a log axis).
    pub log_scale: bool,
    /// One-line description.
    pub description: &'static str,
}

/// A per-patient endpoint computed from the trajectory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointInfo {
    /// Name with unit suffix (`car_t_peak_cells_per_ul`).
    pub name: &'static str,
    /// Unit (`"1"` for flags).
    pub unit: &'static str,
    /// Continuous value, or a 0/1 flag whose cohort mean is a fraction.
    pub kind: EndpointKind,
    /// Definition in one line.
    pub description: &'static str,
}

/// Whether an endpoint is a number or a yes/no flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EndpointKind {
    /// A real value (may be NaN when undefined for that patient, e.g. no reappearance).
    Continuous,
    /// 0.0 or 1.0; cohorts report the fraction.
    Flag,
}

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

    /// Model name.
    fn name(&self) -> &'static str;
    /// The `N` states, in state-vector order.
    fn states(&self) -> &'static [StateInfo];
    /// Parameter table, in the order of [`Model::param_values`].
    fn parameters(&self) -> &'static [ParamInfo];
    /// Dose inputs.
    fn inputs(&self) -> &'static [InputInfo];
    /// Observed outputs, in the order written by [`Model::observe`].
    fn outputs(&self) -> &'static [OutputInfo];
    /// Endpoints, in the order written by [`Model::endpoints`].
    fn endpoint_info(&self) -> &'static [EndpointInfo];

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
    /// over each step.
    fn tracked_len(&self) -> usize {
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
        _rng: &mut crate::variability::PatientRng,
        _out: &mut [f64],
    ) {
    }

    /// The model's default inter-individual variability for cohorts (none unless overridden).
    fn default_iiv(&self) -> crate::variability::Iiv {
        crate::variability::Iiv::none()
    }

    /// Index of a parameter by name.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] when there is no such parameter.
    fn param_index(&self, name: &str) -> Result<usize, ParamError> {
        self.parameters()
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ParamError::Unknown {
                name: name.to_string(),
                model: self.name().to_string(),
            })
    }

    /// Index of an output by name.
    fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs().iter().position(|o| o.name == name)
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

/// Checks a parameter vector against a table: length, finiteness, bounds.
///
/// # Errors
/// The first violation, naming the parameter.
pub fn check_values(model: &str, table: &[ParamInfo], values: &[f64]) -> Result<(), ParamError> {
    if values.len() != table.len() {
        return Err(ParamError::WrongLength {
            model: model.to_string(),
            expected: table.len(),
            got: values.len(),
        });
    }
    for (info, &v) in table.iter().zip(values) {
        if !v.is_finite() {
            return Err(ParamError::NotFinite {
                name: info.name.to_string(),
                value: v,
            });
        }
        if v < info.lower || v > info.upper {
            return Err(ParamError::OutOfBounds {
                name: info.name.to_string(),
                value: v,
                lower: info.lower,
                upper: info.upper,
            });
        }
    }
    Ok(())
}

/// Declares a parameter struct, its metadata table and its conversions from one list, so that
/// field, documentation, bounds and source never drift apart.
macro_rules! param_table {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident;
        const $table:ident;
        $(
            $(#[doc = $doc:expr])*
            $field:ident : $sym:expr, $unit:expr, $default:expr, [$lo:expr, $hi:expr], $src:expr;
        )+
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("Symbol ", $sym, ", unit `", $unit, "`, default `", stringify!($default), "`, bounds [", stringify!($lo), ", ", stringify!($hi), "].")]
                pub $field: f64,
            )+
        }

        /// Metadata table of the parameters, in struct order.
        pub const $table: &[$crate::model::ParamInfo] = &[
            $(
                $crate::model::ParamInfo {
                    name: stringify!($field),
                    symbol: $sym,
                    unit: $unit,
                    default: $default,
                    lower: $lo,
                    upper: $hi,
                    source: $src,
                },
            )+
        ];

        impl $name {
            /// Values in table order.
            pub fn to_values(&self, out: &mut [f64]) {
                let vals = [$(self.$field),+];
                for (o, v) in out.iter_mut().zip(vals) {
                    *o = v;
                }
            }

            /// Builds from values in table order, checking length, finiteness and bounds.
            ///
            /// # Errors
            /// [`ParamError`](crate::error::ParamError) naming the first bad parameter.
            pub fn from_values(model: &str, values: &[f64]) -> Result<Self, $crate::error::ParamError> {
                $crate::model::check_values(model, $table, values)?;
                let mut it = values.iter().copied();
                Ok(Self {
                    $($field: it.next().unwrap_or(f64::NAN),)+
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)+ }
            }
        }
    };
}
pub(crate) use param_table;
