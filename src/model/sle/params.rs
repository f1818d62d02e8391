//! Parameters of the SLE CD19 CAR-T model, with units, bounds and provenance.
//!
//! Tags in the sources: *literature* (read in the cited paper), *calibrated* (the target it serves
//! is named; calibrated on the typical patient and default cohort of PROTOTYPE.md §3–4 against
//! MODEL.md §1), *assumption* (with what was checked).

use crate::model::Source::{Assumption, Calibrated, Literature};
use crate::param_table;

param_table! {
    /// Parameters of the SLE model (typical values of the Erlangen cohort).
    ///
    /// Body pools are in 10⁶ cells (Mcells); time in days.
    pub struct SleParams;
    const SLE_PARAMS;
    // --- CAR-T product and kinetics -------------------------------------------------------
    /// Memory-like share of the infused product.
    product_memory_fraction: "f_mem", "1", 0.2, [0.0, 1.0],
        Assumption("memory-like share of the product; moves peak level little");
    /// Maximal antigen-driven effector proliferation rate.
    effector_proliferation_per_day: "ρ", "1/day", 0.455, [0.01, 5.0],
        Calibrated("CAR-T peak day ≈ 9 and peak tens of cells/µL (Mackensen 2022 Fig. 2)");
    /// Half-saturation of the ratio-dependent expansion (Chaudhury 2020 form ρ·E·U/(EC50+E+U)).
    expansion_half_saturation_mcells: "EC50", "1e6 cells", 100.0, [1.0, 1e5],
        Calibrated("CAR-T peak day and level; weakly identified, at its calibration bound");
    /// Maximal homeostatic boost of proliferation when host T cells are depleted (Kimmel 2021).
    homeostatic_boost_max: "h_max", "1", 1.15, [0.0, 20.0],
        Calibrated("trades peak level against peak day");
    /// Shape of the homeostatic boost.
    homeostatic_boost_shape: "a_h", "1", 0.423, [1e-3, 100.0],
        Literature("Kimmel et al., Proc R Soc B 2021;288:20210229");
    /// Divisions at which half the proliferative potential is used up.
    potential_half_divisions: "D50", "divisions", 9.0, [1.0, 50.0],
        Calibrated("finite burst: B < 1/µL by day 14 in ≥ 95% and peak-day median ≥ 8");
    /// Hill exponent of the proliferative-potential decline.
    potential_hill: "n", "1", 4.0, [1.0, 10.0],
        Assumption("steepness of burst end; checked peak day and B return");
    /// Effector CAR-T death rate.
    effector_death_per_day: "δ_E", "1/day", 0.2, [0.01, 5.0],
        Assumption("t½ 3.5 day, order of Stein 2019 α = 0.16/day");
    /// Effector → memory conversion rate.
    effector_to_memory_per_day: "k_EM", "1/day", 0.0102, [0.0, 1.0],
        Calibrated("B-cell reappearance mean 110 days (Mackensen 2022)");
    /// Memory CAR-T death rate.
    memory_death_per_day: "δ_M", "1/day", 0.005, [1e-4, 1.0],
        Calibrated("B-cell reappearance 110 days; order of Stein 2019 β = 0.0032/day");
    /// Maximal antigen-driven memory re-activation rate.
    memory_reactivation_per_day: "a_M", "1/day", 0.1, [0.0, 10.0],
        Assumption("re-activation by antigen; with K_aM checked that B return is not drained");
    /// Antigen at half-maximal memory re-activation.
    memory_reactivation_half_sat_mcells: "K_aM", "1e6 cells", 2e4, [1.0, 1e7],
        Assumption("≈ 1/3 of the baseline B pool; K_aM = 1e3 drains memory (return day 62)");
    /// Most CD19+ targets one CAR-T cell kills per day.
    max_kill_per_car_t_per_day: "k_kill", "1/day", 3.2, [0.0, 100.0],
        Calibrated("B < 1/µL by day 14 and B-cell reappearance 110 days");
    /// Half-saturation of ratio-dependent killing.
    kill_half_saturation_mcells: "K_kill", "1e6 cells", 500.0, [1.0, 1e6],
        Assumption("ratio-dependent killing; checked depletion by day 14");
    /// Killing efficiency of memory-like relative to effector-like CAR-T.
    memory_kill_efficiency: "ε_M", "1", 1.0, [0.0, 10.0],
        Assumption("memory-like cells kill as effectors");
    // --- B lineage ---------------------------------------------------------------------------
    /// Mean maturation delay from CD19+ marrow precursor to naive B (4-stage transit chain).
    maturation_delay_day: "Λ", "day", 20.0, [1.0, 200.0],
        Assumption("3–5 weeks in the literature; Λ = 10/40 moves return to day 88/147");
    /// Naive/transitional B-cell turnover.
    naive_b_turnover_per_day: "d_N", "1/day", 0.02, [1e-3, 1.0],
        Literature("Macallan et al., Blood 2005;105:3633 (≈ 1.9%/day)");
    /// Fraction of the body's lymphocyte pools circulating in blood (tissue ≈ 50× blood).
    blood_fraction: "f_blood", "1", 0.02, [1e-3, 0.5],
        Literature("~2% of lymphocytes are in blood (MODEL.md §2.4)");
    /// Blood volume per kg body weight.
    blood_volume_ml_per_kg: "V_b", "mL/kg", 70.0, [40.0, 120.0],
        Literature("adult blood volume ≈ 70 mL/kg");
    // --- autoreactive compartment ------------------------------------------------------------
    /// Autoreactive memory B cells as a fraction of baseline blood B cells.
    autoreactive_fraction: "Am0/B0", "1", 0.01, [1e-6, 0.5],
        Assumption("2/µL of 200/µL (PROTOTYPE.md §3)");
    /// Net growth rate of a small autoreactive clone (logistic), once autoantigen and T-cell
    /// help drive it: the rate at which a surviving or newly founded clone regrows.
    autoreactive_growth_per_day: "g_A", "1/day", 0.2, [1e-4, 1.0],
        Calibrated("relapse months after B-cell return, not years: 0.2/day (doubling 3.5 days) \
                    puts relapses of the Erlangen regimen at months 7–12 (anti-synthetase \
                    relapse at 9 months, Nat Med 2025) and KYV-101's earliest at months 5–6 \
                    (MODEL.md §7). The resting memory B turnover, 2.66%/day (Macallan et al., \
                    Blood 2005), was the earlier value: regrowth then took ≈ 460 days, so no \
                    relapse fell within a year. Antigen-driven B-cell expansion is faster still \
                    (germinal-centre cycles of 6–12 h)");
    /// Allee (small-clone) death rate of autoreactive memory B cells.
    allee_death_per_day: "δ_x", "1/day", 0.4, [0.0, 2.0],
        Assumption("2·g_A: below ≈ A_x the clone shrinks by itself, elimination is absorbing");
    /// Clone size below which the Allee death dominates.
    allee_scale_mcells: "A_x", "1e6 cells", 1e-5, [1e-9, 10.0],
        Assumption("10 cells: a handful of cells without help dies out (ODE stand-in for \
                    demographic extinction; above it the stochastic relapse phase decides)");
    /// Recruitment of naive B cells into new autoreactive clones (de novo autoreactivity from
    /// the returning naive repertoire, driven by persistent autoantigen).
    naive_to_autoreactive_per_day: "k_rec", "1/day", 2e-12, [0.0, 1e-6],
        Calibrated("relapse after response rare under the Erlangen regimen: one relapse (at 9 \
                    months) among > 40 patients of the Erlangen programme in remission up to \
                    4 years (MODEL.md §7; 95% interval of that share 0.1–13%); 2e-12/day gives \
                    4.6% relapse within a year (2,000 patients, seed 1, measured 2026-12-03: \
                    1e-12 → 2.5%, 3e-12 → 6.9%). Relapse after rituximab in SLE comes after B-cell \
                    repopulation, earlier with faster repopulation (Vital et al., Rheumatology \
                    2012;51:1208)");
    /// Plasmablasts per autoreactive memory B cell at baseline.
    plasmablast_ratio: "Pb0/Am0", "1", 0.2, [1e-3, 10.0],
        Assumption("sets the plasmablast pool at baseline");
    /// Plasmablast death rate.
    plasmablast_death_per_day: "d_PB", "1/day", 0.1733, [0.01, 5.0],
        Assumption("t½ 4 day (MODEL.md §2.6: 3–5 day)");
    /// Long-lived plasma cell death rate.
    llpc_death_per_day: "d_LL", "1/day", 0.0019, [0.0, 1.0],
        Literature("t½ ≈ 1 year; Hoyer et al., J Exp Med 2004");
    /// Share of baseline anti-dsDNA production by CD19− long-lived plasma cells.
    llpc_production_share: "f_LL", "1", 0.01, [0.0, 0.5],
        Assumption("must stay ≲ 2% for seroconversion by month 3 (Mackensen 2022)");
    /// IgG (anti-dsDNA) elimination half-life.
    igg_half_life_day: "t½_IgG", "day", 21.0, [1.0, 100.0],
        Literature("IgG half-life ≈ 21 days");
    // --- disease activity --------------------------------------------------------------------
    /// Anti-dsDNA titre at half-maximal disease drive, as a fraction of the patient's own
    /// baseline titre (`Ab50 = θ_50·Ab0`).
    sledai_half_titre_fraction: "θ_50", "1", 0.3, [1e-3, 1.0],
        Calibrated("remission at month 3 in ≥ 90% and SLEDAI-2K 0–2 at month 3 (Mackensen \
                    2022); relative to baseline by assumption (see the model docs)");
    /// Hill exponent of disease drive by anti-dsDNA.
    sledai_hill: "γ", "1", 3.0, [0.5, 10.0],
        Assumption("steep response of disease activity to titre; checked with θ_50: remission \
                    at month 3 in 98% of the default cohort");
    /// Rate at which the SLEDAI surrogate follows its drive (delay ≈ 10 day).
    sledai_rate_per_day: "k_SD", "1/day", 0.1, [1e-3, 10.0],
        Assumption("organ inflammation resolves over weeks; checked: SLEDAI surrogate median \
                    0.7 (Mackensen 2022: 0, range 0–2) at month 3");
    /// Share of the baseline SLEDAI-2K surrogate carried by organ involvement (nephritis,
    /// serositis, skin, arthritis) that follows autoreactive B-cell activity and resolves at
    /// the organ's own pace, not with anti-dsDNA.
    organ_activity_share: "φ_O", "1", 0.5, [0.0, 1.0],
        Assumption("SLEDAI-2K counts serology (anti-dsDNA, complement) as 4 of a typical 14–16 \
                    points and nephritis as up to 16; half of baseline activity is organ \
                    involvement (logit-normal spread across patients, ω 1.0)");
    /// Rate at which organ activity resolves once its drive is gone.
    organ_resolution_per_day: "k_O", "1/day", 0.033, [1e-3, 1.0],
        Calibrated("DORIS remission at month 3 in 5/5 (Mackensen 2022; compatible with ≥ 72%) \
                    and SLEDAI-2K 0 (range 0–2) at month 3: t½ 21 days typical; organ \
                    responses after B-cell-targeted therapy take weeks to months (proteinuria \
                    in lupus nephritis), hence the spread ω 0.5");
    // --- host T cells ------------------------------------------------------------------------
    /// Gompertz recovery rate of host T cells.
    t_recovery_per_day: "r_T", "1/day", 0.17, [1e-3, 5.0],
        Literature("Kimmel et al., Proc R Soc B 2021");
    // --- lymphodepletion PK/PD ---------------------------------------------------------------
    /// F-ara-A non-renal clearance at 70 kg.
    flu_cl_nonrenal_l_per_h: "CL_nr", "L/h", 3.24, [0.01, 100.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019;58:627");
    /// F-ara-A renal clearance per unit eGFR (both in L/h) at 70 kg.
    flu_cl_renal_per_egfr: "CL_r", "1", 0.782, [0.0, 10.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A central volume at 70 kg.
    flu_v1_l: "V1", "L", 39.0, [1.0, 1000.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A first peripheral volume at 70 kg.
    flu_v2_l: "V2", "L", 20.0, [0.1, 1000.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A second peripheral volume at 70 kg.
    flu_v3_l: "V3", "L", 50.0, [0.1, 1000.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A inter-compartmental clearance to V2 at 70 kg.
    flu_q2_l_per_h: "Q2", "L/h", 8.6, [0.01, 1000.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A inter-compartmental clearance to V3 at 70 kg.
    flu_q3_l_per_h: "Q3", "L/h", 3.8, [0.01, 1000.0],
        Literature("Langenhorst et al., Clin Pharmacokinet 2019");
    /// F-ara-A mass per mass of fludarabine phosphate dosed.
    flu_salt_fraction: "f_salt", "1", 0.78, [0.1, 1.0],
        Literature("molar mass ratio F-ara-A/fludarabine phosphate (MODEL.md §2.9)");
    /// Cyclophosphamide elimination half-life.
    cy_half_life_h: "t½_Cy", "h", 7.0, [0.5, 48.0],
        Literature("cyclophosphamide t½ 6–8 h (MODEL.md §2.9)");
    /// Cyclophosphamide volume of distribution.
    cy_volume_l_per_kg: "V_Cy", "L/kg", 0.6, [0.05, 5.0],
        Literature("cyclophosphamide V ≈ 0.6 L/kg");
    /// Maximal lymphotoxic kill rate of fludarabine.
    flu_emax_per_day: "Emax_F", "1/day", 2.0, [0.0, 50.0],
        Assumption("checked: host T < 200/µL at day 0, nadir as in Kimmel 2021");
    /// F-ara-A concentration at half-maximal lymphotoxicity.
    flu_ec50_mg_per_l: "EC50_F", "mg/L", 0.2, [1e-4, 100.0],
        Assumption("checked with Emax_F");
    /// Maximal lymphotoxic kill rate of cyclophosphamide.
    cy_emax_per_day: "Emax_C", "1/day", 3.0, [0.0, 50.0],
        Assumption("checked with Emax_F");
    /// Cyclophosphamide concentration at half-maximal lymphotoxicity.
    cy_ec50_mg_per_l: "EC50_C", "mg/L", 20.0, [1e-3, 1e4],
        Assumption("checked with Emax_F");
    /// Sensitivity of the B lineage to lymphodepletion relative to T cells.
    b_lineage_ld_sensitivity: "s_B", "1", 0.05, [0.0, 2.0],
        Calibrated("Flu/Cy must spare antigen so CAR-T expand (peak level, B return)");
    // --- cytokine ----------------------------------------------------------------------------
    /// Baseline IL-6.
    il6_baseline_pg_per_ml: "IL0", "pg/mL", 5.0, [0.0, 1e3],
        Assumption("normal IL-6 < 7 pg/mL");
    /// IL-6 clearance rate.
    il6_clearance_per_day: "k_IL", "1/day", 4.0, [0.1, 100.0],
        Assumption("fast cytokine clearance");
    /// IL-6 production per antigen-engaged effector CAR-T.
    il6_production_pg_per_ml_per_day_per_mcell: "p_IL", "pg/mL/day per 1e6 cells", 0.02, [0.0, 100.0],
        Assumption("checked: typical grade 1, ≤ 10% grade ≥ 2 (Mackensen 2022: mild CRS)");
}
