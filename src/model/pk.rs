//! Linear pharmacokinetics in closed form.
//!
//! A linear mammillary model's central concentration after a unit bolus is a sum of exponentials
//! `Σ_i A_i · exp(−λ_i t)`. Doses superpose, and between dose events (bolus times, infusion starts
//! and ends) the concentration of any regimen has the form
//!
//! ```text
//! C(t) = c₀ + Σ_i c_i · exp(−λ_i (t − t_k))     for t in piece k = [t_k, t_{k+1})
//! ```
//!
//! [`Exposure`] precomputes `c₀, c_i` for every piece once per patient, so evaluating `C(t)`
//! costs at most `K` exponentials, and exactly zero once the drug has washed out (after
//! [`Exposure::washout_day`]). This removes the fast PK modes from the ODE system: an explicit
//! solver's step is then limited by accuracy, not by the stability of a drug that is long gone.

use crate::error::ParamError;
use crate::model::dose::ResolvedDose;

/// Unit-bolus disposition: `C(t) = Σ_i coef_i · exp(−lambda_i t)` per mg dosed (mg/L per mg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disposition<const K: usize> {
    /// Exponents, 1/day (all > 0).
    pub lambda_per_day: [f64; K],
    /// Coefficients, 1/L.
    pub coef_per_l: [f64; K],
}

impl Disposition<1> {
    /// One compartment: volume `v_l` (L), elimination rate `k_per_day` (1/day).
    pub fn one_compartment(v_l: f64, k_per_day: f64) -> Self {
        Disposition {
            lambda_per_day: [k_per_day],
            coef_per_l: [1.0 / v_l],
        }
    }
}

impl Disposition<3> {
    /// Three compartments with central volume `v1_l`, peripheral volumes `v2_l`, `v3_l` (L),
    /// clearance `cl` and inter-compartmental clearances `q2`, `q3` (L/day).
    ///
    /// Macro-constants from the characteristic cubic (trigonometric form; the rate matrix of a
    /// mammillary model has three distinct positive eigenvalues).
    ///
    /// # Errors
    /// [`ParamError::Invalid`] when a value is not positive and finite.
    pub fn three_compartment(
        v1_l: f64,
        v2_l: f64,
        v3_l: f64,
        cl: f64,
        q2: f64,
        q3: f64,
    ) -> Result<Self, ParamError> {
        for (name, v) in [
            ("v1", v1_l),
            ("v2", v2_l),
            ("v3", v3_l),
            ("cl", cl),
            ("q2", q2),
            ("q3", q3),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ParamError::Invalid {
                    name: format!("three_compartment.{name}"),
                    reason: format!("must be finite and > 0, got {v}"),
                });
            }
        }
        let k10 = cl / v1_l;
        let k12 = q2 / v1_l;
        let k21 = q2 / v2_l;
        let k13 = q3 / v1_l;
        let k31 = q3 / v3_l;
        let a0 = k10 * k21 * k31;
        let a1 = k10 * k31 + k21 * k31 + k21 * k13 + k10 * k21 + k31 * k12;
        let a2 = k10 + k12 + k13 + k21 + k31;
        let p = a1 - a2 * a2 / 3.0;
        let q = 2.0 * a2 * a2 * a2 / 27.0 - a1 * a2 / 3.0 + a0;
        let r1 = (-(p * p * p) / 27.0).sqrt();
        let phi = (-q / (2.0 * r1)).clamp(-1.0, 1.0).acos() / 3.0;
        let r2 = 2.0 * r1.cbrt();
        let tau = std::f64::consts::TAU;
        let mut l = [
            -(phi.cos() * r2 - a2 / 3.0),
            -((phi + tau / 3.0).cos() * r2 - a2 / 3.0),
            -((phi + 2.0 * tau / 3.0).cos() * r2 - a2 / 3.0),
        ];
        l.sort_by(|a, b| b.total_cmp(a));
        let mut coef = [0.0; 3];
        for i in 0..3 {
            let (j, k) = ((i + 1) % 3, (i + 2) % 3);
            coef[i] = (k21 - l[i]) * (k31 - l[i]) / ((l[j] - l[i]) * (l[k] - l[i])) / v1_l;
        }
        if l.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(ParamError::Invalid {
                name: "three_compartment".into(),
                reason: format!("eigenvalues not positive: {l:?}"),
            });
        }
        Ok(Disposition {
            lambda_per_day: l,
            coef_per_l: coef,
        })
    }
}

/// `1 − e^{−x}` for `x ≥ 0`: the fraction of an infusion's steady state reached after it ran
/// for `x` time constants. The plain form loses `ε/x` relative to cancellation, which for
/// a short infusion (x near ε) delivers nothing; below `x = 10⁻³` it is computed as `−expm1(−x)`
/// (exact to rounding). Above, the plain form is accurate to 10⁻¹³ and kept, so that ordinary
/// infusions give the same bits as before.
#[inline]
fn delivered_fraction(x: f64) -> f64 {
    if x < 1e-3 {
        -(-x).exp_m1()
    } else {
        1.0 - (-x).exp()
    }
}

/// One piece of a piecewise closed-form concentration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece<const K: usize> {
    start_day: f64,
    constant: f64,
    coef: [f64; K],
    /// Day from which term `i` is below `negligible_mg_per_l / K` and is left out (so the
    /// concentration is off by less than `negligible_mg_per_l`, as after the washout).
    term_end_day: [f64; K],
}

/// A drug's concentration over time for one patient's doses, in closed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure<const K: usize> {
    lambda_per_day: [f64; K],
    pieces: Vec<Piece<K>>,
    washout_day: f64,
    auc_mg_day_per_l: f64,
}

impl<const K: usize> Exposure<K> {
    /// Builds the exposure to the doses of `input` (amounts in mg, scaled by `amount_factor`,
    /// e.g. a salt fraction). After the last dose, the concentration is set to exactly zero from
    /// the time it falls below `negligible_mg_per_l`; before that, each exponential term is left
    /// out once it is below `negligible_mg_per_l / K` (the concentration is off by less than
    /// `negligible_mg_per_l` either way).
    ///
    /// Every dose is delivered whole: an infusion shorter than
    /// [`MIN_INFUSION_REL`](crate::model::dose::MIN_INFUSION_REL) of its start time is a bolus
    /// ([`ResolvedDose::infusion_day`]), and a short infusion's amount is taken without
    /// cancellation, so the concentration after any dose integrates to
    /// [`Exposure::auc_mg_day_per_l`].
    pub fn new(
        disposition: &Disposition<K>,
        doses: &[ResolvedDose],
        input: usize,
        amount_factor: f64,
        negligible_mg_per_l: f64,
    ) -> Self {
        let lam = disposition.lambda_per_day;
        let a = disposition.coef_per_l;
        let mine = || doses.iter().filter(|d| d.input == input);
        let mut starts: Vec<f64> = mine().flat_map(|d| [d.time_day, d.end_day()]).collect();
        starts.sort_by(f64::total_cmp);
        starts.dedup();
        let mut pieces = Vec::with_capacity(starts.len());
        let mut auc = 0.0;
        for d in mine() {
            let amt = d.amount * amount_factor;
            for i in 0..K {
                auc += amt * a[i] / lam[i];
            }
        }
        for &tk in &starts {
            let mut p = Piece {
                start_day: tk,
                constant: 0.0,
                coef: [0.0; K],
                term_end_day: [f64::INFINITY; K],
            };
            for d in mine() {
                if d.time_day > tk {
                    continue;
                }
                let amt = d.amount * amount_factor;
                // Infusions of round-off length are boluses (`infusion_day`), so `rate` below is
                // finite and the infusion's pieces have a length the closed form resolves.
                match d.infusion_day() {
                    None => {
                        for i in 0..K {
                            p.coef[i] += amt * a[i] * (-lam[i] * (tk - d.time_day)).exp();
                        }
                    }
                    Some(dur) => {
                        let rate = amt / dur;
                        if tk < d.end_day() {
                            for i in 0..K {
                                let ss = rate * a[i] / lam[i];
                                p.constant += ss;
                                p.coef[i] -= ss * (-lam[i] * (tk - d.time_day)).exp();
                            }
                        } else {
                            for i in 0..K {
                                let ss = rate * a[i] / lam[i];
                                p.coef[i] += ss
                                    * delivered_fraction(lam[i] * dur)
                                    * (-lam[i] * (tk - d.time_day - dur)).exp();
                            }
                        }
                    }
                }
            }
            let term_floor = negligible_mg_per_l / K as f64;
            for i in 0..K {
                let c = p.coef[i].abs();
                p.term_end_day[i] = if c <= term_floor {
                    tk
                } else {
                    tk + (c / term_floor).ln() / lam[i]
                };
            }
            pieces.push(p);
        }
        // Washout: after the last piece (no infusion running), bound C by Σ|c_i|·exp(−λ_min s).
        let washout_day = match pieces.last() {
            Some(last) if last.constant == 0.0 => {
                let total: f64 = last.coef.iter().map(|c| c.abs()).sum();
                let lmin = lam.iter().copied().fold(f64::INFINITY, f64::min);
                if total <= negligible_mg_per_l {
                    last.start_day
                } else {
                    last.start_day + (total / negligible_mg_per_l).ln() / lmin
                }
            }
            _ => f64::INFINITY,
        };
        Exposure {
            lambda_per_day: lam,
            pieces,
            washout_day,
            auc_mg_day_per_l: auc,
        }
    }

    /// Concentration at `t_day` (mg/L), using the piece that starts at or before `piece_day`
    /// (pass the solver segment's start so that evaluations exactly at a dose boundary use the
    /// segment's own piece).
    #[inline]
    pub fn concentration(&self, t_day: f64, piece_day: f64) -> f64 {
        if t_day >= self.washout_day && piece_day >= self.washout_day - 1e-12 {
            return 0.0;
        }
        let Some(p) = self.pieces.iter().rev().find(|p| p.start_day <= piece_day) else {
            return 0.0;
        };
        let s = t_day - p.start_day;
        let mut c = p.constant;
        for i in 0..K {
            // A term below negligible/K is left out: one `exp` saved (the fast modes of a
            // dose are gone within hours of it).
            if t_day < p.term_end_day[i] {
                c += p.coef[i] * (-self.lambda_per_day[i] * s).exp();
            }
        }
        c.max(0.0)
    }

    /// Concentration at `t_day` (mg/L), choosing the piece by `t_day` itself.
    pub fn concentration_at(&self, t_day: f64) -> f64 {
        self.concentration(t_day, t_day)
    }

    /// Time from which the concentration is exactly zero, day (infinite if an infusion never
    /// ends; −∞ is never returned).
    pub fn washout_day(&self) -> f64 {
        self.washout_day
    }

    /// Total area under the concentration curve (all doses, to infinity), mg·day/L.
    pub fn auc_mg_day_per_l(&self) -> f64 {
        self.auc_mg_day_per_l
    }

    /// Piece start times (dose events), day.
    pub fn breakpoints(&self) -> impl Iterator<Item = f64> + '_ {
        self.pieces.iter().map(|p| p.start_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Matrix3, Vector3};

    fn flu() -> Disposition<3> {
        // Langenhorst 2019 typical values at 70 kg, eGFR 90 mL/min, in L/day.
        let cl = (3.24 + 0.782 * 90.0 * 0.06) * 24.0;
        Disposition::three_compartment(39.0, 20.0, 50.0, cl, 8.6 * 24.0, 3.8 * 24.0).unwrap()
    }

    /// Amounts after a unit bolus via the matrix exponential of the rate matrix.
    fn matrix_exp_conc(t: f64) -> f64 {
        let cl = (3.24 + 0.782 * 90.0 * 0.06) * 24.0;
        let (v1, v2, v3, q2, q3) = (39.0, 20.0, 50.0, 8.6 * 24.0, 3.8 * 24.0);
        let a = Matrix3::new(
            -(cl + q2 + q3) / v1,
            q2 / v2,
            q3 / v3,
            q2 / v1,
            -q2 / v2,
            0.0,
            q3 / v1,
            0.0,
            -q3 / v3,
        );
        let x = (a * t).exp() * Vector3::new(1.0, 0.0, 0.0);
        x[0] / v1
    }

    #[test]
    fn three_compartment_bolus_matches_matrix_exponential() {
        let d = flu();
        for &t in &[0.0, 0.01, 0.1, 0.5, 1.0, 3.0, 10.0] {
            let cf: f64 = (0..3)
                .map(|i| d.coef_per_l[i] * (-d.lambda_per_day[i] * t).exp())
                .sum();
            let me = matrix_exp_conc(t);
            assert!(
                ((cf - me) / me).abs() < 1e-9,
                "t={t}: closed form {cf} vs expm {me}"
            );
        }
    }

    #[test]
    fn infusion_matches_numerical_quadrature_and_auc() {
        let d = flu();
        let doses = [ResolvedDose {
            input: 0,
            time_day: 1.0,
            amount: 30.0,
            duration_day: Some(0.5 / 24.0),
        }];
        let e = Exposure::new(&d, &doses, 0, 1.0, 1e-12);
        // Superposition of many small boluses approximates the infusion (midpoint rule).
        let n = 2000;
        let dur = 0.5 / 24.0;
        let conc_bolus_sum = |t: f64| -> f64 {
            (0..n)
                .map(|j| {
                    let tj = 1.0 + (j as f64 + 0.5) * dur / n as f64;
                    if t < tj {
                        return 0.0;
                    }
                    let s = t - tj;
                    (30.0 / n as f64)
                        * (0..3)
                            .map(|i| d.coef_per_l[i] * (-d.lambda_per_day[i] * s).exp())
                            .sum::<f64>()
                })
                .sum()
        };
        for &t in &[1.0 + dur / 2.0, 1.0 + dur, 1.2, 2.0, 5.0] {
            let a = e.concentration_at(t);
            let b = conc_bolus_sum(t);
            assert!(((a - b) / b).abs() < 1e-5, "t={t}: {a} vs {b}");
        }
        assert_eq!(e.concentration_at(0.5), 0.0);
        // AUC = dose / CL.
        let cl = (3.24 + 0.782 * 90.0 * 0.06) * 24.0;
        assert!((e.auc_mg_day_per_l() - 30.0 / cl).abs() < 1e-9 * 30.0 / cl);
        assert!(e.washout_day().is_finite());
        assert_eq!(e.concentration_at(e.washout_day() + 1.0), 0.0);
    }

    /// ∫ C dt over [from, washout] by Gauss–Legendre on pieces split at the breakpoints, with
    /// a geometric grid after the last dose (the terminal phase is long).
    fn numerical_auc(e: &Exposure<3>, from: f64) -> f64 {
        // 5-point Gauss–Legendre nodes and weights on [-1, 1].
        const X: [f64; 5] = [
            0.0,
            -0.538_469_310_105_683,
            0.538_469_310_105_683,
            -0.906_179_845_938_664,
            0.906_179_845_938_664,
        ];
        const W: [f64; 5] = [
            0.568_888_888_888_889,
            0.478_628_670_499_366,
            0.478_628_670_499_366,
            0.236_926_885_056_189,
            0.236_926_885_056_189,
        ];
        let mut edges: Vec<f64> = e.breakpoints().filter(|&t| t >= from).collect();
        edges.insert(0, from);
        let last = *edges.last().unwrap();
        let mut h = 1e-6;
        while last + h < e.washout_day() {
            edges.push(last + h);
            h *= 1.05;
        }
        edges.push(e.washout_day());
        edges.sort_by(f64::total_cmp);
        edges.dedup();
        let mut auc = 0.0;
        for w in edges.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (m, r) = (0.5 * (a + b), 0.5 * (b - a));
            for k in 0..5 {
                // The piece that starts at or before the interval's start.
                auc += W[k] * r * e.concentration(m + r * X[k], a);
            }
        }
        auc
    }

    #[test]
    fn an_infusion_of_any_duration_delivers_its_dose() {
        let d = flu();
        let bolus = |t0: f64| {
            Exposure::new(
                &d,
                &[ResolvedDose {
                    input: 0,
                    time_day: t0,
                    amount: 30.0,
                    duration_day: None,
                }],
                0,
                1.0,
                1e-12,
            )
        };
        for t0 in [0.0, -5.0, 1.0, 100.0] {
            let b = bolus(t0);
            // Round-off durations (t0 + d == t0 at day 100; λ·d below ε), a rate that
            // overflows (5e-324), durations just above the bolus threshold, and ordinary ones.
            for dur in [
                5e-324,
                1e-300,
                1e-17,
                1e-15,
                1e-12,
                1e-10,
                2e-9,
                1e-7,
                1e-5,
                1e-3,
                0.5 / 24.0,
            ] {
                let e = Exposure::new(
                    &d,
                    &[ResolvedDose {
                        input: 0,
                        time_day: t0,
                        amount: 30.0,
                        duration_day: Some(dur),
                    }],
                    0,
                    1.0,
                    1e-12,
                );
                assert_eq!(e.auc_mg_day_per_l(), b.auc_mg_day_per_l());
                // Mass balance: what the curve integrates to is the AUC it reports.
                let auc = numerical_auc(&e, t0);
                assert!(
                    ((auc - e.auc_mg_day_per_l()) / e.auc_mg_day_per_l()).abs() < 1e-6,
                    "t0 = {t0}, duration {dur:e}: integrates to {auc}, reports {}",
                    e.auc_mg_day_per_l()
                );
                // After the infusion, the curve is the bolus's delayed by about half the duration.
                for s in [0.01, 0.1, 1.0, 3.0] {
                    if s <= dur {
                        continue;
                    }
                    let (ci, cb) = (e.concentration_at(t0 + s), b.concentration_at(t0 + s));
                    let tol = 1e-9 + 20.0 * dur.max(0.0);
                    assert!(
                        ((ci - cb) / cb).abs() < tol,
                        "t0 = {t0}, duration {dur:e}, {s} day after: infusion {ci}, bolus {cb}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_compartment_bolus() {
        let d = Disposition::one_compartment(40.0, 2.0);
        let doses = [ResolvedDose {
            input: 1,
            time_day: 0.0,
            amount: 100.0,
            duration_day: None,
        }];
        let e = Exposure::new(&d, &doses, 1, 1.0, 1e-9);
        assert!((e.concentration_at(0.5) - 2.5 * (-1.0f64).exp()).abs() < 1e-12);
        // Doses of another input are ignored.
        let e0 = Exposure::new(&d, &doses, 0, 1.0, 1e-9);
        assert_eq!(e0.concentration_at(0.5), 0.0);
    }
}
