//! Covariate distributions of a virtual population.

use rand::Rng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use crate::error::SpecError;
use crate::variability::{Covariates, Sex};

/// A univariate distribution, truncated to `[min, max]` by clipping.
///
/// Every variant consumes exactly one standard-normal or uniform draw, so the number of draws
/// per patient is fixed (a patient's other random effects do not shift when a distribution
/// changes from `Normal` to `Fixed`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Dist {
    /// Always this value (a draw is still consumed).
    Fixed(f64),
    /// Normal with mean and SD, clipped to `[min, max]`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (≥ 0).
        sd: f64,
        /// Lower clip.
        min: f64,
        /// Upper clip.
        max: f64,
    },
    /// Log-normal with median and SD of the log (ω), clipped to `[min, max]`.
    LogNormal {
        /// Median (> 0).
        median: f64,
        /// SD of the log (≥ 0).
        omega: f64,
        /// Lower clip.
        min: f64,
        /// Upper clip.
        max: f64,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

impl Dist {
    /// Draws one value (consumes one standard-normal draw).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let z: f64 = StandardNormal.sample(rng);
        self.from_normal(z)
    }

    /// The value for a standard-normal deviate `z` (uniform via the normal CDF).
    pub fn from_normal(&self, z: f64) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Normal { mean, sd, min, max } => (mean + sd * z).clamp(min, max),
            Dist::LogNormal {
                median,
                omega,
                min,
                max,
            } => (median * (omega * z).exp()).clamp(min, max),
            Dist::Uniform { min, max } => min + (max - min) * normal_cdf(z),
        }
    }

    /// Checks finiteness and ordering.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming `field`.
    pub fn validate(&self, field: &str) -> Result<(), SpecError> {
        let bad = |reason: String| {
            Err(SpecError::Invalid {
                field: field.to_string(),
                reason,
            })
        };
        let vals: &[f64] = match self {
            Dist::Fixed(v) => &[*v],
            Dist::Normal { mean, sd, min, max } => &[*mean, *sd, *min, *max],
            Dist::LogNormal {
                median,
                omega,
                min,
                max,
            } => &[*median, *omega, *min, *max],
            Dist::Uniform { min, max } => &[*min, *max],
        };
        if let Some(v) = vals.iter().find(|v| !v.is_finite()) {
            return bad(format!("all values must be finite, got {v}"));
        }
        match *self {
            Dist::Normal { sd, min, max, .. } => {
                if sd < 0.0 {
                    return bad(format!("sd must be >= 0, got {sd}"));
                }
                if min > max {
                    return bad(format!("min {min} > max {max}"));
                }
            }
            Dist::LogNormal {
                median,
                omega,
                min,
                max,
            } => {
                if median <= 0.0 {
                    return bad(format!("median must be > 0, got {median}"));
                }
                if omega < 0.0 {
                    return bad(format!("omega must be >= 0, got {omega}"));
                }
                if min > max {
                    return bad(format!("min {min} > max {max}"));
                }
            }
            Dist::Uniform { min, max } if min > max => {
                return bad(format!("min {min} > max {max}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Mean of the untruncated distribution (for checks and docs).
    pub fn nominal_mean(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Normal { mean, .. } => mean,
            Dist::LogNormal { median, omega, .. } => median * (0.5 * omega * omega).exp(),
            Dist::Uniform { min, max } => 0.5 * (min + max),
        }
    }
}

/// Standard normal CDF Φ(z).
fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Covariate distributions of an SLE population (MODEL.md §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Population {
    /// Probability that a patient is female (SLE ≈ 90% female).
    pub female_fraction: f64,
    /// Age, years.
    pub age_years: Dist,
    /// Weight of women, kg.
    pub weight_female_kg: Dist,
    /// Weight of men, kg.
    pub weight_male_kg: Dist,
    /// Height of women, cm.
    pub height_female_cm: Dist,
    /// Height of men, cm.
    pub height_male_cm: Dist,
    /// eGFR, mL/min (lupus nephritis lowers it).
    pub egfr_ml_per_min: Dist,
    /// Baseline blood B cells, cells/µL.
    pub baseline_b_cells_per_ul: Dist,
    /// Baseline blood T cells, cells/µL.
    pub baseline_t_cells_per_ul: Dist,
    /// Baseline anti-dsDNA, IU/mL.
    pub baseline_anti_dsdna_iu_per_ml: Dist,
    /// Baseline SLEDAI-2K, points.
    pub baseline_sledai: Dist,
}

impl Population {
    /// Refractory SLE patients eligible for CAR-T (MODEL.md §4; PROTOTYPE.md §3):
    /// 90% female; age 18–60 (normal, mean 32, SD 10) (assumption); weight N(65 F / 78 M, 11) kg
    /// clipped 42–120; height N(165 F / 178 M, 7) cm clipped 145–200; eGFR N(95, 22) mL/min
    /// clipped 30–140 (lupus nephritis tail) (assumption); baseline B 200·e^{0.50z}/µL clipped
    /// 30–1200 (SLE median 206, range 67–597; PMC1954659); baseline T 1000·e^{0.45z}/µL clipped
    /// 150–4000 (962, 228–2402; PMC1954659); anti-dsDNA 200·e^{0.6z} IU/mL clipped 20–2000
    /// (assumption); SLEDAI-2K N(14, 4) clipped 6–30 (Mackensen 2022 median 16, range 8–16)
    /// (assumption).
    pub fn sle() -> Self {
        Population {
            female_fraction: 0.9,
            age_years: Dist::Normal {
                mean: 32.0,
                sd: 10.0,
                min: 18.0,
                max: 60.0,
            },
            weight_female_kg: Dist::Normal {
                mean: 65.0,
                sd: 11.0,
                min: 42.0,
                max: 120.0,
            },
            weight_male_kg: Dist::Normal {
                mean: 78.0,
                sd: 11.0,
                min: 42.0,
                max: 120.0,
            },
            height_female_cm: Dist::Normal {
                mean: 165.0,
                sd: 7.0,
                min: 145.0,
                max: 200.0,
            },
            height_male_cm: Dist::Normal {
                mean: 178.0,
                sd: 7.0,
                min: 145.0,
                max: 200.0,
            },
            egfr_ml_per_min: Dist::Normal {
                mean: 95.0,
                sd: 22.0,
                min: 30.0,
                max: 140.0,
            },
            baseline_b_cells_per_ul: Dist::LogNormal {
                median: 200.0,
                omega: 0.5,
                min: 30.0,
                max: 1200.0,
            },
            baseline_t_cells_per_ul: Dist::LogNormal {
                median: 1000.0,
                omega: 0.45,
                min: 150.0,
                max: 4000.0,
            },
            // On the EliA dsDNA scale (the default anti-dsDNA definition): anti-dsDNA-positive
            // patients (> 15 IU/mL) up to the assay's upper reporting limit (379 IU/mL); median
            // and spread are assumptions (was median 200, ω 0.6 on no named assay).
            baseline_anti_dsdna_iu_per_ml: Dist::LogNormal {
                median: 80.0,
                omega: 0.8,
                min: 15.0,
                max: 379.0,
            },
            baseline_sledai: Dist::Normal {
                mean: 14.0,
                sd: 4.0,
                min: 6.0,
                max: 30.0,
            },
        }
    }

    /// Every patient is the typical patient (draws are still consumed).
    pub fn typical() -> Self {
        let c = Covariates::typical();
        Population {
            female_fraction: 1.0,
            age_years: Dist::Fixed(c.age_years),
            weight_female_kg: Dist::Fixed(c.weight_kg),
            weight_male_kg: Dist::Fixed(c.weight_kg),
            height_female_cm: Dist::Fixed(c.height_cm),
            height_male_cm: Dist::Fixed(c.height_cm),
            egfr_ml_per_min: Dist::Fixed(c.egfr_ml_per_min),
            baseline_b_cells_per_ul: Dist::Fixed(c.baseline_b_cells_per_ul),
            baseline_t_cells_per_ul: Dist::Fixed(c.baseline_t_cells_per_ul),
            baseline_anti_dsdna_iu_per_ml: Dist::Fixed(c.baseline_anti_dsdna_iu_per_ml),
            baseline_sledai: Dist::Fixed(c.baseline_sledai),
        }
    }

    /// Number of random draws one patient's covariates consume.
    pub const DRAWS: usize = 11;

    /// Draws one patient's covariates (exactly [`Population::DRAWS`] draws, in field order).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Covariates {
        let u: f64 = rng.random();
        let sex = if u < self.female_fraction {
            Sex::Female
        } else {
            Sex::Male
        };
        let age_years = self.age_years.sample(rng);
        let wf = self.weight_female_kg.sample(rng);
        let wm = self.weight_male_kg.sample(rng);
        let hf = self.height_female_cm.sample(rng);
        let hm = self.height_male_cm.sample(rng);
        let (weight_kg, height_cm) = match sex {
            Sex::Female => (wf, hf),
            Sex::Male => (wm, hm),
        };
        Covariates {
            sex,
            age_years,
            weight_kg,
            height_cm,
            egfr_ml_per_min: self.egfr_ml_per_min.sample(rng),
            baseline_b_cells_per_ul: self.baseline_b_cells_per_ul.sample(rng),
            baseline_t_cells_per_ul: self.baseline_t_cells_per_ul.sample(rng),
            baseline_anti_dsdna_iu_per_ml: self.baseline_anti_dsdna_iu_per_ml.sample(rng),
            baseline_sledai: self.baseline_sledai.sample(rng),
        }
    }

    /// Names of the covariates whose distribution [`Population::with_center`] can move.
    pub const COVARIATES: &'static [&'static str] = &[
        "female_fraction",
        "age_years",
        "weight_female_kg",
        "weight_male_kg",
        "height_female_cm",
        "height_male_cm",
        "egfr_ml_per_min",
        "baseline_b_cells_per_ul",
        "baseline_t_cells_per_ul",
        "baseline_anti_dsdna_iu_per_ml",
        "baseline_sledai",
    ];

    /// A copy with the distribution of `covariate` centred at `value` — the mean of a normal,
    /// the median of a log-normal, the value of a fixed one, the midpoint of a uniform (spread
    /// and clips kept) — or, for `female_fraction`, that fraction. Each patient keeps their
    /// draw, so the same patients move with the centre (common random numbers). `None` for a
    /// name not in [`Population::COVARIATES`]. Not validated: see [`Population::validate`].
    pub fn with_center(&self, covariate: &str, value: f64) -> Option<Population> {
        let mut p = *self;
        let dist = match covariate {
            "female_fraction" => {
                p.female_fraction = value;
                return Some(p);
            }
            "age_years" => &mut p.age_years,
            "weight_female_kg" => &mut p.weight_female_kg,
            "weight_male_kg" => &mut p.weight_male_kg,
            "height_female_cm" => &mut p.height_female_cm,
            "height_male_cm" => &mut p.height_male_cm,
            "egfr_ml_per_min" => &mut p.egfr_ml_per_min,
            "baseline_b_cells_per_ul" => &mut p.baseline_b_cells_per_ul,
            "baseline_t_cells_per_ul" => &mut p.baseline_t_cells_per_ul,
            "baseline_anti_dsdna_iu_per_ml" => &mut p.baseline_anti_dsdna_iu_per_ml,
            "baseline_sledai" => &mut p.baseline_sledai,
            _ => return None,
        };
        *dist = match *dist {
            Dist::Fixed(_) => Dist::Fixed(value),
            Dist::Normal { sd, min, max, .. } => Dist::Normal {
                mean: value,
                sd,
                min,
                max,
            },
            Dist::LogNormal {
                omega, min, max, ..
            } => Dist::LogNormal {
                median: value,
                omega,
                min,
                max,
            },
            Dist::Uniform { min, max } => {
                let half = 0.5 * (max - min);
                Dist::Uniform {
                    min: value - half,
                    max: value + half,
                }
            }
        };
        Some(p)
    }

    /// Checks every distribution.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the covariate.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(self.female_fraction.is_finite() && (0.0..=1.0).contains(&self.female_fraction)) {
            return Err(SpecError::Invalid {
                field: "population.female_fraction".into(),
                reason: format!("must lie in [0, 1], got {}", self.female_fraction),
            });
        }
        let fields: [(&str, &Dist); 10] = [
            ("population.age_years", &self.age_years),
            ("population.weight_female_kg", &self.weight_female_kg),
            ("population.weight_male_kg", &self.weight_male_kg),
            ("population.height_female_cm", &self.height_female_cm),
            ("population.height_male_cm", &self.height_male_cm),
            ("population.egfr_ml_per_min", &self.egfr_ml_per_min),
            (
                "population.baseline_b_cells_per_ul",
                &self.baseline_b_cells_per_ul,
            ),
            (
                "population.baseline_t_cells_per_ul",
                &self.baseline_t_cells_per_ul,
            ),
            (
                "population.baseline_anti_dsdna_iu_per_ml",
                &self.baseline_anti_dsdna_iu_per_ml,
            ),
            ("population.baseline_sledai", &self.baseline_sledai),
        ];
        for (name, d) in fields {
            d.validate(name)?;
        }
        Ok(())
    }
}

impl Default for Population {
    fn default() -> Self {
        Self::sle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variability::patient_rng;

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.959963985) - 0.975).abs() < 1e-9);
        assert!((normal_cdf(-1.0) - 0.158655253931457).abs() < 1e-12);
    }

    #[test]
    fn marginals_match_specification() {
        let pop = Population::sle();
        let n = 20_000;
        let mut female = 0usize;
        let mut b_logs = Vec::with_capacity(n);
        let mut egfr = Vec::with_capacity(n);
        for id in 0..n as u64 {
            let c = pop.sample(&mut patient_rng(11, id));
            c.validate().unwrap();
            if c.sex == Sex::Female {
                female += 1;
            }
            b_logs.push(c.baseline_b_cells_per_ul.ln());
            egfr.push(c.egfr_ml_per_min);
            assert!((30.0..=140.0).contains(&c.egfr_ml_per_min));
        }
        let p = female as f64 / n as f64;
        // Binomial SE = sqrt(0.09/20000) = 0.0021: 4 SE.
        assert!((p - 0.9).abs() < 0.0085, "female fraction {p}");
        let mut sorted = b_logs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[n / 2].exp();
        assert!((median / 200.0 - 1.0).abs() < 0.03, "median B {median}");
        let m: f64 = egfr.iter().sum::<f64>() / n as f64;
        // Clipping at 30/140 shifts the mean by < 0.2 mL/min; SE 0.16.
        assert!((m - 95.0).abs() < 1.0, "eGFR mean {m}");
    }

    #[test]
    fn rejects_bad_distributions() {
        let mut pop = Population::sle();
        pop.egfr_ml_per_min = Dist::Normal {
            mean: 90.0,
            sd: 10.0,
            min: f64::NAN,
            max: 140.0,
        };
        let e = pop.validate().unwrap_err();
        assert!(e.to_string().contains("egfr"), "{e}");
        pop = Population::sle();
        pop.female_fraction = 1.5;
        assert!(pop.validate().is_err());
        pop = Population::sle();
        pop.baseline_b_cells_per_ul = Dist::LogNormal {
            median: -1.0,
            omega: 0.1,
            min: 1.0,
            max: 10.0,
        };
        assert!(pop.validate().is_err());
    }
}
