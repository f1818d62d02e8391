//! Calibration, virtual-population selection and the stochastic relapse step:
//! - the calibration tool recovers perturbed typical values from their own targets (< 5%);
//! - accept/reject selection reproduces a target distribution within sampling error;
//! - the exact birth–death simulation matches known extinction probabilities;
//! - a weaker CAR-T product or a lower dose raises the probability of relapse.

use cartsim::calibrate::vpop::{Criterion, TargetDistribution, select, select_records};
use cartsim::calibrate::{Calibration, CalibrationTarget, Fit, Statistic};
use cartsim::cohort::Cohort;
use cartsim::model::birth_death::{BirthDeathRates, ConstantRates, Fate, simulate_clone};
use cartsim::model::sle::SLE_STATES;
use cartsim::prelude::*;
use cartsim::variability::{Iiv, stochastic_rng};
use rand_distr::{Distribution, StandardNormal};

// ---------------------------------------------------------------------------------------------
// Calibration
// ---------------------------------------------------------------------------------------------

/// Targets are the shipped defaults' statistics on a common-random-numbers cohort; the fit
/// starts 20% off on two calibrated parameters and must come back within 5%.
#[test]
fn calibration_recovers_perturbed_typical_values_within_5_percent() {
    let model = SleModel::default();
    let names = ["effector_to_memory_per_day", "memory_death_per_day"];
    let shipped: Vec<f64> = names
        .iter()
        .map(|n| model.parameters()[model.param_index(n).unwrap()].default)
        .collect();
    let stats = [
        ("car_t_day90_cells_per_ul", Statistic::Mean),
        ("b_cell_reappearance_day", Statistic::Mean),
        ("b_cell_reappearance_day", Statistic::Sd),
        ("b_cell_reappearance_day", Statistic::Quantile(0.25)),
    ];
    let cohort = Cohort::builder(model).patients(80).seed(5).build().unwrap();
    let mut base = Calibration::builder(cohort);
    for n in names {
        base = base.fit(Fit::typical(n));
    }
    let probe = base
        .clone()
        .targets(
            stats
                .iter()
                .map(|&(e, s)| CalibrationTarget::new(e, s, 0.0, 1.0)),
        )
        .build()
        .unwrap();
    let (reference, failed) = probe.simulate_statistics(&shipped).unwrap();
    assert_eq!(failed, 0);
    let targets = stats
        .iter()
        .zip(&reference)
        .map(|(&(e, s), &v)| CalibrationTarget::new(e, s, v, 0.01 * v));
    let start = vec![shipped[0] * 1.2, shipped[1] * 0.8];
    let cal = base.targets(targets).start(start.clone()).build().unwrap();
    let res = cal.run().unwrap();
    for j in 0..2 {
        let err = (res.fitted[j] / shipped[j] - 1.0).abs();
        assert!(
            err < 0.05,
            "{}: fitted {} vs shipped {} (start {})",
            names[j],
            res.fitted[j],
            shipped[j],
            start[j]
        );
    }
    // The loss history is non-increasing and ends far below the start.
    let best = res.best_loss_history();
    assert!(best.windows(2).all(|w| w[1] <= w[0]));
    assert!(
        res.loss < 1e-3 * best[0],
        "loss {} from {}",
        res.loss,
        best[0]
    );
    assert_eq!(
        res.typical_values.len(),
        SleModel::default().parameters().len()
    );
}

#[test]
fn calibration_can_fit_an_omega_to_a_spread() {
    // The SD of B-cell return carries the ω of the maturation delay: fit it back from 0.25.
    let model = SleModel::default();
    let cohort = Cohort::builder(model).patients(80).seed(2).build().unwrap();
    let base = Calibration::builder(cohort).fit(Fit::omega("maturation_delay_day"));
    let probe = base
        .clone()
        .target(CalibrationTarget::new(
            "b_cell_reappearance_day",
            Statistic::Sd,
            0.0,
            1.0,
        ))
        .build()
        .unwrap();
    let (sd, _) = probe.simulate_statistics(&[0.15]).unwrap();
    let cal = base
        .target(CalibrationTarget::new(
            "b_cell_reappearance_day",
            Statistic::Sd,
            sd[0],
            0.01 * sd[0],
        ))
        .start(vec![0.25])
        .build()
        .unwrap();
    let res = cal.run().unwrap();
    assert!(
        (res.fitted[0] / 0.15 - 1.0).abs() < 0.05,
        "ω fitted {} vs 0.15",
        res.fitted[0]
    );
}

#[test]
fn calibration_rejects_bad_specifications() {
    let cohort = Cohort::builder(SleModel::default())
        .patients(10)
        .build()
        .unwrap();
    let t = CalibrationTarget::new("b_cell_reappearance_day", Statistic::Mean, 110.0, 10.0);
    let e = Calibration::builder(cohort.clone())
        .fit(Fit::typical("no_such_parameter"))
        .target(t.clone())
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("no_such_parameter"), "{e}");
    let e = Calibration::builder(cohort.clone())
        .fit(Fit::typical("memory_death_per_day"))
        .target(CalibrationTarget::new("nope", Statistic::Mean, 1.0, 1.0))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("unknown endpoint"), "{e}");
    let e = Calibration::builder(cohort.clone())
        .fit(Fit::typical("memory_death_per_day"))
        .target(CalibrationTarget::new(
            "b_cell_reappearance_day",
            Statistic::Mean,
            110.0,
            0.0,
        ))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let e = Calibration::builder(cohort.clone())
        .fit(Fit::omega("blood_fraction"))
        .target(t.clone())
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not in Ω"), "{e}");
    let e = Calibration::builder(cohort.clone())
        .fit(Fit::typical("memory_death_per_day").bounds(0.01, 0.1))
        .start(vec![0.5])
        .target(t)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("start"), "{e}");
}

/// The fit simulates the cohort the user built: its regimen and parameter-uncertainty draw
/// reach every evaluation (before, calibration rebuilt a cohort from its own copy of a few
/// settings, so neither did), the drawn typical values are the start and stay in place for the
/// unfitted parameters, and a statistic equals the one of the user's cohort run directly.
#[test]
fn calibration_simulates_the_users_cohort() {
    let model = SleModel::default();
    let unc = Iiv::diagonal(
        "uncertainty",
        &[
            ("effector_proliferation_per_day", 0.2),
            ("effector_to_memory_per_day", 0.2),
        ],
    )
    .unwrap();
    let cohort = Cohort::builder(model)
        .patients(40)
        .seed(3)
        .regimen(Regimen::flu_cy(3e5, 25.0, 1000.0))
        .uncertainty(unc, 2)
        .build()
        .unwrap();
    let peak = CalibrationTarget::new("car_t_peak_cells_per_ul", Statistic::Mean, 0.0, 1.0);
    let name = "effector_to_memory_per_day";
    let k = model.param_index(name).unwrap();
    let cal = Calibration::builder(cohort.clone())
        .fit(Fit::typical(name))
        .target(peak.clone())
        .build()
        .unwrap();
    assert_ne!(cohort.typical_values()[k], model.parameters()[k].default);
    assert_eq!(cal.start_values(), &[cohort.typical_values()[k]]);
    assert_eq!(cal.cohort().typical_values(), cohort.typical_values());
    assert_eq!(cal.cohort().regimen(), cohort.regimen());

    let v = 0.012;
    let (stats, failed) = cal.simulate_statistics(&[v]).unwrap();
    assert_eq!(failed, 0);
    let mut typical = cohort.typical_values().to_vec();
    typical[k] = v;
    let at_v = cohort.with_typical_values(typical).unwrap();
    assert_eq!(
        cal.cohort_at(&[v]).unwrap().typical_values(),
        at_v.typical_values()
    );
    let e = model
        .endpoint_info()
        .iter()
        .position(|i| i.name == "car_t_peak_cells_per_ul")
        .unwrap();
    let peaks: Vec<f64> = at_v
        .run()
        .unwrap()
        .records
        .iter()
        .map(|r| r.endpoints[e])
        .collect();
    assert_eq!(stats[0].to_bits(), Statistic::Mean.of(&peaks).to_bits());

    // The model's defaults on the same patients give another statistic.
    let plain = Cohort::builder(model).patients(40).seed(3).build().unwrap();
    let plain = Calibration::builder(plain)
        .fit(Fit::typical(name))
        .target(peak)
        .build()
        .unwrap();
    let (plain_stats, _) = plain.simulate_statistics(&[v]).unwrap();
    assert!(
        (plain_stats[0] / stats[0] - 1.0).abs() > 0.01,
        "{plain_stats:?} vs {stats:?}"
    );

    // Derived cohorts validate what they take.
    assert!(cohort.with_typical_values(vec![1.0; 3]).is_err());
    let unknown = Iiv::diagonal("omega", &[("no_such_parameter", 0.1)]).unwrap();
    assert!(cohort.with_iiv(unknown).is_err());
}

// ---------------------------------------------------------------------------------------------
// Virtual-population selection
// ---------------------------------------------------------------------------------------------

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (m, s)
}

/// Plausible N(0, 1), target N(0.5, 0.7): the selected population's mean, SD and whole
/// distribution (Kolmogorov–Smirnov distance) match the target within sampling error.
#[test]
fn selection_matches_a_target_distribution_within_sampling_error() {
    let n = 20_000u64;
    let ids: Vec<u64> = (0..n).collect();
    let x: Vec<f64> = ids
        .iter()
        .map(|&i| StandardNormal.sample(&mut stochastic_rng(99, i)))
        .collect();
    let target = TargetDistribution::Normal { mean: 0.5, sd: 0.7 };
    let crit = Criterion {
        name: "x".into(),
        values: x.clone(),
        target: target.clone(),
    };
    let sel = select(&ids, std::slice::from_ref(&crit), 40, 7).unwrap();
    let picked: Vec<f64> = sel.accepted.iter().map(|&i| x[i]).collect();
    let m = picked.len() as f64;
    assert!(sel.acceptance_rate > 0.2 && sel.acceptance_rate < 0.9);
    assert!(
        (sel.acceptance_rate - sel.expected_acceptance_rate).abs() < 4.0 * (0.25 / n as f64).sqrt()
    );
    let (mean, sd) = mean_sd(&picked);
    // SE of the mean 0.7/√m; binning adds < 0.01.
    assert!(
        (mean - 0.5).abs() < 4.0 * 0.7 / m.sqrt() + 0.01,
        "mean {mean} (n {m})"
    );
    // SE of the SD ≈ 0.7/√(2m).
    assert!(
        (sd - 0.7).abs() < 4.0 * 0.7 / (2.0 * m).sqrt() + 0.01,
        "sd {sd} (n {m})"
    );
    let mut s = picked.clone();
    s.sort_by(f64::total_cmp);
    let ks = s
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = target.cdf(v);
            (f - i as f64 / m).abs().max((f - (i + 1) as f64 / m).abs())
        })
        .fold(0.0, f64::max);
    // 1.63/√m is the 1% critical value; binning adds ≲ 1/(2·40).
    assert!(ks < 1.63 / m.sqrt() + 0.0125, "KS distance {ks} (n {m})");
    // Deterministic given the seed; another seed accepts other patients.
    assert_eq!(
        select(&ids, std::slice::from_ref(&crit), 40, 7).unwrap(),
        sel
    );
    assert_ne!(select(&ids, &[crit], 40, 8).unwrap().accepted, sel.accepted);
}

#[test]
fn selection_on_a_cohort_reports_acceptance() {
    let cohort = Cohort::builder(SleModel::default())
        .patients(600)
        .seed(3)
        .build()
        .unwrap();
    let result = cohort.run().unwrap();
    let info = cohort.model().endpoint_info();
    // Ask for a virtual population with B-cell return 120 ± 20 days.
    let sel = select_records(
        &result.records,
        info,
        &[(
            "b_cell_reappearance_day",
            TargetDistribution::Normal {
                mean: 120.0,
                sd: 20.0,
            },
        )],
        15,
        1,
    )
    .unwrap();
    let k = info
        .iter()
        .position(|e| e.name == "b_cell_reappearance_day")
        .unwrap();
    let v: Vec<f64> = sel
        .accepted
        .iter()
        .map(|&i| result.records[i].endpoints[k])
        .collect();
    let (m, sd) = mean_sd(&v);
    assert!(sel.acceptance_rate > 0.1, "{}", sel.acceptance_rate);
    assert!(
        (m - 120.0).abs() < 4.0 * 20.0 / (v.len() as f64).sqrt() + 2.0,
        "mean {m}"
    );
    assert!((sd - 20.0).abs() < 5.0, "sd {sd}");
    let e = select_records(
        &result.records,
        info,
        &[("nope", TargetDistribution::Uniform { min: 0.0, max: 1.0 })],
        10,
        1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown endpoint"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Birth–death process (extinction / relapse machinery)
// ---------------------------------------------------------------------------------------------

fn extinct_fraction(rates: &impl BirthDeathRates, n0: u64, stop: u64, runs: u64) -> f64 {
    let mut ext = 0u64;
    for id in 0..runs {
        match simulate_clone(rates, n0, 0.0, 1e5, stop, 0.5, &mut stochastic_rng(17, id)) {
            Fate::Extinct { .. } => ext += 1,
            Fate::Established { .. } => {}
            Fate::Alive { cells } => panic!("run {id} still alive with {cells} cells"),
        }
    }
    ext as f64 / runs as f64
}

#[test]
fn subcritical_birth_death_always_goes_extinct() {
    // b < d: extinction is certain, from any start.
    let r = ConstantRates {
        birth_per_day: 0.5,
        death_per_day: 1.0,
    };
    assert_eq!(r.ultimate_extinction(20), 1.0);
    assert_eq!(extinct_fraction(&r, 20, 1_000_000, 2000), 1.0);
}

#[test]
fn supercritical_birth_death_goes_extinct_with_probability_d_over_b_to_the_n() {
    for (b, d, n0, runs) in [
        (1.0, 0.5, 3u64, 20_000u64),
        (2.0, 1.0, 1, 20_000),
        (1.0, 0.8, 4, 10_000),
    ] {
        let r = ConstantRates {
            birth_per_day: b,
            death_per_day: d,
        };
        let stop = 400;
        let exact = r.extinction_before(n0, stop);
        assert!((exact - (d / b).powi(n0 as i32)).abs() < 1e-12 + 1e-3 * exact);
        let p = extinct_fraction(&r, n0, stop, runs);
        let se = (exact * (1.0 - exact) / runs as f64).sqrt();
        assert!(
            (p - exact).abs() < 4.0 * se,
            "b {b}, d {d}, n {n0}: simulated {p} vs (d/b)^n {exact} (SE {se})"
        );
    }
}

/// Death rate 3/day for one day (CAR-T pressure), then 0.5/day, birth 1/day: exact ultimate
/// extinction from Kendall (1948), `p = 1 − 1/∫₀^∞ b·e^{ρ(s)} ds` per cell with
/// `ρ(t) = ∫₀^t (d − b)`, i.e. `p = 1 − 1/(2.5·e² − 0.5)`.
#[test]
fn time_varying_birth_death_matches_kendall() {
    struct Pulse;
    impl BirthDeathRates for Pulse {
        fn birth_per_day(&self, _t: f64, _n: u64) -> f64 {
            1.0
        }
        fn death_per_day(&self, t: f64, _n: u64) -> f64 {
            if t < 1.0 { 3.0 } else { 0.5 }
        }
        fn bounds(&self, t0: f64, _t1: f64) -> (f64, f64) {
            (if t0 < 1.0 { 4.0 } else { 1.5 }, 0.0)
        }
    }
    let e2 = 1f64.exp().powi(2);
    let p1 = 1.0 - 1.0 / (2.5 * e2 - 0.5);
    let exact = p1 * p1;
    let runs = 20_000;
    let p = extinct_fraction(&Pulse, 2, 300, runs);
    let se = (exact * (1.0 - exact) / runs as f64).sqrt();
    assert!(
        (p - exact).abs() < 4.0 * se,
        "simulated {p} vs exact {exact}"
    );
}

// ---------------------------------------------------------------------------------------------
// Relapse: weaker product or lower dose
// ---------------------------------------------------------------------------------------------

fn relapse_stats(cohort: &Cohort<SleModel, SLE_STATES>) -> (f64, f64, f64) {
    let r = cohort.run().unwrap();
    let info = cohort.model().endpoint_info();
    let f = |name: &str| {
        let k = info.iter().position(|e| e.name == name).unwrap();
        r.records.iter().map(|p| p.endpoints[k]).sum::<f64>() / r.records.len() as f64
    };
    (
        f("relapse"),
        1.0 - f("autoreactive_extinct"),
        f("lasting_remission"),
    )
}

/// Relapse after response is rare under the Erlangen regimen and rises with a lower dose, a
/// weaker product and shorter CAR-T persistence (MODEL.md §7; issue 17 item 4).
#[test]
fn weaker_product_lower_dose_or_shorter_persistence_raise_relapse_probability() {
    let n = 400;
    let default = Cohort::builder(SleModel::default())
        .patients(n)
        .seed(1)
        .build()
        .unwrap();
    let low_dose = default
        .with_regimen(Regimen::flu_cy(1e5, 25.0, 1000.0))
        .unwrap();
    let with = |f: &dyn Fn(&mut SleParams)| {
        let mut p = SleModel::default().default_params();
        f(&mut p);
        Cohort::builder(SleModel::default())
            .patients(n)
            .seed(1)
            .typical_params(&p)
            .build()
            .unwrap()
    };
    let weak = with(&|p| p.effector_proliferation_per_day *= 0.7);
    let short = with(&|p| p.memory_death_per_day *= 10.0);
    let (rel_d, esc_d, last_d) = relapse_stats(&default);
    let (rel_l, esc_l, last_l) = relapse_stats(&low_dose);
    let (rel_w, esc_w, last_w) = relapse_stats(&weak);
    let (rel_s, esc_s, last_s) = relapse_stats(&short);
    println!("default: relapse {rel_d}, clone not extinct {esc_d}, lasting {last_d}");
    println!("1e5/kg:  relapse {rel_l}, clone not extinct {esc_l}, lasting {last_l}");
    println!("ρ × 0.7: relapse {rel_w}, clone not extinct {esc_w}, lasting {last_w}");
    println!("δ_M × 10: relapse {rel_s}, clone not extinct {esc_s}, lasting {last_s}");
    // A few percent within the year (Erlangen programme: 1 relapse among > 40 patients).
    assert!((0.005..=0.13).contains(&rel_d), "default relapse {rel_d}");
    // Binomial SE at n = 400 is ≤ 0.025: the differences below are ≥ 2 SE.
    assert!(
        rel_l > rel_d + 0.08,
        "1e5/kg relapse {rel_l} vs default {rel_d}"
    );
    assert!(
        esc_l > esc_d + 0.08,
        "1e5/kg escape {esc_l} vs default {esc_d}"
    );
    assert!(
        rel_w > rel_d,
        "weak product relapse {rel_w} vs default {rel_d}"
    );
    assert!(
        rel_s > rel_d + 0.02,
        "shorter persistence relapse {rel_s} vs default {rel_d}"
    );
    assert!(last_d > last_l && last_d > last_w && last_d > last_s);
}

/// The fate is genuinely random for some patients: at 1e5 cells/kg, re-drawing only the
/// stochastic stream of the same patient (same trajectory) gives extinction in some draws and
/// escape in others.
#[test]
fn the_stochastic_phase_decides_some_fates() {
    let model = SleModel::default();
    let cohort = Cohort::builder(model)
        .patients(200)
        .seed(1)
        .regimen(Regimen::flu_cy(1e5, 25.0, 1000.0))
        .build()
        .unwrap();
    let info = model.endpoint_info();
    let k_ext = info
        .iter()
        .position(|e| e.name == "autoreactive_extinct")
        .unwrap();
    let mut mixed = 0;
    let mut doses = Vec::new();
    for id in 0..200 {
        let (rec, traj) = cohort.simulate_patient(id).unwrap();
        let (cov, values) = cohort.sample_patient(id);
        cohort
            .regimen()
            .resolve_into(model.name(), model.inputs(), &cov, &mut doses)
            .unwrap();
        let patient = model
            .prepare(&model.params_from_values(&values).unwrap(), &cov, &doses)
            .unwrap();
        let mut out = rec.endpoints.clone();
        let draws = 40u64;
        let extinct = (0..draws)
            .filter(|&s| {
                model.stochastic_endpoints(
                    &patient,
                    &traj,
                    &mut stochastic_rng(1000 + s, id),
                    &mut out,
                );
                out[k_ext] == 1.0
            })
            .count() as u64;
        if extinct > 0 && extinct < draws {
            mixed += 1;
        }
    }
    assert!(
        mixed >= 1,
        "no patient with a random fate among 200 at 1e5/kg"
    );
}

/// Relapse after response (issue 17 item 4): patients who depleted and responded relapse
/// months later, after their B cells returned, through new clones founded by recruited naive B
/// cells; without recruitment nobody who depleted relapses. The dependence on the recruitment
/// propensity is graded, not all or nothing.
#[test]
fn relapse_after_response_follows_b_cell_return_and_is_graded() {
    let model = SleModel::default();
    let info = model.endpoint_info();
    let k = |name: &str| info.iter().position(|e| e.name == name).unwrap();
    let (k_rel, k_ret, k_dep) = (
        k("relapse_day"),
        k("b_cell_reappearance_day"),
        k("b_depleted_day14"),
    );
    let run = |k_rec: f64| {
        let mut p = model.default_params();
        p.naive_to_autoreactive_per_day = k_rec;
        Cohort::builder(model)
            .patients(300)
            .seed(1)
            .typical_params(&p)
            .build()
            .unwrap()
            .run()
            .unwrap()
    };
    let mut fractions = Vec::new();
    for k_rec in [0.0, 1e-12, 2e-12, 4e-12, 8e-12] {
        let r = run(k_rec);
        let responders: Vec<_> = r
            .records
            .iter()
            .filter(|p| p.endpoints[k_dep] == 1.0)
            .collect();
        let relapsed: Vec<_> = responders
            .iter()
            .filter(|p| p.endpoints[k_rel].is_finite())
            .collect();
        for p in &relapsed {
            let (rel, ret) = (p.endpoints[k_rel], p.endpoints[k_ret]);
            assert!(
                ret.is_finite() && rel > ret + 60.0,
                "patient {}: relapse day {rel}, B-cell return day {ret}",
                p.id
            );
            assert!(rel > 120.0, "patient {}: relapse day {rel}", p.id);
        }
        let f = relapsed.len() as f64 / responders.len() as f64;
        println!("k_rec {k_rec:e}: relapse among responders {f}");
        fractions.push(f);
    }
    assert_eq!(fractions[0], 0.0, "relapse without recruitment");
    for w in fractions.windows(2) {
        assert!(
            w[1] >= w[0],
            "relapse not increasing with k_rec: {fractions:?}"
        );
        assert!(w[1] - w[0] < 0.25, "all-or-nothing step: {fractions:?}");
    }
    assert!(fractions[4] > fractions[1] + 0.05, "{fractions:?}");
}

/// Remission at month 3 depends on the patient and the regimen (issue 17 item 5): the organ
/// part of the SLEDAI surrogate resolves at the patient's pace, so patients with higher baseline
/// activity and lower doses reach remission less often; the Erlangen cohort stays compatible
/// with DORIS 5/5 (≥ 72%) and a median SLEDAI of 0–2.
#[test]
fn remission_at_month_3_depends_on_baseline_severity_and_dose() {
    let model = SleModel::default();
    let info = model.endpoint_info();
    let k_rem = info
        .iter()
        .position(|e| e.name == "remission_month3")
        .unwrap();
    let default = Cohort::builder(model)
        .patients(1000)
        .seed(1)
        .build()
        .unwrap();
    let r = default.run().unwrap();
    let rate = |recs: &[&cartsim::cohort::PatientRecord]| {
        recs.iter().map(|p| p.endpoints[k_rem]).sum::<f64>() / recs.len() as f64
    };
    let all: Vec<_> = r.records.iter().collect();
    let severe: Vec<_> = all
        .iter()
        .copied()
        .filter(|p| p.covariates.baseline_sledai >= 18.0)
        .collect();
    let mild: Vec<_> = all
        .iter()
        .copied()
        .filter(|p| p.covariates.baseline_sledai <= 10.0)
        .collect();
    let (overall, sev, mil) = (rate(&all), rate(&severe), rate(&mild));
    println!(
        "remission m3: all {overall}, SLEDAI0 ≥ 18 {sev} (n {}), ≤ 10 {mil} (n {})",
        severe.len(),
        mild.len()
    );
    assert!((0.72..0.98).contains(&overall), "remission {overall}");
    assert!(mil > sev + 0.1, "mild {mil} vs severe {sev}");
    let low = default
        .with_regimen(Regimen::flu_cy(1e5, 25.0, 1000.0))
        .unwrap()
        .run()
        .unwrap();
    let low_rate = rate(&low.records.iter().collect::<Vec<_>>());
    assert!(low_rate < overall - 0.08, "1e5/kg {low_rate} vs {overall}");
}
