//! Who the patients are: covariates and (in the cohort engine) inter-individual variability.

mod covariates;

pub use covariates::{Covariates, Sex};
