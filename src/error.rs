//! Error types: one enum per stage of the pipeline, aggregated by [`Error`](enum@Error).
//!
//! Every message is lowercase and names the offending field, its value and what was expected,
//! so that a modeler can fix the input without reading the source.

use thiserror::Error;

/// Any error raised by cartsim.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A model parameter or covariate is invalid.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A dosing regimen is invalid.
    #[error(transparent)]
    Regimen(#[from] RegimenError),
    /// The ODE solver failed.
    #[error(transparent)]
    Solve(#[from] SolveError),
    /// One patient of a cohort failed; carries the patient id and sampled parameters.
    #[error(transparent)]
    Patient(#[from] PatientError),
    /// A cohort or variability specification is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A simulated output or endpoint is not finite where it must be.
    #[error(transparent)]
    Output(#[from] NonFiniteOutput),
    /// More patients of a cohort failed than the run allows
    /// ([`CohortResult::check_failures`](crate::cohort::CohortResult::check_failures)).
    #[error(
        "{failed} of {patients} patients failed (first failed ids: {}); allowed: at most a \
         fraction {max_fraction} of the patients, and never all; the failures are listed with \
         their causes and parameters in failures.csv",
        .first_ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    Failures {
        /// Failed patients.
        failed: u64,
        /// Patients in the run.
        patients: u64,
        /// The largest fraction of failed patients allowed.
        max_fraction: f64,
        /// The lowest failed ids (at most 5).
        first_ids: Vec<u64>,
    },
    /// More patients of one arm of a dose exploration failed than the run allows
    /// ([`explore::check_failures`](crate::cohort::explore::check_failures)); `source` is the
    /// arm's [`Error::Failures`].
    #[error("arm `{arm}`: {source}")]
    ArmFailures {
        /// The arm's label.
        arm: String,
        /// The arm's failure count, as [`Error::Failures`].
        source: Box<Error>,
    },
    /// The run was cancelled ([`RunControl::cancel`](crate::cohort::RunControl::cancel)); no
    /// result was produced.
    #[error("run cancelled after {done} of {total} patients; no result was produced")]
    Cancelled {
        /// Patients finished before the run stopped.
        done: u64,
        /// Patients in the run.
        total: u64,
    },
    /// Reading or writing a file failed.
    #[error("i/o error on `{path}`: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Invalid command-line or file input (examples and I/O helpers).
    #[error("invalid input: {0}")]
    Input(String),
    /// A scenario file that does not parse or describes an invalid study; carries the key and
    /// the line.
    #[error(transparent)]
    Scenario(Box<ScenarioError>),
    /// Drawing a figure failed.
    #[error("cannot draw `{path}`: {message}")]
    Plot {
        /// The figure file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A shard file that cannot be read or merged, or an incomplete set of shards
    /// ([`crate::shard`]).
    #[error("shard {shard}: {reason}")]
    Shard {
        /// The shard: its file (in backquotes) or, for a missing one, `K/N (ids a..b)`.
        shard: String,
        /// What is wrong.
        reason: String,
    },
    /// A distributed run failed on a rank (`cartsim::distributed`, feature `mpi`): every rank
    /// returns this error, naming the lowest failing rank and its message.
    #[error("rank {rank} of {ranks} failed: {message}")]
    Rank {
        /// The lowest failing rank.
        rank: i32,
        /// Number of ranks.
        ranks: i32,
        /// Its error message.
        message: String,
    },
}

/// What kind of error an [`Error`](enum@Error) is, for callers that react by kind rather than by
/// variant (a language binding maps [`ErrorKind::Input`] to `ValueError`, [`ErrorKind::Io`] to
/// `OSError`, the rest to `RuntimeError`; a command line picks an exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Invalid input: a parameter, regimen, cohort specification, scenario file, shard file or
    /// command line that the caller can fix.
    Input,
    /// Reading or writing a file failed.
    Io,
    /// A simulation failed: the solver, a non-finite output or a failed patient.
    Solver,
    /// More patients failed than the run allows ([`Error::Failures`]).
    Failures,
    /// The run was cancelled ([`Error::Cancelled`]).
    Cancelled,
    /// Anything else: drawing a figure, a failed rank of a distributed run.
    Other,
}

impl Error {
    /// The kind of this error.
    ///
    /// ```
    /// use cartsim::error::{Error, ErrorKind};
    /// assert_eq!(Error::Input("bad".into()).kind(), ErrorKind::Input);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Param(_)
            | Error::Regimen(_)
            | Error::Spec(_)
            | Error::Input(_)
            | Error::Scenario(_)
            | Error::Shard { .. } => ErrorKind::Input,
            Error::Io { .. } => ErrorKind::Io,
            Error::Solve(_) | Error::Patient(_) | Error::Output(_) => ErrorKind::Solver,
            Error::Failures { .. } | Error::ArmFailures { .. } => ErrorKind::Failures,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::Plot { .. } | Error::Rank { .. } => ErrorKind::Other,
        }
    }
}

impl From<ScenarioError> for Error {
    fn from(e: ScenarioError) -> Self {
        Error::Scenario(Box::new(e))
    }
}

/// An invalid scenario file: what is wrong, at which key, on which line.
///
/// Displayed as
/// ``scenario `mackensen.toml`, line 7, column 1, key `regimen.doses[0].foo`: unknown field `foo`…``
/// followed by the offending source line, so that the file can be fixed without reading the
/// source code.
#[derive(Debug, Error)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct ScenarioError {
    /// The file, when the scenario was read from one.
    pub file: Option<String>,
    /// Line of the offending key or value, 1-based (`None` when the key is not in the text,
    /// e.g. a scenario built in code).
    pub line: Option<usize>,
    /// Column of the offending key or value, 1-based, counted in characters.
    pub column: Option<usize>,
    /// Dotted path of the offending key (`regimen.doses[1].amount`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The offending source line, when known.
    pub source_line: Option<String>,
    /// The typed error of the builder that rejected the value (`None` for TOML syntax and
    /// type errors).
    #[source]
    pub cause: Option<Box<Error>>,
}

impl ScenarioError {
    /// An error at `key` without a position (the scenario reader adds line and column).
    pub fn new(key: Option<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            file: None,
            line: None,
            column: None,
            key,
            message: message.into(),
            source_line: None,
            cause: None,
        }
    }

    /// The same error attributed to `file`.
    #[must_use]
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    fn render(&self) -> String {
        let mut where_ = Vec::new();
        if let Some(f) = &self.file {
            where_.push(format!("scenario `{f}`"));
        } else {
            where_.push("scenario".to_string());
        }
        if let Some(l) = self.line {
            where_.push(format!("line {l}"));
        }
        if let Some(c) = self.column {
            where_.push(format!("column {c}"));
        }
        if let Some(k) = &self.key {
            where_.push(format!("key `{k}`"));
        }
        let mut s = format!("{}: {}", where_.join(", "), self.message);
        if let (Some(l), Some(src)) = (self.line, &self.source_line) {
            s.push_str(&format!("\n  {l:>4} | {src}"));
        }
        s
    }
}

/// An invalid model parameter, covariate or option value.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A value is NaN or infinite.
    #[error("parameter `{name}` must be finite, got {value}")]
    NotFinite {
        /// Parameter name.
        name: String,
        /// Offending value.
        value: f64,
    },
    /// A value lies outside its documented bounds.
    #[error("parameter `{name}` must lie in [{lower}, {upper}], got {value}")]
    OutOfBounds {
        /// Parameter name.
        name: String,
        /// Offending value.
        value: f64,
        /// Lower bound (inclusive).
        lower: f64,
        /// Upper bound (inclusive).
        upper: f64,
    },
    /// A value violates a constraint that involves other values.
    #[error("parameter `{name}` is invalid: {reason}")]
    Invalid {
        /// Parameter name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A parameter name that the model does not have.
    #[error("unknown parameter `{name}` for model `{model}`")]
    Unknown {
        /// The name that was given.
        name: String,
        /// The model that was asked.
        model: String,
    },
    /// A parameter vector of the wrong length.
    #[error("model `{model}` has {expected} parameters, got a vector of {got}")]
    WrongLength {
        /// The model.
        model: String,
        /// Expected number of values.
        expected: usize,
        /// Given number of values.
        got: usize,
    },
}

/// An invalid dosing regimen.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RegimenError {
    /// A dose amount that is negative, zero, NaN or infinite.
    #[error("dose {index} (`{input}`): amount must be finite and > 0, got {value}")]
    BadAmount {
        /// Position of the dose in the regimen (0-based, in insertion order).
        index: usize,
        /// Dose input (drug or product).
        input: String,
        /// Offending value.
        value: f64,
    },
    /// A dose time that is NaN or infinite.
    #[error("dose {index} (`{input}`): time must be finite, got {value} day")]
    BadTime {
        /// Position of the dose in the regimen.
        index: usize,
        /// Dose input.
        input: String,
        /// Offending value.
        value: f64,
    },
    /// An infusion with non-positive or non-finite duration.
    #[error("dose {index} (`{input}`): infusion duration must be finite and > 0 day, got {value}")]
    BadDuration {
        /// Position of the dose in the regimen.
        index: usize,
        /// Dose input.
        input: String,
        /// Offending value.
        value: f64,
    },
    /// A dose (or the end of its infusion) outside the simulated horizon.
    #[error(
        "dose {index} (`{input}`) at day {time_day} (ending day {end_day}) lies outside the horizon [{start_day}, {horizon_end_day}] day"
    )]
    OutsideHorizon {
        /// Position of the dose in the regimen.
        index: usize,
        /// Dose input.
        input: String,
        /// Dose start, day.
        time_day: f64,
        /// Dose end (start + infusion duration), day.
        end_day: f64,
        /// Horizon start, day.
        start_day: f64,
        /// Horizon end, day.
        horizon_end_day: f64,
    },
    /// A horizon that is empty, reversed or not finite.
    #[error(
        "horizon must satisfy start < end with finite days, got start {start_day}, end {end_day}"
    )]
    BadHorizon {
        /// Horizon start, day.
        start_day: f64,
        /// Horizon end, day.
        end_day: f64,
    },
    /// A dose input (drug or product) that the model does not have.
    #[error("unknown dose input `{input}` for model `{model}` (known: {known})")]
    UnknownInput {
        /// The name that was given.
        input: String,
        /// The model.
        model: String,
        /// Comma-separated list of known inputs.
        known: String,
    },
    /// A dose unit that does not fit the input (e.g. cells/kg for a drug).
    #[error("dose {index} (`{input}`): unit {unit} is not valid for this input ({expected})")]
    WrongUnit {
        /// Position of the dose in the regimen.
        index: usize,
        /// Dose input.
        input: String,
        /// Unit given.
        unit: String,
        /// What the input accepts.
        expected: String,
    },
    /// Output times not strictly increasing or outside the horizon.
    #[error("output times: {reason}")]
    BadOutputTimes {
        /// What is wrong.
        reason: String,
    },
    /// A renal dose adjustment with invalid values.
    #[error("renal adjustment of `{input}`: {reason}")]
    BadRenalAdjustment {
        /// Dose input.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A regimen without any dose or field that is required.
    #[error("regimen is missing `{field}`")]
    Missing {
        /// Missing field.
        field: String,
    },
}

/// A failure of the ODE solver for one simulation.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SolveError {
    /// The step limit was reached.
    #[error("step limit of {max_steps} reached at t = {t_day:.4} day")]
    MaxSteps {
        /// Time reached, day.
        t_day: f64,
        /// The limit.
        max_steps: u32,
    },
    /// The step size fell below round-off.
    #[error("step size underflow at t = {t_day:.4} day")]
    StepSizeUnderflow {
        /// Time reached, day.
        t_day: f64,
    },
    /// The explicit solver detected stiffness.
    #[error("stiffness detected at t = {t_day:.4} day")]
    Stiff {
        /// Time reached, day.
        t_day: f64,
    },
    /// The Rosenbrock iteration matrix `I − h·d·J` is singular (or not finite) at this step:
    /// the Jacobian is not finite, or the step meets an eigenvalue exactly.
    #[error("singular iteration matrix in the Rosenbrock step at t = {t_day:.4} day")]
    SingularMatrix {
        /// Time reached, day.
        t_day: f64,
    },
    /// The state became NaN or infinite.
    #[error("state `{state}` became non-finite at t = {t_day:.4} day")]
    NonFinite {
        /// Time reached, day.
        t_day: f64,
        /// Name of the first non-finite state.
        state: String,
    },
    /// Invalid solver options.
    #[error("solver option `{name}` is invalid: {reason}")]
    BadOption {
        /// Option name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl SolveError {
    /// Time at which the solver stopped, day (`None` for option errors).
    pub fn time_day(&self) -> Option<f64> {
        match self {
            SolveError::MaxSteps { t_day, .. }
            | SolveError::StepSizeUnderflow { t_day }
            | SolveError::Stiff { t_day }
            | SolveError::SingularMatrix { t_day }
            | SolveError::NonFinite { t_day, .. } => Some(*t_day),
            SolveError::BadOption { .. } => None,
        }
    }
}

/// One patient's failure inside a cohort: the patient id, the cause and the sampled parameters.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("patient {id} failed: {cause} [{}]", format_params(.params))]
pub struct PatientError {
    /// Patient id (index in the cohort).
    pub id: u64,
    /// What failed.
    pub cause: Box<FailureCause>,
    /// Sampled parameters `(name, value)` of that patient.
    pub params: Vec<(String, f64)>,
}

/// The cause carried by a [`PatientError`] (a cloneable subset of [`Error`](enum@Error)).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FailureCause {
    /// Parameter or covariate validation failed after sampling.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The regimen could not be resolved for this patient.
    #[error(transparent)]
    Regimen(#[from] RegimenError),
    /// The solver failed.
    #[error(transparent)]
    Solve(#[from] SolveError),
    /// An output or endpoint became non-finite.
    #[error(transparent)]
    Output(#[from] NonFiniteOutput),
}

impl FailureCause {
    /// The stage of the patient's path that failed: `parameters`, `regimen`, `solve` or
    /// `outputs` (the `stage` column of `failures.csv`).
    pub fn stage(&self) -> &'static str {
        match self {
            FailureCause::Param(_) => "parameters",
            FailureCause::Regimen(_) => "regimen",
            FailureCause::Solve(_) => "solve",
            FailureCause::Output(_) => "outputs",
        }
    }
}

/// A simulated value that is not finite where it must be: an output of the trajectory (NaN or
/// ±∞), an endpoint that is ±∞ (NaN endpoints are legitimate "not reached" values), or an
/// observation of a simulated dataset.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{kind} `{name}` is {value}{}, not a finite number", .t_day.map(|t| format!(" at t = {t} day")).unwrap_or_default())]
pub struct NonFiniteOutput {
    /// What kind of value: `output`, `endpoint` or `observation`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Time, day, for outputs and observations.
    pub t_day: Option<f64>,
}

fn format_params(params: &[(String, f64)]) -> String {
    params
        .iter()
        .map(|(n, v)| format!("{n}={v:.6e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An invalid cohort, variability or summary specification.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A field with an invalid value.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A covariance matrix that is not symmetric.
    #[error(
        "covariance `{name}` is not symmetric: entry ({row}, {col}) = {a} but ({col}, {row}) = {b}"
    )]
    NotSymmetric {
        /// Which matrix.
        name: String,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// Value at (row, col).
        a: f64,
        /// Value at (col, row).
        b: f64,
    },
    /// A covariance matrix that is not positive definite.
    #[error("covariance `{name}` is not positive definite (Cholesky factorisation failed)")]
    NotPositiveDefinite {
        /// Which matrix.
        name: String,
    },
    /// A matrix whose dimension does not match the list of parameters it varies.
    #[error("covariance `{name}` is {rows}x{cols} but {expected} parameters are varied")]
    DimensionMismatch {
        /// Which matrix.
        name: String,
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
        /// Expected dimension.
        expected: usize,
    },
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
        assert_bounds::<PatientError>();
    }

    #[test]
    fn kinds_follow_the_stage() {
        let io = Error::Io {
            path: "x".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(io.kind(), ErrorKind::Io);
        let solve: Error = SolveError::StepSizeUnderflow { t_day: 1.0 }.into();
        assert_eq!(solve.kind(), ErrorKind::Solver);
        let scenario: Error = ScenarioError::new(Some("seed".into()), "bad").into();
        assert_eq!(scenario.kind(), ErrorKind::Input);
        let spec: Error = SpecError::Invalid {
            field: "patients".into(),
            reason: "must be > 0".into(),
        }
        .into();
        assert_eq!(spec.kind(), ErrorKind::Input);
        let c = Error::Cancelled { done: 3, total: 9 };
        assert_eq!(c.kind(), ErrorKind::Cancelled);
        assert!(c.to_string().contains("3 of 9"), "{c}");
    }

    #[test]
    fn patient_error_names_id_and_params() {
        let e = PatientError {
            id: 417,
            cause: Box::new(FailureCause::Solve(SolveError::StepSizeUnderflow {
                t_day: 12.3,
            })),
            params: vec![("rho".into(), 0.5)],
        };
        let s = e.to_string();
        assert!(s.contains("patient 417"), "{s}");
        assert!(s.contains("12.3"), "{s}");
        assert!(s.contains("rho=5.0"), "{s}");
    }
}
