//! # cartsim
//!
//! In silico trials of CD19 CAR-T cell therapy for systemic lupus erythematosus (SLE): coupled
//! ODE models of CAR-T expansion and memory, B-cell depletion and naive reconstitution, the
//! autoreactive compartment, anti-dsDNA, a SLEDAI surrogate, lymphodepletion PK and an IL-6
//! proxy for CRS — and **deterministic, parallel Monte Carlo virtual cohorts** on top of them,
//! to ask which dose, which lymphodepletion and which patients give a lasting immune reset.
//!
//! ## Quick start
//!
//! One typical patient through the Erlangen regimen (Mackensen 2022), then a virtual cohort:
//!
//! ```
//! use cartsim::prelude::*;
//! use cartsim::cohort::Cohort;
//!
//! let model = SleModel::default();
//! let sim = simulate(&model, &model.default_params(), &Covariates::typical(),
//!                    &Regimen::mackensen_2022(), &SolverOptions::default())?;
//! let peak = sim.endpoint("car_t_peak_cells_per_ul").unwrap_or(f64::NAN);
//! assert!(peak > 1.0, "CAR-T peak {peak} cells/µL");
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(50).seed(7).build()?;
//! let result = cohort.run()?;
//! assert_eq!(result.summary.patients + result.summary.failed, 50);
//! for (name, fraction) in result.summary.fractions(cohort.model().endpoint_info()) {
//!     println!("{name}: {:.0}%", 100.0 * fraction);
//! }
//! # Ok::<(), cartsim::Error>(())
//! ```
//!
//! The same study from a scenario file, written out as tables and figures:
//!
//! ```no_run
//! use cartsim::io::{self, scenario::Scenario};
//!
//! let scenario = Scenario::from_path("scenarios/mackensen_2022.toml")?;
//! let cohort = scenario.cohort()?;
//! let result = cohort.run()?;
//! io::write_cohort_outputs("out/erlangen".as_ref(), &cohort, &result)?;
//! # Ok::<(), cartsim::Error>(())
//! ```
//!
//! ## Choose a workflow
//!
//! | I want to… | use | example |
//! |---|---|---|
//! | follow one patient | [`simulate()`] → [`Simulation`] (trajectory + endpoints) | `single_patient` |
//! | simulate a virtual cohort | [`Cohort::builder`](cohort::Cohort::builder) → [`run`](cohort::Cohort::run) | `cohort` |
//! | change a dose, Ω or covariate without recompiling | [`io::scenario::Scenario`] (TOML) | `cohort --scenario FILE` |
//! | compare doses and lymphodepletion on the same patients | [`cohort::explore::explore`] | `dose_exploration` |
//! | hand the simulation to NONMEM, nlmixr2, Monolix, Pumas | [`io::nonmem::write_nonmem_csv`] | `cohort --nonmem FILE` |
//! | get tables (JSON summary, per-patient CSV, bands) | [`io::write_cohort_outputs`] | `cohort` |
//! | draw percentile bands or a dose–response chart | [`plot`] (drawing: feature `plot`) | `cohort`, `dose_exploration` |
//! | split a cohort over machines | [`Cohort::run_range`](cohort::Cohort::run_range) + [`CohortResult::merge`](cohort::CohortResult::merge) | |
//! | write my own model | the [`Model`](model::Model) trait | `custom_model` |
//! | run cohorts from Python or a notebook | the `cartsim` Python package (`python/`, PyO3), over [`io::scenario::Scenario`], [`cohort::RunControl`], [`cohort::patient_table`], [`io::CohortSummary`] | `python/examples/dose_response.py` |
//! | find which parameters, doses or product attributes drive an endpoint (Morris, Sobol') | [`sensitivity::CohortStudy`] (any model) or [`sensitivity::Study`] (any function) | `sensitivity` |
//!
//! ## Layers
//!
//! The modules form layers, bottom first; each imports only from its own layer and the ones
//! below, and no imports go round a circle (`tests/layering.rs` reads the sources and fails on
//! an import that climbs a layer or closes a cycle):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | errors | [`error`] | typed errors of every stage |
//! | the model's contract | [`model::info`], [`model::step`], [`model::trajectory`], [`model::dose`] | what a model says about itself ([`ModelInfo`](model::ModelInfo), [`ParamInfo`](model::ParamInfo), [`param_table!`]), the solver's steps as a model sees them, output trajectories, resolved doses |
//! | variability | [`variability`] | who the patients are: covariates, random effects, residual errors, random streams |
//! | models | [`model`] (the [`Model`](model::Model) trait), [`model::sle`], [`model::stein`], [`model::pk`], [`model::birth_death`] | the science |
//! | regimen, solve, summary | [`regimen`], [`solve`], [`summary`] | what is given when; how one patient is integrated; mergeable cohort statistics |
//! | one patient | [`patient`], [`simulate()`] | the single per-patient path: validate → resolve → prepare → solve (stiff retry) → endpoints |
//! | cohort | [`cohort`], [`cohort::explore`] | many patients, deterministic and parallel; arms on the same patients |
//! | files and figures | [`io`], [`plot`] | tables, JSON, NONMEM, scenario files; figure data and (feature `plot`) drawing |
//! | studies | [`calibrate`], [`sensitivity`], [`shard`], `distributed` (feature `mpi`) | fits, virtual populations, validation; global sensitivity analysis; runs split over processes and machines |
//!
//! What is fixed for a study is checked once where it enters (a regimen is bound to the model's
//! inputs, solver options and Ω are validated when a cohort is built); what varies per patient
//! (sampled parameters, covariates) is checked on that patient's path.
//!
//! ## Units
//!
//! Every quantity carries its unit in its name or type: time in **days** (day 0 = CAR-T
//! infusion; lymphodepletion at negative days), body cell pools in 10⁶ cells, blood counts in
//! cells/µL, drug concentrations in mg/L, anti-dsDNA in IU/mL, SLEDAI in points. Doses are
//! typed ([`Amount`](regimen::Amount)): CAR-T in cells/kg or flat cells, drugs in mg/m²
//! (Mosteller BSA), mg/kg or mg.
//!
//! ## Determinism
//!
//! A virtual patient is a pure function of `(seed, patient id)` (a ChaCha8 stream per patient,
//! [`variability::patient_rng`]), and every summary accumulator merges exactly, so the same seed
//! gives bit-identical results at any `RAYON_NUM_THREADS` and for any split into shards. Residual
//! errors of simulated datasets use a separate stream, so adding them never changes the patients.
//!
//! ## Errors
//!
//! Inputs are validated where they enter (builders, scenario files) and errors are typed
//! ([`Error`] aggregates [`error::ParamError`], [`error::RegimenError`], [`error::SolveError`],
//! [`error::PatientError`], [`error::SpecError`], [`error::ScenarioError`]); messages name the
//! field, the value and what was expected — for scenario files also the key path and line.
//! [`Error::kind`] sorts them ([`error::ErrorKind`]: bad input, I/O, solver, too many failures,
//! cancelled), e.g. for a binding that raises `ValueError`, `OSError` or `RuntimeError`.
//!
//! ## Features
//!
//! - `plot` (default): PNG and SVG figures with [plotters](https://docs.rs/plotters), text drawn
//!   with a bundled DejaVu Sans subset, so no system fonts are needed. Build without it with
//!   `default-features = false`; everything else (tables, JSON, NONMEM, scenarios, the figure
//!   data in [`plot`]) stays.
//! - `mpi`: distributed cohorts over MPI ranks (`cartsim::distributed`, example `cohort_mpi`),
//!   with the same numbers as one process. Needs an MPI implementation and libclang (Debian:
//!   `openmpi-bin libopenmpi-dev libclang-dev`); see the README's cluster section.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Index loops read like the equations they implement.
#![allow(clippy::needless_range_loop)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod calibrate;
pub mod cohort;
#[cfg(feature = "mpi")]
pub mod distributed;
pub mod error;
mod hash;
pub mod io;
pub mod model;
pub mod patient;
pub mod plot;
pub mod product;
pub mod regimen;
pub mod sensitivity;
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
    pub use crate::model::Trajectory;
    pub use crate::model::{Model, SleModel, SleParams, SteinModel, SteinParams};
    pub use crate::regimen::{Administration, Amount, Dose, Regimen};
    pub use crate::simulate::{Simulation, simulate};
    pub use crate::solve::SolverOptions;
    pub use crate::variability::{Covariates, Sex};
}

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
