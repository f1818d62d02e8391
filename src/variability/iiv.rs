//! Inter-individual variability (IIV) and parameter uncertainty: random effects η ~ N(0, Ω) on
//! named model parameters, with a full covariance Ω.
//!
//! Each varied parameter θ gets its individual value by a transform chosen from its bounds:
//! - parameters bounded to `[0, 1]` (fractions) are **logit-normal**: `logit θᵢ = logit θ + η`;
//! - all others are **log-normal**: `θᵢ = θ · exp(η)`.
//!
//! Ω is validated once (finite, symmetric, positive definite via nalgebra's Cholesky) and its
//! Cholesky factor `L` is kept, so a patient's η is `L·z` for standard-normal `z`. All `dim`
//! normal deviates are drawn every time, in parameter order, even when a variance is zero.

use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{ParamError, SpecError};
use crate::model::info::{ParamInfo, param_position};

/// Random effects on named parameters with covariance Ω (log or logit scale).
#[derive(Debug, Clone, PartialEq)]
pub struct Iiv {
    names: Vec<String>,
    omega: DMatrix<f64>,
    chol: DMatrix<f64>,
}

impl Iiv {
    /// No variability.
    pub fn none() -> Self {
        Iiv {
            names: Vec::new(),
            omega: DMatrix::zeros(0, 0),
            chol: DMatrix::zeros(0, 0),
        }
    }

    /// Full covariance Ω (variances of η on the diagonal) for the named parameters.
    /// `label` names the matrix in errors (`"omega"`, `"uncertainty"`).
    ///
    /// # Errors
    /// [`SpecError::DimensionMismatch`] when Ω is not `names.len()` square,
    /// [`SpecError::Invalid`] for a non-finite entry, a negative variance or a repeated name,
    /// [`SpecError::NotSymmetric`], [`SpecError::NotPositiveDefinite`].
    pub fn new(label: &str, names: &[&str], omega: DMatrix<f64>) -> Result<Self, SpecError> {
        let n = names.len();
        if omega.nrows() != n || omega.ncols() != n {
            return Err(SpecError::DimensionMismatch {
                name: label.to_string(),
                rows: omega.nrows(),
                cols: omega.ncols(),
                expected: n,
            });
        }
        for (i, a) in names.iter().enumerate() {
            if names[..i].contains(a) {
                return Err(SpecError::Invalid {
                    field: format!("{label}.{a}"),
                    reason: "parameter listed twice".into(),
                });
            }
        }
        for r in 0..n {
            for c in 0..n {
                let v = omega[(r, c)];
                if !v.is_finite() {
                    return Err(SpecError::Invalid {
                        field: format!("{label}[{r}][{c}]"),
                        reason: format!("must be finite, got {v}"),
                    });
                }
            }
            if omega[(r, r)] < 0.0 {
                return Err(SpecError::Invalid {
                    field: format!("{label}.{}", names[r]),
                    reason: format!("variance must be >= 0, got {}", omega[(r, r)]),
                });
            }
        }
        for r in 0..n {
            for c in r + 1..n {
                let (a, b) = (omega[(r, c)], omega[(c, r)]);
                if (a - b).abs() > 1e-12 * (1.0 + a.abs().max(b.abs())) {
                    return Err(SpecError::NotSymmetric {
                        name: label.to_string(),
                        row: r,
                        col: c,
                        a,
                        b,
                    });
                }
            }
        }
        // Zero-variance parameters are allowed: factor the sub-matrix of the varied ones.
        let varied: Vec<usize> = (0..n).filter(|&i| omega[(i, i)] > 0.0).collect();
        for &i in (0..n)
            .filter(|i| !varied.contains(i))
            .collect::<Vec<_>>()
            .iter()
        {
            for j in 0..n {
                if omega[(i, j)] != 0.0 {
                    return Err(SpecError::NotPositiveDefinite {
                        name: label.to_string(),
                    });
                }
            }
        }
        let sub = DMatrix::from_fn(varied.len(), varied.len(), |r, c| {
            omega[(varied[r], varied[c])]
        });
        let l_sub = nalgebra::Cholesky::new(sub)
            .ok_or_else(|| SpecError::NotPositiveDefinite {
                name: label.to_string(),
            })?
            .l();
        let mut chol = DMatrix::zeros(n, n);
        for (r, &i) in varied.iter().enumerate() {
            for (c, &j) in varied.iter().enumerate() {
                chol[(i, j)] = l_sub[(r, c)];
            }
        }
        Ok(Iiv {
            names: names.iter().map(|s| s.to_string()).collect(),
            omega,
            chol,
        })
    }

    /// Independent random effects: `(name, ω)` with ω the SD of η (variance ω²).
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the parameter when an ω is negative, not finite, or so
    /// large that its variance ω² is not finite; otherwise as [`Iiv::new`].
    pub fn diagonal(label: &str, entries: &[(&str, f64)]) -> Result<Self, SpecError> {
        for (i, (name, w)) in entries.iter().enumerate() {
            if !(w.is_finite() && *w >= 0.0 && (w * w).is_finite()) {
                return Err(SpecError::Invalid {
                    field: format!("{label}[{i}]"),
                    reason: format!(
                        "ω of `{name}` must be finite and >= 0 (the SD of η, with a finite \
                         variance ω²), got {w:?}"
                    ),
                });
            }
        }
        let names: Vec<&str> = entries.iter().map(|e| e.0).collect();
        let omega = DMatrix::from_fn(entries.len(), entries.len(), |r, c| {
            if r == c {
                entries[r].1 * entries[r].1
            } else {
                0.0
            }
        });
        Iiv::new(label, &names, omega)
    }

    /// Varied parameter names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Ω.
    pub fn omega(&self) -> &DMatrix<f64> {
        &self.omega
    }

    /// Number of random effects.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Binds to a model's parameter table: resolves names to indices and transforms.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] for a name the model does not have.
    pub fn bind(&self, model: &str, table: &[ParamInfo]) -> Result<BoundIiv, ParamError> {
        let mut index = Vec::with_capacity(self.dim());
        let mut logit = Vec::with_capacity(self.dim());
        for name in &self.names {
            let i = param_position(model, table, name)?;
            index.push(i);
            logit.push(table[i].lower == 0.0 && table[i].upper == 1.0);
        }
        Ok(BoundIiv {
            index,
            logit,
            chol: self.chol.clone(),
        })
    }
}

/// [`Iiv`] bound to a model: parameter indices, transforms and the Cholesky factor.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundIiv {
    index: Vec<usize>,
    logit: Vec<bool>,
    chol: DMatrix<f64>,
}

impl BoundIiv {
    /// Number of random effects.
    pub fn dim(&self) -> usize {
        self.index.len()
    }

    /// Indices of the varied parameters in the model's table.
    pub fn indices(&self) -> &[usize] {
        &self.index
    }

    /// Draws η = L·z into `eta` (length `dim`), using `z` as scratch (length `dim`).
    pub fn sample_eta<R: Rng + ?Sized>(&self, rng: &mut R, z: &mut [f64], eta: &mut [f64]) {
        for zi in z.iter_mut() {
            *zi = StandardNormal.sample(rng);
        }
        let n = self.dim();
        for r in 0..n {
            let mut s = 0.0;
            for c in 0..=r {
                s += self.chol[(r, c)] * z[c];
            }
            eta[r] = s;
        }
    }

    /// Applies η to the parameter values in place (log- or logit-normal per parameter).
    pub fn apply(&self, eta: &[f64], values: &mut [f64]) {
        for ((&i, &lg), &e) in self.index.iter().zip(&self.logit).zip(eta) {
            let v = values[i];
            values[i] = if lg {
                if v <= 0.0 || v >= 1.0 {
                    v
                } else {
                    let x = (v / (1.0 - v)).ln() + e;
                    1.0 / (1.0 + (-x).exp())
                }
            } else {
                v * e.exp()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sle::SLE_PARAMS;
    use crate::variability::patient_rng;

    #[test]
    fn rejects_bad_omegas() {
        let names = ["effector_proliferation_per_day", "memory_death_per_day"];
        let asym = DMatrix::from_row_slice(2, 2, &[0.1, 0.05, 0.0, 0.1]);
        assert!(matches!(
            Iiv::new("omega", &names, asym),
            Err(SpecError::NotSymmetric { .. })
        ));
        let not_pd = DMatrix::from_row_slice(2, 2, &[0.1, 0.2, 0.2, 0.1]);
        assert!(matches!(
            Iiv::new("omega", &names, not_pd),
            Err(SpecError::NotPositiveDefinite { .. })
        ));
        let wrong = DMatrix::from_row_slice(1, 1, &[0.1]);
        assert!(matches!(
            Iiv::new("omega", &names, wrong),
            Err(SpecError::DimensionMismatch { .. })
        ));
        let nan = DMatrix::from_row_slice(2, 2, &[f64::NAN, 0.0, 0.0, 0.1]);
        assert!(matches!(
            Iiv::new("omega", &names, nan),
            Err(SpecError::Invalid { .. })
        ));
        let iiv = Iiv::diagonal("omega", &[("no_such_parameter", 0.1)]).unwrap();
        let e = iiv.bind("sle", SLE_PARAMS).unwrap_err();
        assert!(e.to_string().contains("no_such_parameter"));
    }

    #[test]
    fn sampled_etas_reproduce_omega() {
        let names = [
            "effector_proliferation_per_day",
            "memory_death_per_day",
            "maturation_delay_day",
        ];
        let omega = DMatrix::from_row_slice(
            3,
            3,
            &[0.04, 0.012, -0.01, 0.012, 0.09, 0.0, -0.01, 0.0, 0.0225],
        );
        let iiv = Iiv::new("omega", &names, omega.clone()).unwrap();
        let b = iiv.bind("sle", SLE_PARAMS).unwrap();
        let n = 20_000;
        let mut acc = DMatrix::<f64>::zeros(3, 3);
        let (mut z, mut eta) = ([0.0; 3], [0.0; 3]);
        for id in 0..n {
            b.sample_eta(&mut patient_rng(5, id), &mut z, &mut eta);
            for r in 0..3 {
                for c in 0..3 {
                    acc[(r, c)] += eta[r] * eta[c];
                }
            }
        }
        acc /= n as f64;
        for r in 0..3 {
            for c in 0..3 {
                // SE of a sample covariance ≈ sqrt((σ_rr σ_cc + σ_rc²)/n); allow 4 SE.
                let se =
                    ((omega[(r, r)] * omega[(c, c)] + omega[(r, c)].powi(2)) / n as f64).sqrt();
                assert!(
                    (acc[(r, c)] - omega[(r, c)]).abs() < 4.0 * se,
                    "({r},{c}): {} vs {}",
                    acc[(r, c)],
                    omega[(r, c)]
                );
            }
        }
    }

    #[test]
    fn transforms_respect_bounds() {
        let iiv = Iiv::diagonal(
            "omega",
            &[
                ("product_memory_fraction", 1.0),
                ("effector_death_per_day", 0.5),
            ],
        )
        .unwrap();
        let b = iiv.bind("sle", SLE_PARAMS).unwrap();
        let mut v: Vec<f64> = SLE_PARAMS.iter().map(|p| p.default).collect();
        b.apply(&[3.0, 0.5], &mut v);
        let f = v[b.indices()[0]];
        assert!(f > 0.2 && f < 1.0, "{f}");
        let d = v[b.indices()[1]];
        assert!((d - 0.2 * 0.5f64.exp()).abs() < 1e-15);
    }

    #[test]
    fn zero_variance_is_allowed() {
        let iiv = Iiv::diagonal(
            "omega",
            &[
                ("effector_death_per_day", 0.0),
                ("memory_death_per_day", 0.2),
            ],
        )
        .unwrap();
        let b = iiv.bind("sle", SLE_PARAMS).unwrap();
        let (mut z, mut eta) = ([0.0; 2], [0.0; 2]);
        b.sample_eta(&mut patient_rng(1, 1), &mut z, &mut eta);
        assert_eq!(eta[0], 0.0);
        assert!(eta[1] != 0.0);
    }
}
