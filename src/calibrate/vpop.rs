//! Virtual-population selection: accept or reject sampled ("plausible") patients so that the
//! selected virtual population follows target distributions of chosen observables — the QSP
//! practice of Allen, Rieger & Musante, CPT Pharmacometrics Syst Pharmacol 2016;5:140
//! ("Efficient generation and selection of virtual populations in quantitative systems
//! pharmacology models").
//!
//! # Method
//! For each criterion (an observable `x` and its target distribution `F`):
//! 1. the plausible population's values are cut into `bins` equal-count bins (edges at its
//!    sample quantiles; the outer bins reach to ±∞, so target mass outside the plausible range
//!    is carried by the end bins);
//! 2. each bin's density ratio is `r_k = [F(e_{k+1}) − F(e_k)] / (n_k / n)` (target mass over
//!    plausible fraction).
//!
//! A patient's ratio is the product of its bins' ratios over the criteria (exact for one
//! criterion; for several it assumes the observables are independent in the plausible
//! population). Patients are accepted with probability `p_i = r_i / max_j r_j` (the largest
//! scaling for which every `p ≤ 1`: Allen et al.'s acceptance rule, which maximises the yield
//! for an exact match in expectation), by a uniform draw from the patient's own selection
//! stream [`selection_rng`]`(seed, id)` — deterministic, and independent of the draws that made
//! the patient. A patient with a non-finite observable is rejected. The importance weights
//! `r_i / Σ r` are reported too, for weighting instead of selecting.
//!
//! The acceptance rate is `1 / max r` in expectation: targets that put mass where few plausible
//! patients lie cost acceptance (Allen et al. then generate more plausible patients).

use rand::RngExt;

use crate::cohort::PatientRecord;
use crate::error::{Error, SpecError};
use crate::model::EndpointInfo;
use crate::variability::selection_rng;

/// A target distribution of one observable.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TargetDistribution {
    /// Normal with mean and SD.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (> 0).
        sd: f64,
    },
    /// Log-normal with median and SD of the log.
    LogNormal {
        /// Median (> 0).
        median: f64,
        /// SD of the log (> 0).
        omega: f64,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower end.
        min: f64,
        /// Upper end (> min).
        max: f64,
    },
    /// The empirical distribution of observed values (e.g. a trial's patients).
    Empirical(Vec<f64>),
}

impl TargetDistribution {
    /// Cumulative distribution function.
    pub fn cdf(&self, x: f64) -> f64 {
        let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        match self {
            TargetDistribution::Normal { mean, sd } => phi((x - mean) / sd),
            TargetDistribution::LogNormal { median, omega } => {
                if x <= 0.0 {
                    0.0
                } else {
                    phi((x.ln() - median.ln()) / omega)
                }
            }
            TargetDistribution::Uniform { min, max } => ((x - min) / (max - min)).clamp(0.0, 1.0),
            TargetDistribution::Empirical(v) => {
                if v.is_empty() {
                    return f64::NAN;
                }
                v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64
            }
        }
    }

    fn validate(&self, field: &str) -> Result<(), Error> {
        let bad = |reason: String| -> Error {
            SpecError::Invalid {
                field: field.to_string(),
                reason,
            }
            .into()
        };
        match self {
            TargetDistribution::Normal { mean, sd } => {
                if !(mean.is_finite() && sd.is_finite() && *sd > 0.0) {
                    return Err(bad(format!(
                        "normal needs finite mean, sd > 0; got {mean}, {sd}"
                    )));
                }
            }
            TargetDistribution::LogNormal { median, omega } => {
                if !(median.is_finite() && *median > 0.0 && omega.is_finite() && *omega > 0.0) {
                    return Err(bad(format!(
                        "log-normal needs median > 0, omega > 0; got {median}, {omega}"
                    )));
                }
            }
            TargetDistribution::Uniform { min, max } => {
                if !(min.is_finite() && max.is_finite() && min < max) {
                    return Err(bad(format!("uniform needs min < max, got [{min}, {max}]")));
                }
            }
            TargetDistribution::Empirical(v) => {
                if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
                    return Err(bad("empirical needs finite values, at least one".into()));
                }
            }
        }
        Ok(())
    }
}

/// One selection criterion: an observable's values over the plausible patients and its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// Label in reports (e.g. the endpoint name).
    pub name: String,
    /// The observable of each plausible patient (NaN: no value, the patient is rejected).
    pub values: Vec<f64>,
    /// Its target distribution.
    pub target: TargetDistribution,
}

/// The outcome of a selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Indices (into the plausible population) of the accepted patients, increasing.
    pub accepted: Vec<usize>,
    /// Acceptance probability of each plausible patient.
    pub probabilities: Vec<f64>,
    /// Importance weight of each plausible patient (density ratio normalised to sum 1).
    pub weights: Vec<f64>,
    /// Accepted / plausible.
    pub acceptance_rate: f64,
    /// Expected acceptance rate (mean acceptance probability).
    pub expected_acceptance_rate: f64,
}

/// Selects a virtual population from `ids.len()` plausible patients; see the
/// [module docs](self). `ids` are the patients' ids (their selection streams).
///
/// # Errors
/// [`SpecError::Invalid`] for no criterion, a criterion whose length differs from `ids`, an
/// invalid target distribution, `bins < 1`, or no plausible patient with finite observables.
pub fn select(
    ids: &[u64],
    criteria: &[Criterion],
    bins: usize,
    seed: u64,
) -> Result<Selection, Error> {
    let bad =
        |field: String, reason: String| -> Error { SpecError::Invalid { field, reason }.into() };
    if criteria.is_empty() {
        return Err(bad(
            "vpop.criteria".into(),
            "at least one criterion is needed".into(),
        ));
    }
    if bins < 1 {
        return Err(bad("vpop.bins".into(), "must be >= 1".into()));
    }
    let n = ids.len();
    let mut ratio = vec![1.0; n];
    for c in criteria {
        let field = format!("vpop.criterion `{}`", c.name);
        if c.values.len() != n {
            return Err(bad(
                field,
                format!("has {} values for {n} patients", c.values.len()),
            ));
        }
        c.target.validate(&field)?;
        let mut finite: Vec<f64> = c.values.iter().copied().filter(|x| x.is_finite()).collect();
        if finite.is_empty() {
            return Err(bad(field, "no patient has a finite value".into()));
        }
        finite.sort_by(f64::total_cmp);
        let m = finite.len();
        let b = bins.min(m);
        // Inner edges at the sample quantiles k/b, k = 1..b−1.
        let edges: Vec<f64> = (1..b).map(|k| finite[(k * m) / b]).collect();
        let bin_of = |x: f64| edges.partition_point(|&e| e <= x);
        let mut counts = vec![0usize; b];
        for &x in &finite {
            counts[bin_of(x)] += 1;
        }
        let mass: Vec<f64> = (0..b)
            .map(|k| {
                let lo = if k == 0 {
                    0.0
                } else {
                    c.target.cdf(edges[k - 1])
                };
                let hi = if k + 1 == b {
                    1.0
                } else {
                    c.target.cdf(edges[k])
                };
                (hi - lo).max(0.0)
            })
            .collect();
        for (r, &x) in ratio.iter_mut().zip(&c.values) {
            if x.is_finite() {
                let k = bin_of(x);
                *r *= mass[k] / (counts[k] as f64 / m as f64);
            } else {
                *r = 0.0;
            }
        }
    }
    let max = ratio.iter().copied().fold(0.0, f64::max);
    let total: f64 = ratio.iter().sum();
    if max.is_nan() || max <= 0.0 {
        return Err(bad(
            "vpop".into(),
            "no plausible patient lies where the targets have mass".into(),
        ));
    }
    let probabilities: Vec<f64> = ratio.iter().map(|r| r / max).collect();
    let weights: Vec<f64> = ratio.iter().map(|r| r / total).collect();
    let accepted: Vec<usize> = ids
        .iter()
        .zip(&probabilities)
        .enumerate()
        .filter(|(_, (id, p))| selection_rng(seed, **id).random::<f64>() < **p)
        .map(|(i, _)| i)
        .collect();
    let acceptance_rate = if n > 0 {
        accepted.len() as f64 / n as f64
    } else {
        0.0
    };
    let expected_acceptance_rate = probabilities.iter().sum::<f64>() / n.max(1) as f64;
    Ok(Selection {
        accepted,
        probabilities,
        weights,
        acceptance_rate,
        expected_acceptance_rate,
    })
}

/// Selects among a cohort's patient records by endpoint targets `(endpoint name, target)`.
/// Returns the selection (indices into `records`).
///
/// # Errors
/// An unknown endpoint, or as [`select`].
pub fn select_records(
    records: &[PatientRecord],
    info: &[EndpointInfo],
    targets: &[(&str, TargetDistribution)],
    bins: usize,
    seed: u64,
) -> Result<Selection, Error> {
    let mut criteria = Vec::with_capacity(targets.len());
    for (name, target) in targets {
        let k = info
            .iter()
            .position(|e| e.name == *name)
            .ok_or_else(|| SpecError::Invalid {
                field: format!("vpop.criterion `{name}`"),
                reason: "unknown endpoint".into(),
            })?;
        criteria.push(Criterion {
            name: name.to_string(),
            values: records
                .iter()
                .map(|r| r.endpoints.get(k).copied().unwrap_or(f64::NAN))
                .collect(),
            target: target.clone(),
        });
    }
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    select(&ids, &criteria, bins, seed)
}
