//! Fixture shared by the benches: the typical SLE patient under the Mackensen 2022 regimen and a
//! mid-expansion state to evaluate the right-hand side on. Each bench uses its own subset of it.
#![allow(dead_code)]

use cartsim::model::ResolvedDose;
use cartsim::model::sle::{SLE_STATES, SlePatient};
use cartsim::model::{Model, SVector, Segment, SleModel};
use cartsim::prelude::*;

/// The typical patient, its resolved doses and a mid-expansion state (100 effector, 20 memory
/// Mcells, 3 divisions).
pub struct RhsProbe {
    pub patient: SlePatient,
    pub doses: Vec<ResolvedDose>,
    pub y: SVector<f64, SLE_STATES>,
    rates: [f64; 3],
}

impl RhsProbe {
    pub fn new(model: &SleModel) -> Self {
        let cov = Covariates::typical();
        let mut doses = Vec::new();
        Regimen::mackensen_2022()
            .resolve_into(model.name(), model.inputs(), &cov, &mut doses)
            .expect("resolve");
        let patient = model
            .prepare(&model.default_params(), &cov, &doses)
            .expect("prepare");
        let mut y = model.initial_state(&patient, -6.0);
        y[0] = 100.0;
        y[1] = 20.0;
        y[2] = 3.0;
        RhsProbe {
            patient,
            doses,
            y,
            rates: [0.0; 3],
        }
    }

    /// A segment after the lymphodepletion infusions (day 5–10), no infusion running.
    pub fn segment(&self) -> Segment<'_> {
        Segment {
            start_day: 5.0,
            end_day: 10.0,
            infusion_rates: &self.rates,
        }
    }
}
