//! # cartsim
//!
//! Simulation of CD19 CAR-T cell therapy for autoimmune disease.
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod model;
pub mod regimen;
pub mod simulate;
pub mod solve;
pub mod variability;

pub use error::{Error, Result};
pub use simulate::{Simulation, simulate};

/// The names most programs need.
pub mod prelude {
    pub use crate::error::Error;
    pub use crate::model::{Model, SleModel, SleParams, SteinModel, SteinParams};
    pub use crate::regimen::{Administration, Amount, Dose, Regimen};
    pub use crate::simulate::{Simulation, simulate};
    pub use crate::solve::{SolverOptions, Trajectory};
    pub use crate::variability::{Covariates, Sex};
}
