//! Dose exploration on common random numbers, and parameter uncertainty per replicate.

use cartsim::cohort::Cohort;
use cartsim::cohort::explore::{Arm, explore, flu_cy_grid};
use cartsim::prelude::*;
use cartsim::regimen::RenalAdjustment;
use cartsim::variability::Iiv;

fn base(n: u64) -> Cohort<SleModel, { cartsim::model::sle::SLE_STATES }> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(17)
        .build()
        .unwrap()
}

#[test]
fn arms_share_the_same_virtual_patients() {
    let arms = flu_cy_grid(&[1e5, 1e6], &[(25.0, 1000.0)]);
    assert_eq!(arms[0].label, "1e5/kg flu25 cy1000");
    let res = explore(&base(30), &arms).unwrap();
    assert_eq!(res.len(), 2);
    let (lo, hi) = (&res[0].result, &res[1].result);
    for (a, b) in lo.records.iter().zip(&hi.records) {
        assert_eq!(a.id, b.id);
        assert_eq!(
            a.covariates, b.covariates,
            "common random numbers: same covariates"
        );
        assert_eq!(a.params, b.params, "common random numbers: same parameters");
    }
    // A ten-fold higher CAR-T dose gives a higher CAR-T exposure in every patient.
    let k = SleModel::default()
        .endpoint_info()
        .iter()
        .position(|e| e.name == "car_t_auc_0_28_cells_day_per_ul")
        .unwrap();
    for (a, b) in lo.records.iter().zip(&hi.records) {
        assert!(b.endpoints[k] > a.endpoints[k], "patient {}", a.id);
    }
}

#[test]
fn exploration_rejects_empty_and_duplicate_arms() {
    assert!(explore(&base(5), &[]).is_err());
    let arm = Arm::new("same", Regimen::mackensen_2022());
    let e = explore(&base(5), &[arm.clone(), arm]).unwrap_err();
    assert!(e.to_string().contains("same"), "{e}");
}

#[test]
fn renal_adjustment_lowers_fludarabine_exposure_in_low_egfr_patients() {
    let adjusted = Regimen::mackensen_2022()
        .with_renal_adjustment(
            "fludarabine",
            RenalAdjustment::Proportional {
                reference_egfr_ml_per_min: 90.0,
                min_factor: 0.5,
            },
        )
        .unwrap();
    let res = explore(
        &base(40),
        &[
            Arm::new("standard", Regimen::mackensen_2022()),
            Arm::new("egfr-adjusted", adjusted),
        ],
    )
    .unwrap();
    let k = SleModel::default()
        .endpoint_info()
        .iter()
        .position(|e| e.name == "fludarabine_auc_mg_h_per_l")
        .unwrap();
    let mut reduced = 0;
    for (a, b) in res[0].result.records.iter().zip(&res[1].result.records) {
        let egfr = a.covariates.egfr_ml_per_min;
        let ratio = b.endpoints[k] / a.endpoints[k];
        let expected = (egfr / 90.0).clamp(0.5, 1.0);
        assert!(
            (ratio - expected).abs() < 1e-9,
            "eGFR {egfr}: {ratio} vs {expected}"
        );
        if expected < 1.0 {
            reduced += 1;
        }
    }
    assert!(reduced > 5, "too few low-eGFR patients to test: {reduced}");
}

#[test]
fn parameter_uncertainty_is_per_replicate_and_deterministic() {
    let unc = Iiv::diagonal("uncertainty", &[("effector_proliferation_per_day", 0.1)]).unwrap();
    let build = |rep: u64| {
        Cohort::builder(SleModel::default())
            .patients(4)
            .seed(5)
            .uncertainty(unc.clone(), rep)
            .build()
            .unwrap()
    };
    let i = SleModel::default()
        .param_index("effector_proliferation_per_day")
        .unwrap();
    let (a, a2, b) = (build(0), build(0), build(1));
    let typical = SleModel::default().parameters()[i].default;
    assert_eq!(
        a.typical_values()[i].to_bits(),
        a2.typical_values()[i].to_bits()
    );
    assert_ne!(a.typical_values()[i], b.typical_values()[i]);
    assert_ne!(a.typical_values()[i], typical);
    // Patients' own random effects do not depend on the replicate: same covariates.
    assert_eq!(a.sample_patient(2).0, b.sample_patient(2).0);
}
