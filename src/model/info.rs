//! The model's metadata vocabulary: states, parameters (with bounds and sources), dose inputs,
//! outputs and endpoints, plus [`ModelInfo`] that bundles them and the
//! [`param_table!`](crate::param_table) macro that declares a parameter struct and its table
//! from one list.
//!
//! This is the floor every other module stands on: it imports only [`crate::error`].

use crate::error::ParamError;

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
#[non_exhaustive]
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
#[non_exhaustive]
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

impl OutputInfo {
    /// The detection limit as a figure's reference line (value, label); `None` when there is
    /// none (limit 0).
    pub fn detection_line(&self) -> Option<(f64, String)> {
        (self.detection_limit > 0.0).then(|| {
            (
                self.detection_limit,
                format!("detection limit {}", self.detection_limit),
            )
        })
    }
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

/// The index of parameter `name` in `table` (of model `model`).
///
/// # Errors
/// [`ParamError::Unknown`] when the table has no such parameter.
pub fn param_position(model: &str, table: &[ParamInfo], name: &str) -> Result<usize, ParamError> {
    table
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| ParamError::Unknown {
            name: name.to_string(),
            model: model.to_string(),
        })
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

/// Everything a model says about itself: name, states, parameters, inputs, outputs and endpoints.
///
/// A model returns one `&'static ModelInfo` from [`Model::info`](crate::model::Model::info); the
/// crate reads names, units, bounds and column orders from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelInfo {
    /// Model name (snake_case).
    pub name: &'static str,
    /// The `N` states, in state-vector order.
    pub states: &'static [StateInfo],
    /// Parameter table, in the order of [`Model::param_values`](crate::model::Model::param_values).
    pub parameters: &'static [ParamInfo],
    /// Dose inputs; a resolved dose's `input` indexes this slice.
    pub inputs: &'static [InputInfo],
    /// Observed outputs, in the order written by [`Model::observe`](crate::model::Model::observe).
    pub outputs: &'static [OutputInfo],
    /// Endpoints, in the order written by [`Model::endpoints`](crate::model::Model::endpoints).
    pub endpoints: &'static [EndpointInfo],
}

/// Declares a parameter struct, its metadata table and its conversions from one list, so that
/// field, documentation, bounds and source never drift apart.
///
/// Each line is `field: "symbol", "unit", default, [lower, upper], source;` with a
/// [`Source`] saying where the value comes from. The macro defines the struct (one `f64` field
/// per line, documented with symbol, unit, default and bounds), the table as a `const` of
/// [`ParamInfo`], `to_values`, `from_values` (checks length, finiteness and bounds with
/// [`check_values`]) and `Default`.
///
/// ```
/// use cartsim::model::info::Source::{Assumption, Literature};
///
/// cartsim::param_table! {
///     /// Parameters of a one-compartment decay.
///     pub struct DecayParams;
///     const DECAY_PARAMS;
///     /// Elimination rate.
///     k_per_day: "k", "1/day", 0.1, [1e-3, 10.0], Literature("a textbook");
///     /// Initial amount.
///     a0_mg: "A0", "mg", 5.0, [0.0, 1e3], Assumption("illustration");
/// }
///
/// let p = DecayParams::from_values("decay", &[0.2, 1.0])?;
/// assert_eq!(p.k_per_day, 0.2);
/// assert_eq!(DECAY_PARAMS[1].name, "a0_mg");
/// assert!(DecayParams::from_values("decay", &[-1.0, 1.0]).is_err());
/// let mut q = DecayParams::default();
/// assert!(q.set_by_name("a0_mg", 7.0) && q.a0_mg == 7.0);
/// assert!(!q.set_by_name("no_such_parameter", 1.0));
/// # Ok::<(), cartsim::error::ParamError>(())
/// ```
#[macro_export]
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
        pub const $table: &[$crate::model::info::ParamInfo] = &[
            $(
                $crate::model::info::ParamInfo {
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

            /// Sets the parameter called `name` (a field name) to `value`, as assigning the field
            /// would: without a check (cohorts and [`simulate`](crate::simulate()) check every
            /// value against the table). `false` when there is no such parameter.
            pub fn set_by_name(&mut self, name: &str, value: f64) -> bool {
                match name {
                    $(stringify!($field) => {
                        self.$field = value;
                        true
                    })+
                    _ => false,
                }
            }

            /// Builds from values in table order, checking length, finiteness and bounds.
            ///
            /// # Errors
            /// [`ParamError`](crate::error::ParamError) naming the first bad parameter.
            pub fn from_values(model: &str, values: &[f64]) -> Result<Self, $crate::error::ParamError> {
                $crate::model::info::check_values(model, $table, values)?;
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
