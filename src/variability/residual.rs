//! Residual (measurement) error models for simulated observations.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// How an observation scatters around the model prediction `f` (ε ~ N(0, 1)). In a scenario
/// file: `{ model = "proportional", cv = 0.2 }`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ResidualError {
    /// No error: `y = f` (default).
    #[default]
    None,
    /// `y = f + sd·ε`.
    Additive {
        /// SD in the output's unit.
        sd: f64,
    },
    /// `y = f·(1 + cv·ε)`.
    Proportional {
        /// Coefficient of variation.
        cv: f64,
    },
    /// `y = f + sqrt(sd² + (cv·f)²)·ε`.
    Combined {
        /// Additive SD.
        sd: f64,
        /// Proportional CV.
        cv: f64,
    },
    /// `y = f·exp(sd·ε)` (additive on the log scale; Stein 2019 uses sd = 0.56).
    LogAdditive {
        /// SD on the log scale.
        sd: f64,
    },
}

impl ResidualError {
    /// Checks the parameters are finite and ≥ 0.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming `field`.
    pub fn validate(&self, field: &str) -> Result<(), SpecError> {
        let vals: &[f64] = match self {
            ResidualError::None => &[],
            ResidualError::Additive { sd } | ResidualError::LogAdditive { sd } => &[*sd],
            ResidualError::Proportional { cv } => &[*cv],
            ResidualError::Combined { sd, cv } => &[*sd, *cv],
        };
        match vals.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            Some(v) => Err(SpecError::Invalid {
                field: field.to_string(),
                reason: format!("residual error parameters must be finite and >= 0, got {v}"),
            }),
            None => Ok(()),
        }
    }

    /// Observation for the deviate `eps`.
    pub fn apply(&self, f: f64, eps: f64) -> f64 {
        match *self {
            ResidualError::None => f,
            ResidualError::Additive { sd } => f + sd * eps,
            ResidualError::Proportional { cv } => f * (1.0 + cv * eps),
            ResidualError::Combined { sd, cv } => f + (sd * sd + cv * cv * f * f).sqrt() * eps,
            ResidualError::LogAdditive { sd } => f * (sd * eps).exp(),
        }
    }

    /// Draws one observation (always consumes one normal draw).
    pub fn sample<R: Rng + ?Sized>(&self, f: f64, rng: &mut R) -> f64 {
        let eps: f64 = StandardNormal.sample(rng);
        self.apply(f, eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variability::patient_rng;

    #[test]
    fn error_models_have_their_spread() {
        let mut rng = patient_rng(3, 0);
        let n = 20_000;
        let models = [
            (ResidualError::Additive { sd: 2.0 }, 2.0),
            (ResidualError::Proportional { cv: 0.1 }, 10.0),
            (ResidualError::Combined { sd: 3.0, cv: 0.04 }, 5.0),
        ];
        for (m, sd) in models {
            let ys: Vec<f64> = (0..n).map(|_| m.sample(100.0, &mut rng)).collect();
            let mean = ys.iter().sum::<f64>() / n as f64;
            let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((mean - 100.0).abs() < 4.0 * sd / (n as f64).sqrt(), "{m:?}");
            assert!(
                (var.sqrt() / sd - 1.0).abs() < 0.03,
                "{m:?}: {}",
                var.sqrt()
            );
        }
        let m = ResidualError::LogAdditive { sd: 0.56 };
        let logs: Vec<f64> = (0..n)
            .map(|_| (m.sample(50.0, &mut rng) / 50.0).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / n as f64;
        let sd = (logs.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        assert!(mean.abs() < 0.02 && (sd / 0.56 - 1.0).abs() < 0.03);
        assert_eq!(ResidualError::None.apply(3.0, 1.0), 3.0);
        assert!(
            ResidualError::Additive { sd: f64::NAN }
                .validate("x")
                .is_err()
        );
    }
}
