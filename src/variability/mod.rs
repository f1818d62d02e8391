//! Who the patients are: covariates, covariate distributions, inter-individual variability,
//! parameter uncertainty, residual error, and the one place random generators are made.

mod covariates;
mod iiv;
mod population;
mod residual;
mod rng;

pub use covariates::{CovariateColumn, Covariates, Sex};
pub use iiv::{BoundIiv, Iiv};
pub use population::{Dist, Population};
pub use residual::ResidualError;
pub use rng::{
    PatientRng, patient_rng, replicate_rng, residual_rng, selection_rng, sensitivity_rng,
    stochastic_rng,
};
