//! # cartsim
//!
//! Simulation of CD19 CAR-T cell therapy for autoimmune disease.
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Index loops read like the equations they implement.
#![allow(clippy::needless_range_loop)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cohort;
#[cfg(feature = "mpi")]
pub mod distributed;
pub mod error;
mod hash;
pub mod io;
pub mod model;
pub mod regimen;
pub mod shard;
pub mod simulate;
pub mod solve;
pub mod summary;
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

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
