//! Cohort engine: determinism across threads and shards, value stability, statistics of the
//! sampled population, streaming vs exact summaries, failure handling, bad input.

mod common;

use cartsim::cohort::{Cohort, CohortResult, OnFailure, Records, SolverUsed};
use cartsim::error::{Error, ParamError, SpecError};
use cartsim::model::ModelInfo;
use cartsim::model::sle::SLE_STATES;
use cartsim::prelude::*;
use cartsim::solve::Method;
use cartsim::summary::{Comparison, SummaryMode, Target};
use cartsim::variability::{Dist, Iiv, Population};
use nalgebra::DMatrix;

fn cohort(n: u64, mode: SummaryMode) -> Cohort<SleModel, SLE_STATES> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(1)
        .summary_mode(mode)
        .target(common::b_below_1_day14())
        .build()
        .unwrap()
}

#[test]
fn bit_identical_across_threads_and_shards() {
    for mode in [SummaryMode::Exact, SummaryMode::Streaming { alpha: 0.01 }] {
        let c = cohort(37, mode);
        let n_out = c.model().outputs().len();
        let one = common::in_pool(1, || c.run().unwrap());
        let two = common::in_pool(2, || c.run().unwrap());
        let eight = common::in_pool(8, || c.run().unwrap());
        let seq = c.run_sequential().unwrap();
        let shards = vec![
            c.run_range(20..37).unwrap(),
            c.run_range(0..3).unwrap(),
            c.run_range(3..20).unwrap(),
        ];
        let merged = CohortResult::merge(shards).unwrap();
        let f1 = common::fingerprint(&one, n_out);
        assert_eq!(one.records.len(), 37);
        assert_eq!(
            f1,
            common::fingerprint(&two, n_out),
            "{mode:?}: 1 vs 2 threads"
        );
        assert_eq!(
            f1,
            common::fingerprint(&eight, n_out),
            "{mode:?}: 1 vs 8 threads"
        );
        assert_eq!(f1, common::fingerprint(&seq, n_out), "{mode:?}: sequential");
        assert_eq!(
            f1,
            common::fingerprint(&merged, n_out),
            "{mode:?}: 3 shards"
        );
        // The summaries themselves, as stored in shard files: byte for byte, whoever added which
        // patient in which order (canonical sketches).
        let bytes = |r: &CohortResult| serde_json::to_vec(&r.summary).unwrap();
        for (other, what) in [
            (&two, "2 threads"),
            (&eight, "8 threads"),
            (&seq, "sequential"),
            (&merged, "3 shards"),
        ] {
            assert!(
                bytes(&one) == bytes(other),
                "{mode:?}: serialized summary, 1 thread vs {what}"
            );
        }
    }
}

#[test]
fn merging_refuses_gaps_overlaps_and_other_seeds() {
    let c = cohort(12, SummaryMode::Exact);
    let a = c.run_range(0..5).unwrap();
    let b = c.run_range(6..12).unwrap();
    let e = CohortResult::merge(vec![a.clone(), b]).unwrap_err();
    assert!(e.to_string().contains("gap"), "{e}");
    let b = c.run_range(4..12).unwrap();
    let e = CohortResult::merge(vec![a.clone(), b]).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
    let other = Cohort::builder(SleModel::default())
        .patients(12)
        .seed(2)
        .summary_mode(SummaryMode::Exact)
        .build()
        .unwrap();
    let e = CohortResult::merge(vec![a, other.run_range(5..12).unwrap()]).unwrap_err();
    assert!(e.to_string().contains("seed"), "{e}");
}

/// Value stability: pins the first patients of seed 1 so that a dependency bump (rand,
/// rand_distr, ode_solvers) or an unintended model change that moves values fails here.
/// Update deliberately, with the reason in the commit message.
#[test]
fn value_stability_seed_1() {
    let c = cohort(3, SummaryMode::Exact);
    let r = c.run().unwrap();
    let reappearance = endpoint_index(c.model(), "b_cell_reappearance_day");
    let got: Vec<(f64, f64, f64)> = r
        .records
        .iter()
        .map(|rec| {
            (
                rec.covariates.weight_kg,
                rec.params[0],
                rec.endpoints[reappearance],
            )
        })
        .collect();
    let pinned: [(f64, f64, f64); 3] = PINNED;
    for (g, p) in got.iter().zip(pinned.iter()) {
        assert!(
            (g.0 - p.0).abs() <= 1e-12 * p.0.abs(),
            "weight {g:?} vs {p:?}"
        );
        assert!((g.1 - p.1).abs() <= 1e-12 * p.1.abs(), "rho {g:?} vs {p:?}");
        assert!(
            (g.2 - p.2).abs() <= 1e-9 * p.2.abs(),
            "reappearance {g:?} vs {p:?} (all: {got:?})"
        );
    }
}

/// (weight_kg, effector_proliferation_per_day, b_cell_reappearance_day) of patients 0, 1, 2.
/// Updated deliberately twice: for the calibration branch (the Allee scale of the autoreactive
/// clone moved from 1000 to 10 cells, moving B-cell return by ~1e-8 relative through the antigen
/// pool), and when endpoints moved onto the solver's dense output (the threshold crossing on each
/// step's Hermite cubic instead of log-linear between 0.25-day grid points: +1.2e-5 day).
// 2026-12-03: reappearance days moved (136.1, 157.2, 137.8 before) when the memory-decline
// random effect ω went 0.2 → 0.9 (Stein 2019's β spread): the same standard-normal draws,
// scaled 4.5 times wider.
// 2026-12-03: moved again (139.0, 193.3, 88.4 before) when the autoreactive clone's regrowth
// rate g_A went 0.0266 → 0.2/day (relapse after response, issue 17): the autoreactive memory
// pool is part of the blood B count and of the antigen that drives CAR-T.
// 2026-12-04: moved by 1.4e-6, −1.3e-6 and 1.8e-8 relative (136.3286636456021,
// 194.48994177731657, 88.70221091904314 before) when the default solver became Tsit5 with the
// tolerance schedule (issue 19): the solver's error, within the accuracy guard's 1e-4. Then by
// −3.4e-6, 1.4e-6 and −1.2e-7 relative (136.32885548077783, 194.4896886880086, 88.7022127140944
// before) when Tsit5 began each segment with the step the previous one proposed. Then by ≤ 2.1e-9
// when drug exposures left out exponential terms below 1e-9/K mg/L (round-off of the steps).
const PINNED: [(f64, f64, f64); 3] = [
    (68.66331492427199, 0.4606085210206401, 136.32839523179555),
    (66.65446974982137, 0.561048514108773, 194.48995827701668),
    (58.42314430224019, 0.48965697897792887, 88.70220122717758),
];

#[test]
fn sampled_parameters_reproduce_omega_and_covariates() {
    let names = [
        "effector_proliferation_per_day",
        "memory_death_per_day",
        "maturation_delay_day",
    ];
    let omega = DMatrix::from_row_slice(
        3,
        3,
        &[0.04, 0.018, 0.0, 0.018, 0.09, -0.012, 0.0, -0.012, 0.0225],
    );
    let c = Cohort::builder(SleModel::default())
        .patients(20_000)
        .seed(9)
        .iiv(Iiv::new("omega", &names, omega.clone()).unwrap())
        .build()
        .unwrap();
    let model = SleModel::default();
    let idx: Vec<usize> = names
        .iter()
        .map(|n| model.param_index(n).unwrap())
        .collect();
    let typical: Vec<f64> = idx.iter().map(|&i| model.parameters()[i].default).collect();
    let n = 20_000usize;
    let mut cov = DMatrix::<f64>::zeros(3, 3);
    let mut weights = Vec::with_capacity(n);
    for id in 0..n as u64 {
        let (cv, values) = c.sample_patient(id);
        weights.push((cv.sex, cv.weight_kg));
        let eta: Vec<f64> = (0..3).map(|j| (values[idx[j]] / typical[j]).ln()).collect();
        for r in 0..3 {
            for k in 0..3 {
                cov[(r, k)] += eta[r] * eta[k] / n as f64;
            }
        }
    }
    for r in 0..3 {
        for k in 0..3 {
            let se = ((omega[(r, r)] * omega[(k, k)] + omega[(r, k)].powi(2)) / n as f64).sqrt();
            assert!(
                (cov[(r, k)] - omega[(r, k)]).abs() < 4.0 * se,
                "Ω[{r},{k}] sampled {} vs {}",
                cov[(r, k)],
                omega[(r, k)]
            );
        }
    }
    // Women's weight: N(65, 11) clipped to 42–120 (clipping moves the mean < 0.1 kg).
    let wf: Vec<f64> = weights
        .iter()
        .filter(|w| w.0 == Sex::Female)
        .map(|w| w.1)
        .collect();
    let m = wf.iter().sum::<f64>() / wf.len() as f64;
    let sd = (wf.iter().map(|w| (w - m).powi(2)).sum::<f64>() / (wf.len() - 1) as f64).sqrt();
    assert!(
        (m - 65.0).abs() < 4.0 * 11.0 / (wf.len() as f64).sqrt() + 0.1,
        "mean {m}"
    );
    assert!((sd / 11.0 - 1.0).abs() < 0.04, "sd {sd}");
    let female = wf.len() as f64 / n as f64;
    assert!(
        (female - 0.9).abs() < 4.0 * (0.09 / n as f64).sqrt(),
        "{female}"
    );
}

#[test]
fn failures_are_reported_with_id_and_parameters() {
    // A maximum of 40 steps cannot cover the course: every patient fails with the step limit,
    // also after the stiff retry.
    let opts = SolverOptions {
        max_steps: 40,
        ..SolverOptions::default()
    };
    let c = Cohort::builder(SleModel::default())
        .patients(5)
        .seed(3)
        .solver(opts)
        .on_failure(OnFailure::Continue)
        .build()
        .unwrap();
    let r = c.run().unwrap();
    assert_eq!(r.summary.failed, 5);
    assert_eq!(r.failures.len(), 5);
    assert_eq!(r.failures[0].id, 0);
    let msg = r.failures[2].to_string();
    assert!(
        msg.contains("patient 2") && msg.contains("step limit"),
        "{msg}"
    );
    assert!(msg.contains("effector_proliferation_per_day="), "{msg}");
    let stop = Cohort::builder(SleModel::default())
        .patients(5)
        .seed(3)
        .solver(opts)
        .build()
        .unwrap();
    match stop.run() {
        Err(Error::Patient(p)) => assert_eq!(p.id, 0),
        other => panic!("expected patient 0's failure, got {other:?}"),
    }
}

/// A deliberately stiff test model: a fast state relaxing to a slow forcing (λ = 2000/day)
/// and a slow state integrating it.
#[derive(Debug, Clone, Copy)]
struct Stiff;

const STIFF_PARAMS: &[cartsim::model::ParamInfo] = &[cartsim::model::ParamInfo {
    name: "relaxation_per_day",
    symbol: "λ",
    unit: "1/day",
    default: 2000.0,
    lower: 1.0,
    upper: 1e6,
    source: cartsim::model::Source::Assumption("test model"),
}];

impl Model<2> for Stiff {
    type Params = f64;
    type Patient = f64;
    fn info(&self) -> &'static ModelInfo {
        &ModelInfo {
            name: "stiff_test",
            states: &[
                cartsim::model::StateInfo {
                    name: "fast",
                    unit: "1",
                    description: "fast",
                },
                cartsim::model::StateInfo {
                    name: "slow",
                    unit: "1",
                    description: "slow",
                },
            ],
            parameters: STIFF_PARAMS,
            inputs: &[cartsim::model::InputInfo {
                name: "car_t",
                kind: cartsim::model::InputKind::Cells,
                description: "unused",
            }],
            outputs: &[cartsim::model::OutputInfo {
                name: "slow",
                unit: "1",
                detection_limit: 0.0,
                log_scale: false,
                description: "slow state",
            }],
            endpoints: &[cartsim::model::EndpointInfo {
                name: "slow_end",
                unit: "1",
                kind: cartsim::model::EndpointKind::Continuous,
                description: "slow state at the end",
            }],
        }
    }
    fn default_params(&self) -> f64 {
        2000.0
    }
    fn params_from_values(&self, v: &[f64]) -> Result<f64, ParamError> {
        cartsim::model::check_values(self.name(), STIFF_PARAMS, v)?;
        Ok(v[0])
    }
    fn param_values(&self, p: &f64, out: &mut [f64]) {
        out[0] = *p;
    }
    fn prepare(
        &self,
        p: &f64,
        _c: &Covariates,
        _d: &[cartsim::model::ResolvedDose],
    ) -> Result<f64, ParamError> {
        Ok(*p)
    }
    fn initial_state(&self, _p: &f64, _t: f64) -> nalgebra::SVector<f64, 2> {
        nalgebra::SVector::<f64, 2>::new(1.0, 0.0)
    }
    fn rhs(
        &self,
        lam: &f64,
        t: f64,
        y: &nalgebra::SVector<f64, 2>,
        _s: &cartsim::model::Segment<'_>,
        dy: &mut nalgebra::SVector<f64, 2>,
    ) {
        dy[0] = -lam * (y[0] - t.cos());
        dy[1] = y[0];
    }
    fn apply_bolus(&self, _p: &f64, _i: usize, _a: f64, _y: &mut nalgebra::SVector<f64, 2>) {}
    fn observe(&self, _p: &f64, _t: f64, y: &nalgebra::SVector<f64, 2>, out: &mut [f64]) {
        out[0] = y[1];
    }
    fn endpoints(&self, _p: &f64, tr: &cartsim::model::Trajectory, out: &mut [f64]) {
        out[0] = tr.value(tr.len() - 1, 0);
    }
}

#[test]
fn stiff_patient_is_retried_and_recorded() {
    // Checking stiffness every step makes Dopri5 give up quickly on this stiff model; the
    // Rosenbrock retry must agree with the exact solution (slow ≈ sin t + O(1/λ)).
    let (regimen, strict) = stiff_setup();
    let c = Cohort::builder(Stiff)
        .patients(3)
        .seed(4)
        .population(Population::typical())
        .regimen(regimen.clone())
        .solver(strict)
        .build()
        .unwrap();
    let r = c.run().unwrap();
    assert_eq!(r.stiff_retries, 3);
    assert!(matches!(
        r.records[0].solver,
        SolverUsed::RosenbrockRetry {
            reason: cartsim::error::SolveError::Stiff { .. }
        }
    ));
    // Exact: y0 = cos t + O(1/λ) after the initial layer, slow = ∫ y0 = sin t (to 1/λ).
    let slow_end = endpoint_index(&Stiff, "slow_end");
    let got = r.records[0].endpoints[slow_end];
    assert!(
        (got - 20f64.sin()).abs() < 2e-3,
        "slow(20) = {got} vs {}",
        20f64.sin()
    );
    // The explicit solver, run to the end without the stiffness abort, agrees.
    let patient = Cohort::builder(Stiff)
        .patients(3)
        .seed(4)
        .population(Population::typical())
        .regimen(regimen)
        .solver(SolverOptions {
            stiffness_check_interval: u32::MAX,
            ..SolverOptions::default()
        })
        .stiff_retry(false)
        .build()
        .unwrap();
    let (reference, _) = patient.simulate_patient(0).unwrap();
    assert_eq!(reference.solver, SolverUsed::Configured(Method::Tsit5));
    assert!(
        (got - reference.endpoints[slow_end]).abs() < 1e-4,
        "{got} vs {}",
        reference.endpoints[slow_end]
    );
}

/// `simulate()` runs the cohort patient's path: the same stiff retry, the same numbers.
#[test]
fn simulate_takes_the_stiff_retry_of_a_cohort_patient() {
    let (regimen, strict) = stiff_setup();
    let sim = simulate(&Stiff, &2000.0, &Covariates::typical(), &regimen, &strict).unwrap();
    assert!(
        matches!(
            sim.solver,
            SolverUsed::RosenbrockRetry {
                reason: cartsim::error::SolveError::Stiff { .. }
            }
        ),
        "{:?}",
        sim.solver
    );
    // A cohort of the typical patient without variability: the same path, the same bits.
    let c = Cohort::builder(Stiff)
        .patients(1)
        .population(Population::typical())
        .iiv(Iiv::none())
        .regimen(regimen)
        .solver(strict)
        .build()
        .unwrap();
    let (rec, _) = c.simulate_patient(0).unwrap();
    assert_eq!(rec.solver, sim.solver);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&rec.endpoints), bits(&sim.endpoints));
    assert_eq!(rec.stats, sim.stats);
}

/// The stiff model's regimen (day 0 to 20) and options that test stiffness at every step.
fn stiff_setup() -> (Regimen, SolverOptions) {
    let regimen = Regimen::builder()
        .horizon(0.0, 20.0)
        .car_t(Amount::Cells(1.0), 0.0)
        .build()
        .unwrap();
    let strict = SolverOptions {
        stiffness_check_interval: 1,
        ..SolverOptions::default()
    };
    (regimen, strict)
}

fn endpoint_index<M: Model<N>, const N: usize>(model: &M, name: &str) -> usize {
    model
        .endpoint_info()
        .iter()
        .position(|e| e.name == name)
        .unwrap_or_else(|| panic!("no endpoint {name}"))
}

#[test]
fn streaming_summary_memory_does_not_grow_with_patients() {
    let mode = SummaryMode::Streaming { alpha: 0.005 };
    let size = |n: u64| {
        let c = Cohort::builder(SleModel::default())
            .patients(n)
            .seed(5)
            .summary_mode(mode)
            .records(Records::Discard)
            .build()
            .unwrap();
        serde_json::to_vec(&c.run().unwrap().summary).unwrap().len()
    };
    let (small, large) = (size(100), size(400));
    // Bucket counts grow in magnitude, not in number: allow for wider tails only.
    assert!(
        (large as f64) < 1.3 * small as f64,
        "summary grew from {small} to {large} bytes"
    );
}

#[test]
fn rejects_bad_cohort_specifications() {
    let b = || Cohort::builder(SleModel::default());
    assert!(matches!(
        b().patients(0).build(),
        Err(Error::Spec(SpecError::Invalid { .. }))
    ));
    let e = b()
        .iiv(Iiv::diagonal("omega", &[("no_such_parameter", 0.1)]).unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Param(ParamError::Unknown { .. })), "{e}");
    assert!(e.to_string().contains("no_such_parameter"));
    let mut pop = Population::sle();
    pop.baseline_t_cells_per_ul = Dist::LogNormal {
        median: 1000.0,
        omega: 0.4,
        min: f64::NAN,
        max: 4000.0,
    };
    let e = b().population(pop).build().unwrap_err();
    assert!(e.to_string().contains("baseline_t_cells_per_ul"), "{e}");
    let e = Iiv::new(
        "omega",
        &["effector_proliferation_per_day"],
        DMatrix::from_row_slice(2, 2, &[0.1, 0.0, 0.0, 0.1]),
    )
    .unwrap_err();
    assert!(matches!(e, SpecError::DimensionMismatch { .. }), "{e}");
    let e = b()
        .target(Target {
            name: "t".into(),
            endpoint: "no_such_endpoint".into(),
            op: Comparison::Below,
            threshold: 1.0,
        })
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("no_such_endpoint"), "{e}");
    let c = b().patients(10).build().unwrap();
    assert!(c.run_range(5..5).is_err());
    assert!(c.run_range(5..11).is_err());
}

#[test]
fn streaming_quantiles_agree_with_exact_on_10000_patients() {
    let alpha = 0.005;
    let c = Cohort::builder(SleModel::default())
        .patients(10_000)
        .seed(21)
        .summary_mode(SummaryMode::Streaming { alpha })
        .build()
        .unwrap();
    let r = c.run().unwrap();
    let stats = r.summary.endpoint_stats();
    for (k, e) in c.model().endpoint_info().iter().enumerate() {
        let mut xs: Vec<f64> = r
            .records
            .iter()
            .map(|rec| rec.endpoints[k])
            .filter(|x| x.is_finite())
            .collect();
        xs.sort_by(f64::total_cmp);
        let s = &stats[k];
        assert_eq!(s.n as usize, xs.len(), "{}", e.name);
        if xs.is_empty() {
            // Undefined for every patient (e.g. no relapse within the horizon).
            assert!(s.p50.is_nan() && s.mean.is_nan(), "{}", e.name);
            continue;
        }
        for (q, got) in [
            (0.05, s.p05),
            (0.25, s.p25),
            (0.5, s.p50),
            (0.75, s.p75),
            (0.95, s.p95),
        ] {
            // Documented error: within α (relative) of the order statistic at round(q(n−1)).
            let rank = (q * (xs.len() - 1) as f64).round() as usize;
            let want = xs[rank];
            let floor = cartsim::summary::Sketch::FLOOR;
            assert!(
                (got - want).abs() <= alpha * want.abs() * (1.0 + 1e-9) + floor,
                "{} q{q}: streaming {got} vs order statistic {want}",
                e.name
            );
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(
            (s.mean - mean).abs() <= 1e-12 * mean.abs().max(1e-300),
            "{}",
            e.name
        );
    }
}

/// The SLE model's endpoints read no output grid point, so a cohort fills only the points its
/// percentile bands read: its bands are still exactly the quantiles of the patients' full
/// trajectories at the band times (each patient simulated alone on the whole grid).
#[test]
fn bands_are_the_quantiles_of_the_full_trajectories() {
    use cartsim::summary::QUANTILES;
    use cartsim::summary::Sketch;
    let n = 40;
    let c = cohort(n, SummaryMode::Exact);
    let r = c.run().unwrap();
    assert_eq!(r.summary.failed, 0);
    let full: Vec<_> = (0..n).map(|id| c.simulate_patient(id).unwrap().1).collect();
    let times = r.summary.band_times_day().to_vec();
    assert!(times.len() > 50);
    for k in 0..c.model().outputs().len() {
        let bands = r.summary.bands(k);
        for (i, &t) in times.iter().enumerate() {
            let mut s = Sketch::exact();
            for tr in &full {
                s.add(tr.value_at(k, t));
            }
            let q = s.quantiles(&QUANTILES);
            let same = bands[i]
                .iter()
                .zip(&q)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "output {k} at day {t}: cohort {:?}, full grid {q:?}",
                bands[i]
            );
        }
    }
}
