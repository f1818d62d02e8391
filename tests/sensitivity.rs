//! Global sensitivity analysis: analytic indices (Ishigami, Sobol' G), an ignored factor,
//! Morris screening, determinism across threads and slices, and rejected studies.

mod common;

use std::f64::consts::PI;

use common::in_pool;

use cartsim::Error;
use cartsim::calibrate::Statistic;
use cartsim::cohort::Cohort;
use cartsim::prelude::*;
use cartsim::sensitivity::{
    CohortStudy, Evaluations, Factor, IndexKind, Method, Quantity, SensitivityResult, Study,
};

fn ishigami(x: &[f64]) -> Result<Vec<f64>, Error> {
    Ok(vec![
        x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin(),
    ])
}

/// Ishigami (a = 7, b = 0.1) analytic indices (Ishigami & Homma 1990; Sobol' & Levitan 1999).
fn ishigami_indices() -> ([f64; 3], [f64; 3]) {
    let (a, b) = (7.0, 0.1);
    let pi4 = PI.powi(4);
    let v1 = 0.5 * (1.0 + b * pi4 / 5.0f64).powi(2);
    let v2 = a * a / 8.0;
    let v13 = b * b * PI.powi(8) * (1.0 / 18.0 - 1.0 / 50.0);
    let v = v1 + v2 + v13;
    ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
}

fn ishigami_study(n: usize, extra: bool) -> Study {
    let mut b = Study::builder()
        .factors((1..=3).map(|i| Factor::linear(format!("x{i}"), -PI, PI)))
        .quantity("y")
        .method(Method::sobol(n))
        .seed(1);
    if extra {
        // A factor the function ignores.
        b = b.factor(Factor::log("ignored", 0.1, 10.0));
    }
    b.build().unwrap()
}

fn assert_in_ci(r: &SensitivityResult, q: &str, factor: &str, index: &str, truth: f64) {
    let e = r.get(q, factor, index).unwrap();
    assert!(
        e.ci_low <= truth && truth <= e.ci_high,
        "{index} of {factor}: analytic {truth:.4} outside [{:.4}, {:.4}] (estimate {:.4})",
        e.ci_low,
        e.ci_high,
        e.estimate
    );
    assert!(e.ci_high - e.ci_low < 0.2, "{e:?}");
}

#[test]
fn ishigami_indices_recovered_within_their_intervals() {
    let study = ishigami_study(4096, true);
    let r = study.run(ishigami).unwrap();
    assert_eq!(r.evaluations, 4096 * 6);
    let (s1, st) = ishigami_indices();
    for i in 0..3 {
        let f = format!("x{}", i + 1);
        assert_in_ci(&r, "y", &f, "S1", s1[i]);
        assert_in_ci(&r, "y", &f, "ST", st[i]);
    }
    // The ignored factor: total order exactly 0 (f(A) = f(AB_i)), first order ≈ 0.
    let st4 = r.get("y", "ignored", "ST").unwrap();
    assert_eq!(st4.estimate, 0.0);
    let s4 = r.get("y", "ignored", "S1").unwrap();
    assert!(
        s4.estimate.abs() < 0.02 && s4.ci_low <= 0.0 && 0.0 <= s4.ci_high,
        "{s4:?}"
    );
    assert_eq!(r.ranking("y", IndexKind::Total)[0].0, "x1");
}

#[test]
fn ishigami_second_order_interaction_is_x1_x3() {
    let study = Study::builder()
        .factors((1..=3).map(|i| Factor::linear(format!("x{i}"), -PI, PI)))
        .quantity("y")
        .method(Method::Sobol {
            samples: 2048,
            second_order: true,
        })
        .bootstrap(200)
        .build()
        .unwrap();
    let r = study.run(ishigami).unwrap();
    assert_eq!(r.evaluations, 2048 * 8);
    let (s1, st) = ishigami_indices();
    let s13 = st[2]; // x3 acts only through its interaction with x1
    assert_in_ci(&r, "y", "x1:x3", "S2", s13);
    assert_in_ci(&r, "y", "x1:x2", "S2", 0.0);
    assert_in_ci(&r, "y", "x2:x3", "S2", 0.0);
    assert_in_ci(&r, "y", "x1", "S1", s1[0]);
}

/// Sobol' G function with a = (0, 1, 4.5, 9, 99, 99): analytic first and total order.
#[test]
fn sobol_g_function_indices() {
    let a = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0];
    let g = move |x: &[f64]| -> Result<Vec<f64>, Error> {
        Ok(vec![
            x.iter()
                .zip(&a)
                .map(|(&x, &a)| ((4.0 * x - 2.0).abs() + a) / (1.0 + a))
                .product(),
        ])
    };
    let vi: Vec<f64> = a
        .iter()
        .map(|a| 1.0 / (3.0 * (1.0 + a) * (1.0 + a)))
        .collect();
    let v = vi.iter().map(|v| 1.0 + v).product::<f64>() - 1.0;
    let study = Study::builder()
        .factors((0..6).map(|i| Factor::linear(format!("x{i}"), 0.0, 1.0)))
        .quantity("g")
        .method(Method::sobol(4096))
        .bootstrap(300)
        .seed(3)
        .build()
        .unwrap();
    let r = study.run(g).unwrap();
    for i in 0..6 {
        let others: f64 = (0..6).filter(|&j| j != i).map(|j| 1.0 + vi[j]).product();
        let f = format!("x{i}");
        assert_in_ci(&r, "g", &f, "S1", vi[i] / v);
        assert_in_ci(&r, "g", &f, "ST", vi[i] * others / v);
    }
}

#[test]
fn morris_screens_the_ishigami_factors() {
    let study = Study::builder()
        .factors((1..=3).map(|i| Factor::linear(format!("x{i}"), -PI, PI)))
        .factor(Factor::linear("ignored", 0.0, 1.0))
        .quantity("y")
        .method(Method::morris(40))
        .bootstrap(200)
        .build()
        .unwrap();
    let r = study.run(ishigami).unwrap();
    assert_eq!(r.evaluations, 40 * 5);
    let rank = r.ranking("y", IndexKind::MuStar);
    assert_eq!(rank.last().unwrap(), &("ignored", 0.0));
    assert!(rank[0].1 > 1.0, "{rank:?}");
    let ignored = r.get("y", "ignored", "sigma").unwrap();
    assert_eq!(ignored.estimate, 0.0);
    // x3 acts only through an interaction: σ of the same order as μ*.
    let (m3, s3) = (
        r.get("y", "x3", "mu_star").unwrap(),
        r.get("y", "x3", "sigma").unwrap(),
    );
    assert!(s3.estimate > 0.5 * m3.estimate, "{m3:?} {s3:?}");
}

#[test]
fn slices_merge_to_the_same_bits_as_one_run() {
    let study = ishigami_study(64, false);
    let whole = study.run(ishigami).unwrap();
    let design = study.design();
    let n = design.len();
    let slices: Vec<Evaluations> = [(0, 7), (7, 200), (200, n)]
        .iter()
        .rev()
        .map(|&(a, b)| study.evaluate_range(&design, a..b, ishigami, None).unwrap())
        .collect();
    let merged = Evaluations::merge(slices).unwrap();
    let split = study.analyse(&design, &merged).unwrap();
    assert_eq!(whole.to_csv_string(), split.to_csv_string());
    // A gap is refused, naming the slice.
    let a = study.evaluate_range(&design, 0..7, ishigami, None).unwrap();
    let c = study.evaluate_range(&design, 9..n, ishigami, None).unwrap();
    let e = Evaluations::merge(vec![a, c]).unwrap_err().to_string();
    assert!(e.contains("evaluations 9..") && e.contains("gap"), "{e}");
}

fn sle_study() -> CohortStudy<SleModel, { cartsim::model::sle::SLE_STATES }> {
    let cohort = Cohort::builder(SleModel::default())
        .patients(6)
        .seed(2)
        .build()
        .unwrap();
    CohortStudy::builder(cohort)
        .factor(Factor::log("effector_proliferation_per_day", 0.8, 1.6))
        .factor(Factor::log("dose:car_t", 2e5, 5e6))
        .quantity(Quantity::new("crs_grade_ge2", Statistic::Fraction))
        .quantity(Quantity::new(
            "b_cell_reappearance_day",
            Statistic::Quantile(0.5),
        ))
        .method(Method::sobol(16))
        .bootstrap(50)
        .seed(4)
        .build()
        .unwrap()
}

#[test]
fn sle_sensitivity_csv_bit_identical_at_1_and_2_threads() {
    let study = sle_study();
    let one = in_pool(1, || study.run().unwrap());
    let two = in_pool(2, || study.run().unwrap());
    assert_eq!(one.cohort_simulations, 16 * 4);
    assert_eq!(one.patient_solves, 16 * 4 * 6);
    let dir = std::env::temp_dir().join(format!("cartsim-sens-{}", std::process::id()));
    let (p1, p2) = (dir.join("t1.csv"), dir.join("t2.csv"));
    one.result.write_csv(&p1).unwrap();
    two.result.write_csv(&p2).unwrap();
    // Slices of the design (as separate jobs would run them) merge to the same result.
    let design = study.study().design();
    let n = design.len();
    let slices = vec![
        study.evaluate_range(&design, 20..n, None).unwrap(),
        study.evaluate_range(&design, 0..20, None).unwrap(),
    ];
    let merged = Evaluations::merge(slices).unwrap();
    let split = study.study().analyse(&design, &merged).unwrap();
    assert_eq!(split.to_csv_string(), one.result.to_csv_string());
    let (b1, b2) = (std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(b1, b2);
    let text = String::from_utf8(b1).unwrap();
    assert!(text.starts_with("quantity,factor,method,index,estimate,ci_low,ci_high\n"));
    assert_eq!(text.lines().count(), 1 + 2 * 2 * 2);
    assert!(
        text.contains("b_cell_reappearance_day:q50,dose:car_t,sobol,ST,"),
        "{text}"
    );
}

#[test]
fn the_inner_cohort_keeps_its_patients() {
    let study = sle_study();
    let c = study.cohort_at(&[1.0, 1e6]).unwrap();
    assert_eq!(c.seed(), 2);
    assert_eq!(c.n_patients(), 6);
    assert_eq!(c.regimen().car_t_total_dose(), (1e6, "cells/kg"));
    let k = c
        .model()
        .parameters()
        .iter()
        .position(|p| p.name == "effector_proliferation_per_day")
        .unwrap();
    assert_eq!(c.typical_values()[k], 1.0);
    // Same patient: same covariates and random effects, applied to the new typical value.
    let (cov_at, p_at) = c.sample_patient(3);
    let (cov, p) = study.cohort().sample_patient(3);
    assert_eq!(cov_at, cov);
    let typical = study.cohort().typical_values()[k];
    assert!((p_at[k] / 1.0 - p[k] / typical).abs() < 1e-12);
    for j in (0..p.len()).filter(|&j| j != k) {
        assert_eq!(p_at[j].to_bits(), p[j].to_bits());
    }
}

fn err(b: impl FnOnce() -> Result<(), Error>) -> String {
    b().unwrap_err().to_string()
}

#[test]
fn bad_studies_are_rejected_naming_the_factor_and_value() {
    let base = || {
        Study::builder()
            .factor(Factor::linear("x1", 0.0, 1.0))
            .quantity("y")
    };
    let e = err(|| Study::builder().quantity("y").build().map(drop));
    assert!(
        e.contains("factors") && e.contains("at least one factor"),
        "{e}"
    );
    let e = err(|| {
        base()
            .factor(Factor::linear("k", 2.0, 2.0))
            .build()
            .map(drop)
    });
    assert!(
        e.contains("factor k") && e.contains("lower bound 2 must be < upper bound 2"),
        "{e}"
    );
    let e = err(|| {
        base()
            .factor(Factor::linear("k", 3.0, 1.0))
            .build()
            .map(drop)
    });
    assert!(e.contains("factor k") && e.contains("3"), "{e}");
    let e = err(|| base().factor(Factor::log("k", 0.0, 1.0)).build().map(drop));
    assert!(e.contains("factor k") && e.contains("lower bound 0"), "{e}");
    let e = err(|| {
        base()
            .factor(Factor::linear("k", f64::NAN, 1.0))
            .build()
            .map(drop)
    });
    assert!(e.contains("factor k") && e.contains("NaN"), "{e}");
    let e = err(|| {
        base()
            .factor(Factor::linear("x1", 0.0, 2.0))
            .build()
            .map(drop)
    });
    assert!(e.contains("factor x1") && e.contains("twice"), "{e}");
    let e = err(|| base().method(Method::sobol(8)).build().map(drop));
    assert!(
        e.contains("samples") && e.contains("at least 16") && e.contains("got 8"),
        "{e}"
    );
    let e = err(|| base().method(Method::morris(1)).build().map(drop));
    assert!(e.contains("at least 2 trajectories, got 1"), "{e}");
    let e = err(|| {
        base()
            .method(Method::Morris {
                trajectories: 10,
                levels: 3,
            })
            .build()
            .map(drop)
    });
    assert!(e.contains("levels") && e.contains("got 3"), "{e}");
    let e = err(|| {
        Study::builder()
            .factor(Factor::linear("x1", 0.0, 1.0))
            .build()
            .map(drop)
    });
    assert!(e.contains("quantit"), "{e}");

    // Against the model.
    let cohort = || {
        Cohort::builder(SleModel::default())
            .patients(2)
            .build()
            .unwrap()
    };
    let q = || Quantity::new("crs_grade_ge2", Statistic::Fraction);
    let e = err(|| {
        CohortStudy::builder(cohort())
            .factor(Factor::linear("no_such_rate_per_day", 0.1, 1.0))
            .quantity(q())
            .build()
            .map(drop)
    });
    assert!(
        e.contains("factor no_such_rate_per_day") && e.contains("unknown factor"),
        "{e}"
    );
    let e = err(|| {
        CohortStudy::builder(cohort())
            .factor(Factor::log("dose:insulin", 1.0, 2.0))
            .quantity(q())
            .build()
            .map(drop)
    });
    assert!(
        e.contains("factor dose:insulin") && e.contains("unknown dose input"),
        "{e}"
    );
    let e = err(|| {
        CohortStudy::builder(cohort())
            .factor(Factor::linear("effector_proliferation_per_day", -1.0, 1.0))
            .quantity(q())
            .build()
            .map(drop)
    });
    assert!(
        e.contains("factor effector_proliferation_per_day") && e.contains("lower bound -1"),
        "{e}"
    );
    let e = err(|| {
        CohortStudy::builder(cohort())
            .factor(Factor::log("effector_proliferation_per_day", 0.5, 1.0))
            .quantity(Quantity::new("no_such_endpoint", Statistic::Mean))
            .build()
            .map(drop)
    });
    assert!(
        e.contains("no_such_endpoint") && e.contains("unknown endpoint"),
        "{e}"
    );
}

const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/sensitivity.toml");

#[test]
fn the_shipped_scenario_builds_its_study_and_round_trips() {
    use cartsim::io::scenario::Scenario;
    let s = Scenario::from_path(SCENARIO).unwrap();
    let study = CohortStudy::from_scenario(&s).unwrap().unwrap();
    assert_eq!(study.study().evaluations(), 64 * 6);
    assert_eq!(study.cohort().n_patients(), 50);
    assert_eq!(study.quantities()[0].label(), "b_cell_reappearance_day:q50");
    let back = Scenario::from_toml_str(&s.to_toml_string().unwrap()).unwrap();
    assert_eq!(back, s);
    // No table, no study.
    let plain = Scenario::mackensen_2022();
    assert!(CohortStudy::from_scenario(&plain).unwrap().is_none());
}

#[test]
fn bad_sensitivity_tables_name_the_key_and_line() {
    use cartsim::io::scenario::Scenario;
    let text = std::fs::read_to_string(SCENARIO).unwrap();
    let check = |from: &str, to: &str, key: &str, words: &[&str]| {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let e = match Scenario::from_toml_str(&bad) {
            Err(Error::Scenario(e)) => e,
            other => panic!("expected a scenario error for {to}, got {other:?}"),
        };
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.line.is_some(), "{e}");
        let msg = e.to_string();
        for w in words {
            assert!(msg.contains(w), "`{w}` not in: {msg}");
        }
    };
    check(
        "lower = 0.1\nupper = 0.4",
        "lower = 0.4\nupper = 0.4",
        "sensitivity.factors[1].upper",
        &[
            "effector_death_per_day",
            "lower bound 0.4 must be < upper bound 0.4",
        ],
    );
    check(
        "name = \"effector_death_per_day\"",
        "name = \"effector_dearth_per_day\"",
        "sensitivity.factors[1].name",
        &["unknown factor `effector_dearth_per_day`"],
    );
    check(
        "samples = 64 ",
        "samples = 8 ",
        "sensitivity.samples",
        &["16 to 65536", "got 8"],
    );
    check(
        "lower = 1e5",
        "lower = -1e5",
        "sensitivity.factors[3].lower",
        &["dose:car_t", "-100000"],
    );
    check(
        "statistic = \"median\"",
        "statistic = \"quantile\"\nq = 1.5",
        "sensitivity.quantities[0].q",
        &["got 1.5"],
    );
    check(
        "name = \"effector_death_per_day\"",
        "name = \"covariate:shoe_size\"",
        "sensitivity.factors[1].name",
        &["unknown covariate `shoe_size`"],
    );
    check(
        "endpoint = \"relapse\"",
        "endpoint = \"relapses\"",
        "sensitivity.quantities[2].endpoint",
        &["unknown endpoint `relapses`"],
    );
    check(
        "method = \"sobol\" ",
        "method = \"fast\" ",
        "sensitivity.method",
        &["unknown variant `fast`"],
    );
}

#[test]
fn covariate_factors_move_the_same_patients() {
    let cohort = Cohort::builder(SleModel::default())
        .patients(4)
        .seed(5)
        .build()
        .unwrap();
    let study = CohortStudy::builder(cohort)
        .factor(Factor::log(
            "covariate:baseline_b_cells_per_ul",
            100.0,
            400.0,
        ))
        .factor(Factor::linear("covariate:female_fraction", 0.5, 1.0))
        .quantity(Quantity::new("b_cell_reappearance_day", Statistic::Mean))
        .method(Method::morris(2))
        .bootstrap(10)
        .build()
        .unwrap();
    let lo = study.cohort_at(&[100.0, 1.0]).unwrap();
    let hi = study.cohort_at(&[400.0, 1.0]).unwrap();
    for id in 0..4 {
        let (a, b) = (lo.sample_patient(id).0, hi.sample_patient(id).0);
        assert_eq!(a.sex, Sex::Female);
        assert_eq!(a.age_years, b.age_years);
        // Same draw: the baseline scales with the median (unless clipped).
        let ratio = b.baseline_b_cells_per_ul / a.baseline_b_cells_per_ul;
        assert!(ratio > 1.0 && ratio <= 4.0 + 1e-9, "{ratio}");
    }
    let out = study.run().unwrap();
    assert_eq!(out.cohort_simulations, 6);
    let e = err(|| {
        CohortStudy::builder(
            Cohort::builder(SleModel::default())
                .patients(2)
                .build()
                .unwrap(),
        )
        .factor(Factor::linear("covariate:female_fraction", 0.5, 1.5))
        .quantity(Quantity::new("relapse", Statistic::Fraction))
        .build()
        .map(drop)
    });
    assert!(
        e.contains("factor covariate:female_fraction") && e.contains("1.5"),
        "{e}"
    );
    let e = err(|| {
        CohortStudy::builder(
            Cohort::builder(SleModel::default())
                .patients(2)
                .build()
                .unwrap(),
        )
        .factor(Factor::linear("covariate:shoe_size", 1.0, 2.0))
        .quantity(Quantity::new("relapse", Statistic::Fraction))
        .build()
        .map(drop)
    });
    assert!(e.contains("unknown covariate `shoe_size`"), "{e}");
}

/// Product attributes are factors too: `product:<attribute>` applies the cohort's product again
/// with the attribute in place (here the Erlangen product's memory persistence), before any
/// typical-value factor, so a shorter persistence brings B cells back earlier on the same
/// patients; unknown or invalid attributes are refused naming the factor.
#[test]
fn product_attributes_are_factors() {
    let cohort = Cohort::builder(SleModel::default())
        .patients(8)
        .seed(3)
        .build()
        .unwrap();
    let study = CohortStudy::builder(cohort.clone())
        .factor(Factor::log("product:persistence_factor", 0.25, 1.0))
        .factor(Factor::log("effector_proliferation_per_day", 0.4, 0.5))
        .quantity(Quantity::new(
            "b_cell_reappearance_day",
            Statistic::Quantile(0.5),
        ))
        .method(Method::sobol(16))
        .seed(1)
        .build()
        .unwrap();
    let (short, _) = study.evaluate(&[0.25, 0.455]).unwrap();
    let (long, _) = study.evaluate(&[1.0, 0.455]).unwrap();
    assert!(
        short[0] + 10.0 < long[0],
        "return {} vs {}",
        short[0],
        long[0]
    );
    // The typical-value factor still applies on top of the product.
    let c = study.cohort_at(&[0.25, 0.42]).unwrap();
    let rho = cohort
        .model()
        .param_index("effector_proliferation_per_day")
        .unwrap();
    assert_eq!(c.typical_values()[rho], 0.42);
    assert_eq!(c.product().map(|p| p.persistence_factor), Some(0.25));
    for (name, lo, want) in [
        ("product:half_life", 0.5, "unknown product attribute"),
        ("product:persistence_factor", -1.0, "must be > 0"),
    ] {
        let e = CohortStudy::builder(cohort.clone())
            .factor(Factor::linear(name, lo, 1.0))
            .quantity(Quantity::new("crs_grade_ge2", Statistic::Fraction))
            .build()
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("factor {name}")) && e.contains(want),
            "{e}"
        );
    }
}
