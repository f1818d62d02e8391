//! A study from a scenario file's `[sensitivity]` table.

use super::{CohortStudy, Factor, Method, Quantity, Scale};
use crate::calibrate::Statistic;
use crate::error::Error;
use crate::io::scenario::{ScaleSpec, Scenario, SensitivityMethod, StatisticSpec};
use crate::model::SleModel;
use crate::model::sle::SLE_STATES;

impl CohortStudy<SleModel, SLE_STATES> {
    /// The study of a scenario's `[sensitivity]` table on the scenario's cohort (`None`
    /// without the table). [`Scenario::from_toml_str`] has already checked every value, naming
    /// the key and line; this builds the same study.
    ///
    /// # Errors
    /// As [`Scenario::cohort`] and [`CohortStudyBuilder::build`](super::CohortStudyBuilder::build)
    /// (for a scenario built in code).
    pub fn from_scenario(scenario: &Scenario) -> Result<Option<Self>, Error> {
        let Some(s) = &scenario.sensitivity else {
            return Ok(None);
        };
        let method = match s.method {
            SensitivityMethod::Morris => Method::Morris {
                trajectories: s.samples as usize,
                levels: s.levels.unwrap_or(4) as usize,
            },
            SensitivityMethod::Sobol => Method::Sobol {
                samples: s.samples as usize,
                second_order: s.second_order.unwrap_or(false),
            },
        };
        let mut b = CohortStudy::builder(scenario.cohort()?)
            .method(method)
            .seed(s.seed.unwrap_or(1))
            .bootstrap(s.bootstrap.unwrap_or(1000) as usize)
            .confidence(s.confidence.unwrap_or(0.95));
        for f in &s.factors {
            b = b.factor(Factor {
                name: f.name.clone(),
                lower: f.lower,
                upper: f.upper,
                scale: match f.scale {
                    Some(ScaleSpec::Log) => Scale::Log,
                    Some(ScaleSpec::Linear) | None => Scale::Linear,
                },
            });
        }
        for q in &s.quantities {
            let statistic = match q.statistic {
                StatisticSpec::Mean => Statistic::Mean,
                StatisticSpec::Sd => Statistic::Sd,
                StatisticSpec::Median => Statistic::Quantile(0.5),
                StatisticSpec::Quantile => Statistic::Quantile(q.q.unwrap_or(f64::NAN)),
                StatisticSpec::Fraction => Statistic::Fraction,
            };
            b = b.quantity(Quantity::new(q.endpoint.clone(), statistic));
        }
        b.build().map(Some)
    }
}
