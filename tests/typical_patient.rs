//! Published targets (MODEL.md §1) for the typical SLE patient (PROTOTYPE.md §3) treated with the
//! Mackensen 2022 regimen: Flu/Cy on days −5..−3, 1e6 CAR-T cells/kg on day 0.
//!
//! The patient is simulated once per test binary and shared by every test.

mod common;

use std::sync::OnceLock;

use cartsim::prelude::*;
use common::{endpoint, output};

fn sim() -> &'static Simulation {
    static SIM: OnceLock<Simulation> = OnceLock::new();
    SIM.get_or_init(|| common::typical_sle().simulate().unwrap())
}

/// Blood T cells minus CAR-T: the host T cells, cells/µL, at `day`.
fn host_t_cells_at(day: f64) -> f64 {
    let s = sim();
    s.output_at("t_cells_per_ul", day).unwrap() - s.output_at("car_t_cells_per_ul", day).unwrap()
}

#[test]
fn car_t_peak_day_7_to_12_mackensen_2022_fig2() {
    // MODEL.md §1: CAR-T peak in blood around day 9 (individual peaks ~day 7–14), Mackensen 2022
    // Fig. 2; the typical patient sits in the middle of that range.
    let day = endpoint(sim(), "car_t_peak_day");
    assert!((7.0..=12.0).contains(&day), "CAR-T peak day {day}");
}

#[test]
fn car_t_peak_level_tens_to_low_hundreds_per_ul() {
    // MODEL.md §1: CAR-T peak level tens to low hundreds of CAR-T cells/µL (Mackensen 2022).
    let peak = endpoint(sim(), "car_t_peak_cells_per_ul");
    assert!((10.0..=300.0).contains(&peak), "CAR-T peak {peak} cells/µL");
    // The endpoint is the maximum of the output after infusion.
    let max = output(sim(), "car_t_cells_per_ul")
        .iter()
        .copied()
        .fold(0.0, f64::max);
    assert!(
        peak >= max && peak < 1.05 * max,
        "peak {peak} vs grid max {max}"
    );
}

#[test]
fn b_cells_depleted_within_14_days_mackensen_2022() {
    // MODEL.md §1: deep B-cell depletion, circulating CD19+ B ≈ 0/µL within days of infusion
    // (Mackensen 2022); threshold 1 cell/µL (MODEL.md §2.12).
    let s = sim();
    let b14 = endpoint(s, "b_cells_day14_cells_per_ul");
    assert!(b14 < 1.0, "B cells at day 14: {b14}/µL");
    let dep = endpoint(s, "b_cell_depletion_day");
    assert!(dep > 0.0 && dep <= 14.0, "B-cell depletion day {dep}");
    assert_eq!(endpoint(s, "b_depleted_day14"), 1.0);
    // Before therapy the B cells are at the baseline covariate (steady state).
    let b0 = s.output_at("b_cells_per_ul", -6.0).unwrap();
    assert!((b0 - 200.0).abs() < 1e-9 * 200.0, "baseline B {b0}/µL");
}

#[test]
fn b_cells_reappear_day_80_to_140_mackensen_2022() {
    // MODEL.md §1: B-cell reappearance 110 ± 32 days after infusion (Mackensen 2022 abstract);
    // the typical patient lies within about one SD of the mean.
    let s = sim();
    let day = endpoint(s, "b_cell_reappearance_day");
    assert!(
        (80.0..=140.0).contains(&day),
        "B-cell reappearance day {day}"
    );
    // And the returning cells are really there: above threshold a month later.
    let b = s.output_at("b_cells_per_ul", day + 30.0).unwrap();
    assert!(b > 1.0, "B cells 30 days after reappearance: {b}/µL");
}

#[test]
fn returning_b_cells_are_naive_mackensen_2022() {
    // MODEL.md §1: returning B cells are naive; the autoreactive memory compartment does not come
    // back (Mackensen 2022).
    assert_eq!(endpoint(sim(), "autoreactive_eliminated"), 1.0);
}

#[test]
fn anti_dsdna_negative_by_month_3_mackensen_2022() {
    // MODEL.md §1: seroconversion to anti-dsDNA negative in all patients by ~month 3
    // (Mackensen 2022; Mougiakakos 2021).
    let s = sim();
    let day = endpoint(s, "anti_dsdna_negative_day");
    assert!(day > 0.0 && day <= 90.0, "anti-dsDNA negative day {day}");
    assert_eq!(endpoint(s, "anti_dsdna_negative_month3"), 1.0);
}

#[test]
fn remission_at_month_3_mackensen_2022() {
    // MODEL.md §1: SLEDAI-2K median 16 → median 0 (range 0–2) at month 3; DORIS remission 5/5.
    let s = sim();
    assert_eq!(endpoint(s, "remission_month3"), 1.0);
    let sd3 = endpoint(s, "sledai_month3");
    assert!(sd3 < 2.0, "SLEDAI surrogate at month 3: {sd3}");
    let sd0 = s.output_at("sledai", -6.0).unwrap();
    assert!((sd0 - 16.0).abs() < 1e-9, "baseline SLEDAI {sd0}");
}

#[test]
fn crs_mild_grade_at_most_1_mackensen_2022() {
    // MODEL.md §1: CRS mild only, grade 1 in 3/5 and none in 2/5 (Mackensen 2022).
    let s = sim();
    let grade = endpoint(s, "crs_grade");
    assert!(grade <= 1.0, "CRS grade {grade}");
    assert_eq!(endpoint(s, "crs_grade_ge2"), 0.0);
    // The grade agrees with the IL-6 peak and the default thresholds (20, 100 pg/mL).
    let il6 = endpoint(s, "il6_peak_pg_per_ml");
    assert_eq!(
        grade,
        if il6 >= 20.0 { 1.0 } else { 0.0 },
        "IL-6 peak {il6}"
    );
}

#[test]
fn memory_car_t_persist_at_day_90_far_below_peak() {
    // MODEL.md §1: CAR-T fall to low levels after ~1 month, low-level detection for months.
    let s = sim();
    let memory90 = s.output_at("car_t_memory_cells_per_ul", 90.0).unwrap();
    assert!(
        memory90 > 0.01,
        "memory CAR-T at day 90: {memory90}/µL (LOD 0.01/µL)"
    );
    let peak = endpoint(s, "car_t_peak_cells_per_ul");
    let day90 = endpoint(s, "car_t_day90_cells_per_ul");
    assert!(day90 < 0.1 * peak, "CAR-T day 90 {day90} vs peak {peak}");
    assert!(
        memory90 <= day90 * (1.0 + 1e-12),
        "memory is part of the CAR-T total"
    );
}

#[test]
fn car_t_detection_window_ends_where_blood_car_t_cross_the_limit_months_after_infusion() {
    // MODEL.md §1: low-level detection for months. The window's end is the last crossing of the
    // detection limit, located on the dense output: the output is above the limit just before
    // it and below it from then on.
    let s = sim();
    let limit = cartsim::model::sle::SleDefinitions::default().car_t_detection_per_ul;
    let end = endpoint(s, "car_t_undetectable_day");
    assert!((90.0..=365.0).contains(&end), "detection ends on day {end}");
    let before = s.output_at("car_t_cells_per_ul", end - 0.5).unwrap();
    let after = s.output_at("car_t_cells_per_ul", end + 0.5).unwrap();
    assert!(
        before > limit && after < limit,
        "{before} / {after} around day {end}"
    );
    let car_t = output(s, "car_t_cells_per_ul");
    for (t, v) in s.trajectory.times().zip(car_t) {
        if t > end + 0.5 {
            assert!(
                *v < limit,
                "CAR-T {v}/µL on day {t}, after the window ended on day {end}"
            );
        }
    }
}

#[test]
fn host_t_cells_depleted_at_day_0_and_recovering_by_day_60() {
    // MODEL.md §2.9–2.10: lymphodepletion drives host T cells to a nadir (Kimmel 2021), then
    // they recover by Gompertz growth towards the set point (baseline 1000/µL).
    let t0 = host_t_cells_at(0.0);
    assert!(t0 < 200.0, "host T at day 0: {t0}/µL");
    let t60 = host_t_cells_at(60.0);
    assert!(t60 > 500.0, "host T at day 60: {t60}/µL");
    // The endpoint is the blood T count (host + CAR-T) at day 0.
    let ep = endpoint(sim(), "t_cells_day0_cells_per_ul");
    assert!(ep < 200.0 && ep >= t0, "t_cells_day0 {ep} vs host {t0}");
}

#[test]
fn fludarabine_auc_near_oncology_optimum_fabrizio_2022() {
    // MODEL.md §2.9: cumulative F-ara-A AUC; oncology optimum ≥ 13.8 mg·h/L (Fabrizio 2022).
    let auc = endpoint(sim(), "fludarabine_auc_mg_h_per_l");
    assert!((10.0..=20.0).contains(&auc), "F-ara-A AUC {auc} mg·h/L");
}

#[test]
fn outputs_finite_and_non_negative_everywhere() {
    let s = sim();
    assert_eq!(s.trajectory.n_outputs(), s.output_info.len());
    assert_eq!(
        s.trajectory.len(),
        ((365.0 + 6.0) / SolverOptions::default().output_step_day) as usize + 1
    );
    for (k, info) in s.output_info.iter().enumerate() {
        for (i, &v) in s.trajectory.output(k).iter().enumerate() {
            assert!(
                v.is_finite() && v >= 0.0,
                "{} = {v} at day {}",
                info.name,
                s.trajectory.time(i)
            );
        }
    }
    for (info, &v) in s.endpoint_info.iter().zip(&s.endpoints) {
        if info.name == "relapse_day" {
            // Undefined: the typical patient does not relapse (see the next test).
            assert!(v.is_nan(), "relapse_day = {v}");
        } else {
            assert!(v.is_finite(), "endpoint {} = {v}", info.name);
        }
    }
}

#[test]
fn autoreactive_clone_dies_out_lasting_remission_mackensen_2022() {
    // Drug-free remission maintained after B-cell return (Mackensen 2022): the clone falls
    // below 100 cells while CAR-T still kill, and the birth–death step ends in extinction.
    let s = sim();
    assert_eq!(endpoint(s, "autoreactive_extinct"), 1.0);
    let day = endpoint(s, "autoreactive_extinction_day");
    assert!(day > 0.0 && day < 60.0, "extinction day {day}");
    assert_eq!(endpoint(s, "relapse"), 0.0);
    assert_eq!(endpoint(s, "lasting_remission"), 1.0);
}
