//! Built-in model 1: CD19 CAR-T therapy of systemic lupus erythematosus.
//!
//! A 15-state ODE model (PROTOTYPE.md design, MODEL.md mechanisms 1–12) of CAR-T expansion,
//! contraction and persistence, B-cell depletion and naive reconstitution, the autoreactive
//! compartment, anti-dsDNA, a SLEDAI-2K surrogate, host T cells and an IL-6-like cytokine, with
//! fludarabine (Langenhorst 2019 three-compartment popPK) and cyclophosphamide
//! (one-compartment) exposure computed in closed form.
//!
//! # Units
//! Time in days, t = 0 at CAR-T infusion. Cell states are **total-body counts in 10⁶ cells
//! (Mcells)**, so one absolute tolerance (1e-6 Mcells = 1 cell) fits every cell state. Blood
//! counts (cells/µL) = `f_blood · X · 10⁶ / V_blood` with `V_blood = 70 mL/kg · W`.
//!
//! # States
//! | # | state | unit | meaning | CD19+ (killed) |
//! |---|---|---|---|---|
//! | 0 | `E` | Mcells | effector-like CAR-T | |
//! | 1 | `M` | Mcells | memory-like CAR-T | |
//! | 2 | `Dv` | divisions | mean antigen-driven divisions (proliferative potential used) | |
//! | 3 | `Bm` | Mcells | CD19+ marrow precursors (fed by CD19− progenitors, `S_B`) | yes |
//! | 4–6 | `T1..T3` | Mcells | maturation transit chain (`T3` circulates) | yes |
//! | 7 | `Bn` | Mcells | naive/transitional B, blood + tissue | yes |
//! | 8 | `Am` | Mcells | autoreactive memory B | yes |
//! | 9 | `Pb` | Mcells | autoreactive plasmablasts | yes |
//! | 10 | `Ll` | Mcells | autoreactive long-lived plasma cells | no (CD19−) |
//! | 11 | `Ab` | IU/mL | anti-dsDNA | |
//! | 12 | `Sd` | points | SLEDAI-2K surrogate, part driven by anti-dsDNA | |
//! | 13 | `Th` | Mcells | host T cells | |
//! | 14 | `So` | points | SLEDAI-2K surrogate, organ part (driven by autoreactive B activity, resolves slowly) | |
//!
//! # Equations
//! Auxiliaries: fludarabine (F-ara-A) and cyclophosphamide plasma concentrations `C_F`, `C_C`
//! (mg/L, closed form, [`pk`](crate::model::pk)); lymphotoxicity
//! `k_LD = Emax_F·C_F/(EC50_F + C_F) + Emax_C·C_C/(EC50_C + C_C)`, on the B lineage
//! `k_LD,B = s_B·k_LD`; blood T cells `T_b = to_blood·(Th + E + M)`; homeostatic boost (Kimmel 2021)
//! `h = 1 + h_max·(K_T − T_b)²/(a_h·T_b² + (K_T − T_b)²)` for `T_b < K_T`, else 1; antigen
//! `U = Bm + T1 + T2 + T3 + Bn + Am + Pb`; potential left `m = 1/(1 + (Dv/D50)^n)`; division rate
//! `r = ρ·h·m·U/(EC50 + E + U)` (Chaudhury/Stein ratio-dependent form); memory re-activation
//! `R = a_M·U/(K_aM + U)·M`; per-target kill rate `κ = k_kill·(E + ε_M·M)/(K_kill + E + ε_M·M + U)`.
//!
//! ```text
//! dE/dt  = r·E − (δ_E + k_EM + k_LD)·E + R
//! dM/dt  = k_EM·E − R − (δ_M + k_LD)·M
//! dDv/dt = r·E/(E + 10⁻⁶)
//! dBm/dt = S_B − (k_tr + κ + k_LD,B)·Bm,                      k_tr = 4/Λ
//! dTi/dt = k_tr·(T(i−1) − Ti) − (κ + k_LD,B)·Ti,              i = 1..3, T0 = Bm
//! dBn/dt = k_tr·T3 − (d_N + κ + k_LD,B)·Bn
//! dAm/dt = [g_A·(1 − Am/K_A) − δ_x·A_x/(Am + A_x) − κ − k_LD,B]·Am
//! dSo/dt = k_O·(φ_O·SD0·(Am + Pb)/(Am0 + Pb0) − So)
//! dPb/dt = k_PB·Am − (d_PB + κ + k_LD,B)·Pb
//! dLl/dt = k_PL·Pb − d_LL·Ll
//! dAb/dt = p_PB·Pb + p_LL·Ll − k_Ab·Ab,                       k_Ab = ln 2 / t½_IgG
//! dSd/dt = k_SD·(SD_max·Ab^γ/(Ab50^γ + Ab^γ) − Sd),         Ab50 = θ_50·Ab0
//! dTh/dt = [−r_T·ln(T_b/K_T) − k_LD]·Th
//! ```
//!
//! The IL-6-like cytokine feeds nothing back, so it is not integrated with the other states
//! (its clearance, t½ ≈ 4 h, would pin an explicit solver's step at its stability limit all year):
//!
//! ```text
//! dIl/dt = k_IL·(IL0 − Il) + q(t),     q = p_IL·E·U/(EC50 + E + U)
//! ```
//!
//! is solved exactly over each accepted solver step, `Il(t+h) − IL0 = e^{−k_IL h}(Il(t) − IL0) +
//! ∫₀^h e^{−k_IL(h−s)} q(t+s) ds`, with `q` (an output, `il6_production_pg_per_ml_per_day`) the
//! cubic Hermite interpolant of its values and time derivatives at the step ends (the chain rule
//! on the solver's derivatives) and the kernel's moments in closed form. Its error is that of the
//! solver's dense output, so IL-6 and its peak follow the tolerance, not the output grid; the
//! output column is the same exact solution evaluated inside the step.
//!
//! # Endpoints on the dense output
//! Endpoints are located on the solver's accepted steps, not read off the output grid (see the
//! `track` module source): the CAR-T peak is the largest value of any step's Hermite cubic, its
//! AUC the cubics' exact integral, depletion, reappearance and seroconversion days are threshold
//! crossings of the cubics, and values at fixed days (day 14, day 90, month 3) are the cubic at
//! that day (NaN when that day lies outside the horizon). The relapse step and the
//! elimination flag read the CD19+ kill rate, the recruitment and the autoreactive clone
//! sampled on the dense output at fixed knots every 0.25 day. So the output grid
//! (`SolverOptions::output_step_day`) changes the reported curves and the bands, never an
//! endpoint.
//!
//! The state at the start of the horizon is the analytic steady state without therapy: blood B
//! (covariate) = `to_blood·(T3 + Bn + Am)`, `S_B = (B_tot − Am0)/(1/k_tr + 1/d_N)`,
//! `K_A` so that `Am0` is an equilibrium, `Pb0`, `Ll0` (1 Mcell) and the antibody production
//! constants from their steady states (LLPC give the share `f_LL` of production), `SD_max` so that
//! the SLEDAI steady state is the baseline covariate, `K_T` the baseline blood T count.
//!
//! **Disease drive relative to the patient's own titre.** The SLEDAI surrogate responds to
//! anti-dsDNA relative to the patient's baseline titre `Ab0` (`Ab50 = θ_50·Ab0`), so
//! `SD_max = SD0·(1 + θ_50^γ)` and the drive at month 3 depends on how far the titre has fallen,
//! not on where it started. Baseline titres differ by more than tenfold between patients of
//! similar activity and between assays, and a rise or fall *within* a patient is what tracks
//! activity (assumption). With an absolute `Ab50` (60 IU/mL for every patient), patients with
//! high baseline titres (log-normal, ω 0.6) stayed above it at month 3 and the cohort reached
//! remission in only 78% (target ≥ 90%, Mackensen 2022: 5/5); relative, 98% at unchanged
//! typical-patient course (θ_50 = 0.3 = 60/200 IU/mL).
//!
//! **Organ activity not driven by anti-dsDNA.** A share `φ_O` of the baseline SLEDAI surrogate
//! (organ involvement: nephritis, serositis, skin, arthritis) follows the autoreactive B-cell
//! activity `(Am + Pb)/(Am0 + Pb0)` and resolves at its own rate `k_O` (state `So`); the rest
//! follows anti-dsDNA (state `Sd`); the SLEDAI surrogate is `Sd + So`. Both `φ_O` and `k_O`
//! vary between patients, so remission at month 3 depends on the patient (baseline severity,
//! how much of it is organ involvement, how fast the organ heals) and on the regimen (how fast
//! the B-cell drive falls): 89% of the default cohort are in remission at month 3 (DORIS 5/5 in
//! Mackensen 2022 is likely, P ≥ 0.2, from 72%), 70% at 1e5 CAR-T/kg. With the anti-dsDNA part
//! alone, 98% were in remission under nearly every regimen that depleted.
//!
//! # Relapse or lasting reset (stochastic)
//! When the autoreactive memory clone falls to a handful of cells the ODE no longer describes
//! it: after the solve, [`Model::stochastic_endpoints`] hands a clone of `n_sw` = 100 cells to an
//! exact birth–death simulation with the ODE's own per-cell rates (CAR-T killing and
//! lymphodepletion from the output `cd19_kill_rate_per_day`), seeded from the patient's
//! stochastic stream. It dies out (reset) or regrows (relapse). Returning naive B cells also
//! found new autoreactive clones (recruitment `k_rec·Bn`, a patient-specific propensity with
//! ω 1.5), each a lineage of its own that CAR-T kill while they persist: a patient in remission
//! relapses months after B cells return, once CAR-T killing has faded (see the `relapse` module
//! source for the hybrid switch, the founding of new clones, the regrowth rule and the relapse
//! day). A weaker product, a lower dose or shorter persistence leaves less CAR-T pressure when
//! the clones are small, so more escape, and sooner.
//!
//! Eliminated compartments can show round-off of ≈ −10⁻¹² Mcells: rate terms use `max(x, 0)`.
//!
//! # Definitions (assumptions, see [`SleDefinitions`])
//! CRS grade from peak IL-6: < 20 pg/mL → 0, 20–100 → 1, 100–500 → 2, 500–2000 → 3, ≥ 2000 → 4.
//! IL-6 production scales with antigen-engaged effector CAR-T (so it rises with dose and with a
//! faster-expanding product, [`crate::product`]) times a patient-specific myeloid amplification
//! (the log-normal random effect on `p_IL`, ω 1.1, [`DEFAULT_OMEGA`]): the tail of severe CRS
//! comes from the few patients whose myeloid response is strong.
//!
//! B-cell depletion: blood B < 1 cell/µL; reappearance: first time ≥ 1 cell/µL after depletion.
//! Anti-dsDNA negative: below the EliA dsDNA assay's cut-off, 10 IU/mL ([`AntiDsDnaCutoff`];
//! relative to the patient's baseline titre on request). Remission at month 3:
//! SLEDAI surrogate < 2 at day 90 (Mackensen 2022: SLEDAI-2K 0–2 at month 3). Relapse: the
//! regrown autoreactive clone back to ½ of its baseline size, plus 30 days for anti-dsDNA and
//! disease activity to rise. Lasting remission: remission at month 3, the patient's own
//! autoreactive clone extinct, and no clone (own or new) regrown within the horizon.
//!
//! # Where the spread comes from
//! A linear regression of each endpoint (log scale for continuous ones, the 0/1 flag for
//! relapse and remission) on the patient's log covariates and log varied parameters
//! (standardised, so each squared coefficient is that input's share of the variance; the inputs
//! are drawn independently) over the default cohort (2,000 patients, seed 1) and the KYSA-1
//! dose-level-1 cohort (`scenarios/kysa1_dl1.toml`, `kyv101` product, 2,000 patients), measured
//! 2026-12-03 on the model with relapse after response and the organ part of disease activity:
//!
//! | endpoint | cohort | linear R² | largest shares of the variance |
//! |---|---|---|---|
//! | B-cell return day | Erlangen | 0.934 | memory decline δ_M 53%, baseline B 21%, ρ 9%, D50 5%, k_kill 3%, maturation delay 2% |
//! | B-cell return day | KYSA-1 DL1 | 0.928 | δ_M 73%, baseline B 8%, D50 5%, ρ 4%, maturation delay 1% |
//! | IL-6 peak (CRS grade) | Erlangen | 0.967 | myeloid amplification (p_IL) 82%, baseline B 11%, weight 2%, ρ 1% |
//! | IL-6 peak (CRS grade) | KYSA-1 DL1 | 0.971 | p_IL 83%, baseline B 11%, weight 2% |
//! | relapse within a year (5.4%) | Erlangen | 0.148 | recruitment propensity k_rec 10%, baseline B 3%, δ_M 1% |
//! | relapse within a year (7.5%) | KYSA-1 DL1 | 0.176 | k_rec 13%, baseline B 3%, δ_M 1% |
//! | remission at month 3 (89%) | Erlangen | 0.334 | organ resolution k_O 23%, baseline SLEDAI 5%, organ share φ_O 3%, IgG t½ 1% |
//!
//! The B-cell return is led by how long memory CAR-T persist, with the oncology popPK spread of
//! that persistence (ω 0.9, Stein 2019), then by the baseline B-cell count (antigen drives the
//! burst). With the earlier ω 0.2, sized on the five Erlangen patients, baseline B led (46%)
//! and a log-linear fit explained 97% of the variance. CRS grade follows the patient's myeloid
//! amplification. Relapse is a rare, partly stochastic event (the founding of a clone is a
//! chance event: a linear model of the flag explains little); by quartile of the input
//! (lowest to highest), relapse within a year under the Erlangen regimen is 0.0, 1.4, 4.0 and
//! 16.2% by recruitment propensity `k_rec`, 2.4, 5.0, 6.8 and 7.4% by memory decline `δ_M`
//! (shorter persistence: earlier B return, more recruits while CAR-T have faded), and 1.4, 3.6,
//! 4.8 and 11.8% by baseline B count (a larger naive pool founds more clones); under KYSA-1
//! DL1, 0.4, 1.8, 5.4, 22.4% by `k_rec` and 3.6, 7.4, 9.8, 9.2% by `δ_M`.
//!
//! # Covariances and covariates: what the sources support
//! - **Ω is diagonal by default.** The popPK analyses the CAR-T random effects come from report
//!   variances only: Stein et al. (CPT:PSP 2019;8:285, Table 1) gives ω² for fold expansion,
//!   Tmax, Cmax, α, FB and β and no covariances (the nlmixr2lib transcription of the model,
//!   `Stein_2019_Tisagenlecleucel`, enters them as independent), and Langenhorst 2019 gives the
//!   fludarabine IIV the same way. No covariance is known for these parameters, so none is
//!   invented; a scenario can give a full Ω (`[iiv] parameters` and `omega_matrix`,
//!   [`crate::variability::Iiv::new`], checked positive definite) when one is.
//! - **Covariates that move outcomes.** Baseline blood B cells (antigen: the CAR-T burst, the
//!   naive pool that founds new clones), baseline T cells (the host T pool CAR-T share their
//!   niche with), eGFR (renal clearance of F-ara-A, Langenhorst 2019: depth of lymphodepletion),
//!   weight and height (body-size scaling of doses, volumes and BSA-based chemotherapy) and
//!   baseline anti-dsDNA and SLEDAI (disease course) enter the model; their shares of the spread
//!   are in the table above.
//! - **Age and prior therapy do not move CAR-T kinetics here.** The formal covariate analyses
//!   found no effect: Stein 2019 (no covariate retained, ages 3–25), lisocabtagene popPK
//!   (Clin Pharmacokinet 2021, doi:10.1007/s40262-021-01039-5: "covariates tested were not
//!   considered to have a meaningful impact") and JULIET (Awasthi et al., Blood Adv 2020;4:560:
//!   no relationship of kinetics with intrinsic or extrinsic factors). Against them, one
//!   registry of 188 lymphoma patients found higher expansion by flow cytometry in younger
//!   patients (Blood Adv 2024;8:3314), without a size that transfers, and ZUMA-5 found lower
//!   axicabtagene exposure after recent bendamustine (Blood 2024;143:496), a drug SLE patients
//!   do not receive. Age is sampled (patients.csv, NONMEM covariates) so that a user model can
//!   use it; the default gives it no effect rather than an unsourced one.
//!
//! # CAR-T detection window
//! The endpoint `car_t_undetectable_day` is the day blood CAR-T last fell below
//! [`SleDefinitions::car_t_detection_per_ul`] (0.01 cells/µL, qPCR-like sensitivity), located
//! on the dense output (NaN: still detectable at the horizon end). On 2,000 patients (seed 1,
//! 2026-12-04) the window ends on day 205 (median; 5–95%: 137–312) with the Erlangen product,
//! and on day 147 (92–247) with KYV-101 under the KYSA-1 DL1 regimen: shorter with the CD28
//! product, and within a year for 97% (Erlangen) and > 99% (KYV-101) of patients, against
//! tisagenlecleucel detection to 554–693 days in lymphoma (Awasthi 2020) — persistence
//! shorter in SLE than in lymphoma (MODEL.md §7). The validation table holds these as rows.

mod params;
mod relapse;
mod track;

pub use params::{SLE_PARAMS, SleParams};

use nalgebra::SVector;

use crate::error::{ParamError, SpecError};
use crate::model::dose::ResolvedDose;
use crate::model::pk::{Disposition, Exposure};
use crate::model::step::StepSpan;
use crate::model::trajectory::Trajectory;
use crate::model::{
    EndpointInfo, EndpointKind, InputInfo, InputKind, Model, ModelInfo, OutputInfo, Segment,
    StateInfo,
};
use crate::variability::{Covariates, Iiv, PatientRng};

/// Number of states of the SLE model.
pub const SLE_STATES: usize = 15;

/// State indices.
mod ix {
    pub const E: usize = 0;
    pub const M: usize = 1;
    pub const DV: usize = 2;
    pub const BM: usize = 3;
    pub const T1: usize = 4;
    pub const T2: usize = 5;
    pub const T3: usize = 6;
    pub const BN: usize = 7;
    pub const AM: usize = 8;
    pub const PB: usize = 9;
    pub const LL: usize = 10;
    pub const AB: usize = 11;
    pub const SD: usize = 12;
    pub const TH: usize = 13;
    pub const SO: usize = 14;
}

const STATES: &[StateInfo] = &[
    StateInfo {
        name: "car_t_effector",
        unit: "1e6 cells",
        description: "effector-like CAR-T, whole body",
    },
    StateInfo {
        name: "car_t_memory",
        unit: "1e6 cells",
        description: "memory-like CAR-T, whole body",
    },
    StateInfo {
        name: "divisions",
        unit: "divisions",
        description: "mean antigen-driven divisions of the CAR-T lineage",
    },
    StateInfo {
        name: "b_marrow_precursors",
        unit: "1e6 cells",
        description: "CD19+ marrow precursors (pro/pre-B)",
    },
    StateInfo {
        name: "b_transit_1",
        unit: "1e6 cells",
        description: "maturation transit stage 1",
    },
    StateInfo {
        name: "b_transit_2",
        unit: "1e6 cells",
        description: "maturation transit stage 2",
    },
    StateInfo {
        name: "b_transit_3",
        unit: "1e6 cells",
        description: "maturation transit stage 3 (transitional B, circulating)",
    },
    StateInfo {
        name: "b_naive",
        unit: "1e6 cells",
        description: "naive/mature B cells, blood + tissue",
    },
    StateInfo {
        name: "b_autoreactive_memory",
        unit: "1e6 cells",
        description: "autoreactive memory B cells",
    },
    StateInfo {
        name: "plasmablasts",
        unit: "1e6 cells",
        description: "autoreactive short-lived plasmablasts (CD19+)",
    },
    StateInfo {
        name: "long_lived_plasma_cells",
        unit: "1e6 cells",
        description: "autoreactive long-lived plasma cells (CD19−, spared)",
    },
    StateInfo {
        name: "anti_dsdna",
        unit: "IU/mL",
        description: "anti-dsDNA titre",
    },
    StateInfo {
        name: "sledai",
        unit: "points",
        description: "SLEDAI-2K surrogate",
    },
    StateInfo {
        name: "host_t_cells",
        unit: "1e6 cells",
        description: "host T cells, whole body",
    },
    StateInfo {
        name: "sledai_organ",
        unit: "points",
        description: "organ part of the SLEDAI-2K surrogate (slowly resolving, not driven by \
                      anti-dsDNA)",
    },
];

/// Indices of the SLE model's dose inputs in [`INPUTS`] (a resolved dose's `input`).
pub mod input {
    /// The CAR-T product (cells).
    pub const CAR_T: usize = 0;
    /// Fludarabine phosphate (mg).
    pub const FLUDARABINE: usize = 1;
    /// Cyclophosphamide (mg).
    pub const CYCLOPHOSPHAMIDE: usize = 2;
}

/// Dose inputs of the SLE model, in the order of [`input`].
pub const INPUTS: &[InputInfo] = &[
    InputInfo {
        name: crate::model::dose::CAR_T,
        kind: InputKind::Cells,
        description: "CD19 CAR-T product (cells), split into effector/memory by f_mem",
    },
    InputInfo {
        name: "fludarabine",
        kind: InputKind::DrugMg,
        description: "fludarabine phosphate (mg), converted to F-ara-A by f_salt",
    },
    InputInfo {
        name: "cyclophosphamide",
        kind: InputKind::DrugMg,
        description: "cyclophosphamide (mg)",
    },
];

/// Output indices of the SLE model.
pub mod out {
    /// CAR-T (effector + memory) in blood, cells/µL.
    pub const CAR_T: usize = 0;
    /// Memory-like CAR-T in blood, cells/µL.
    pub const CAR_T_MEMORY: usize = 1;
    /// CD19+ B cells in blood, cells/µL.
    pub const B_CELLS: usize = 2;
    /// Autoreactive memory B cells in blood, cells/µL.
    pub const AUTOREACTIVE_B: usize = 3;
    /// T cells (host + CAR-T) in blood, cells/µL.
    pub const T_CELLS: usize = 4;
    /// Anti-dsDNA, IU/mL.
    pub const ANTI_DSDNA: usize = 5;
    /// SLEDAI surrogate, points.
    pub const SLEDAI: usize = 6;
    /// IL-6, pg/mL.
    pub const IL6: usize = 7;
    /// F-ara-A plasma concentration, mg/L.
    pub const FLUDARABINE: usize = 8;
    /// Cyclophosphamide plasma concentration, mg/L.
    pub const CYCLOPHOSPHAMIDE: usize = 9;
    /// IL-6 production by antigen-engaged CAR-T, pg/mL/day.
    pub const IL6_PRODUCTION: usize = 10;
    /// Per-cell loss rate of CD19+ cells by CAR-T killing and lymphodepletion (κ + k_LD,B), 1/day.
    pub const CD19_KILL_RATE: usize = 11;
    /// Recruitment of naive B cells into the autoreactive compartment (k_rec·Bn), cells/day.
    pub const AUTOREACTIVE_RECRUITMENT: usize = 12;
}

const OUTPUTS: &[OutputInfo] = &[
    OutputInfo {
        name: "car_t_cells_per_ul",
        unit: "cells/µL",
        detection_limit: 0.01,
        log_scale: true,
        description: "CAR-T cells in blood (flow cytometry)",
    },
    OutputInfo {
        name: "car_t_memory_cells_per_ul",
        unit: "cells/µL",
        detection_limit: 0.01,
        log_scale: true,
        description: "memory-like CAR-T cells in blood",
    },
    OutputInfo {
        name: "b_cells_per_ul",
        unit: "cells/µL",
        detection_limit: 1.0,
        log_scale: true,
        description: "CD19+ B cells in blood (transitional + naive + autoreactive memory)",
    },
    OutputInfo {
        name: "autoreactive_b_cells_per_ul",
        unit: "cells/µL",
        detection_limit: 0.01,
        log_scale: true,
        description: "autoreactive memory B cells in blood",
    },
    OutputInfo {
        name: "t_cells_per_ul",
        unit: "cells/µL",
        detection_limit: 1.0,
        log_scale: true,
        description: "T cells in blood, host + CAR-T",
    },
    OutputInfo {
        name: "anti_dsdna_iu_per_ml",
        unit: "IU/mL",
        detection_limit: 1.0,
        log_scale: true,
        description: "anti-dsDNA titre",
    },
    OutputInfo {
        name: "sledai",
        unit: "points",
        detection_limit: 0.0,
        log_scale: false,
        description: "SLEDAI-2K surrogate",
    },
    OutputInfo {
        name: "il6_pg_per_ml",
        unit: "pg/mL",
        detection_limit: 1.5,
        log_scale: true,
        description: "IL-6-like cytokine",
    },
    OutputInfo {
        name: "fludarabine_mg_per_l",
        unit: "mg/L",
        detection_limit: 0.0,
        log_scale: false,
        description: "F-ara-A plasma concentration",
    },
    OutputInfo {
        name: "cyclophosphamide_mg_per_l",
        unit: "mg/L",
        detection_limit: 0.0,
        log_scale: false,
        description: "cyclophosphamide plasma concentration",
    },
    OutputInfo {
        name: "il6_production_pg_per_ml_per_day",
        unit: "pg/mL/day",
        detection_limit: 0.0,
        log_scale: false,
        description: "IL-6 production by antigen-engaged effector CAR-T (drives IL-6)",
    },
    OutputInfo {
        name: "cd19_kill_rate_per_day",
        unit: "1/day",
        detection_limit: 0.0,
        log_scale: false,
        description: "per-cell loss rate of CD19+ cells by CAR-T killing and lymphodepletion",
    },
    OutputInfo {
        name: "autoreactive_recruitment_cells_per_day",
        unit: "cells/day",
        detection_limit: 0.0,
        log_scale: false,
        description: "recruitment of naive B cells into the autoreactive compartment",
    },
];

/// Endpoint indices of the SLE model.
pub mod ep {
    /// CAR-T Cmax, cells/µL.
    pub const CAR_T_PEAK: usize = 0;
    /// CAR-T Tmax, day.
    pub const CAR_T_PEAK_DAY: usize = 1;
    /// CAR-T AUC day 0–28, cells·day/µL.
    pub const CAR_T_AUC_0_28: usize = 2;
    /// CAR-T at day 90, cells/µL.
    pub const CAR_T_DAY90: usize = 3;
    /// First day with blood B < threshold after infusion.
    pub const B_DEPLETION_DAY: usize = 4;
    /// First day with blood B ≥ threshold after depletion.
    pub const B_REAPPEARANCE_DAY: usize = 5;
    /// Blood B at day 14, cells/µL.
    pub const B_DAY14: usize = 6;
    /// First day anti-dsDNA is negative.
    pub const ANTI_DSDNA_NEGATIVE_DAY: usize = 7;
    /// SLEDAI surrogate at month 3.
    pub const SLEDAI_MONTH3: usize = 8;
    /// IL-6 peak after infusion, pg/mL.
    pub const IL6_PEAK: usize = 9;
    /// CRS grade 0–4.
    pub const CRS_GRADE: usize = 10;
    /// Cumulative F-ara-A AUC, mg·h/L.
    pub const FLU_AUC: usize = 11;
    /// Blood T cells at day 0, cells/µL.
    pub const T_DAY0: usize = 12;
    /// Flag: B below threshold at day 14.
    pub const B_DEPLETED_DAY14: usize = 13;
    /// Flag: anti-dsDNA negative at month 3.
    pub const ANTI_DSDNA_NEGATIVE_MONTH3: usize = 14;
    /// Flag: remission at month 3.
    pub const REMISSION_MONTH3: usize = 15;
    /// Flag: CRS grade ≥ 1.
    pub const CRS_GE1: usize = 16;
    /// Flag: CRS grade ≥ 2.
    pub const CRS_GE2: usize = 17;
    /// Flag: CRS grade ≥ 3.
    pub const CRS_GE3: usize = 18;
    /// Flag: autoreactive compartment stays eliminated from month 3 to the horizon end.
    pub const AUTOREACTIVE_ELIMINATED: usize = 19;
    /// Day the autoreactive clone died out (stochastic phase; NaN: it did not).
    pub const AUTOREACTIVE_EXTINCTION_DAY: usize = 20;
    /// Day of clinical relapse (NaN: none within the horizon).
    pub const RELAPSE_DAY: usize = 21;
    /// Flag: the autoreactive clone died out within the horizon (lasting reset).
    pub const AUTOREACTIVE_EXTINCT: usize = 22;
    /// Flag: clinical relapse within the horizon.
    pub const RELAPSE: usize = 23;
    /// Flag: remission at month 3, no relapse and the autoreactive clone extinct by the horizon end.
    pub const LASTING_REMISSION: usize = 24;
    /// Day blood CAR-T last fell below the detection limit (NaN: still detectable at the
    /// horizon end).
    pub const CAR_T_UNDETECTABLE_DAY: usize = 25;
}

const fn cont(name: &'static str, unit: &'static str, description: &'static str) -> EndpointInfo {
    EndpointInfo {
        name,
        unit,
        kind: EndpointKind::Continuous,
        description,
    }
}

const fn flag(name: &'static str, description: &'static str) -> EndpointInfo {
    EndpointInfo {
        name,
        unit: "1",
        kind: EndpointKind::Flag,
        description,
    }
}

const ENDPOINTS: &[EndpointInfo] = &[
    cont(
        "car_t_peak_cells_per_ul",
        "cells/µL",
        "CAR-T Cmax in blood after infusion",
    ),
    cont("car_t_peak_day", "day", "CAR-T Tmax"),
    cont(
        "car_t_auc_0_28_cells_day_per_ul",
        "cells·day/µL",
        "CAR-T AUC from day 0 to 28",
    ),
    cont(
        "car_t_day90_cells_per_ul",
        "cells/µL",
        "CAR-T in blood at day 90",
    ),
    cont(
        "b_cell_depletion_day",
        "day",
        "first day after infusion with blood B below the detection threshold",
    ),
    cont(
        "b_cell_reappearance_day",
        "day",
        "first day after depletion with blood B at or above the detection threshold (NaN: never)",
    ),
    cont(
        "b_cells_day14_cells_per_ul",
        "cells/µL",
        "blood B at day 14",
    ),
    cont(
        "anti_dsdna_negative_day",
        "day",
        "first day after infusion with anti-dsDNA below the negativity cutoff",
    ),
    cont(
        "sledai_month3",
        "points",
        "SLEDAI surrogate at the month-3 visit",
    ),
    cont("il6_peak_pg_per_ml", "pg/mL", "IL-6 peak after infusion"),
    cont("crs_grade", "grade", "CRS grade 0–4 from the IL-6 peak"),
    cont(
        "fludarabine_auc_mg_h_per_l",
        "mg·h/L",
        "cumulative F-ara-A AUC (dose/CL)",
    ),
    cont(
        "t_cells_day0_cells_per_ul",
        "cells/µL",
        "blood T cells at CAR-T infusion",
    ),
    flag("b_depleted_day14", "blood B below the threshold at day 14"),
    flag(
        "anti_dsdna_negative_month3",
        "anti-dsDNA below the negativity cutoff at month 3",
    ),
    flag(
        "remission_month3",
        "SLEDAI surrogate below the remission cutoff at month 3",
    ),
    flag("crs_grade_ge1", "CRS grade ≥ 1"),
    flag("crs_grade_ge2", "CRS grade ≥ 2"),
    flag("crs_grade_ge3", "CRS grade ≥ 3"),
    flag(
        "autoreactive_eliminated",
        "autoreactive memory B below 1% of baseline from month 3 to the horizon end",
    ),
    cont(
        "autoreactive_extinction_day",
        "day",
        "day the autoreactive clone died out in the stochastic phase (NaN: it did not)",
    ),
    cont(
        "relapse_day",
        "day",
        "day of clinical relapse: regrown clone at the relapse fraction of baseline plus the \
         delay (NaN: none within the horizon)",
    ),
    flag(
        "autoreactive_extinct",
        "the autoreactive clone died out within the horizon (lasting reset)",
    ),
    flag("relapse", "clinical relapse within the horizon"),
    flag(
        "lasting_remission",
        "remission at month 3, no relapse and the autoreactive clone extinct by the horizon end",
    ),
    cont(
        "car_t_undetectable_day",
        "day",
        "day blood CAR-T last fell below the detection limit: the end of their detection window \
         (NaN: still detectable at the horizon end)",
    ),
];

/// Default IIV of the SLE model: `(parameter, ω)` with ω the SD of η (diagonal Ω).
///
/// Provenance: the fludarabine entries are Langenhorst 2019's IIV; the others are assumptions
/// tuned together (PROTOTYPE.md §3) for the cohort spread of MODEL.md §1, and checked by
/// `tests/validation_targets.rs` on 2,000 patients: B-cell return SD 29.1 days (target
/// 32 ± 10), CAR-T peak days 6.9–11.1 (5th–95th; target ≈ 6–14), ≥ 95% depleted at day 14,
/// ≥ 90% anti-dsDNA negative at month 3, ≤ 10% CRS grade ≥ 2. Fitting ω of the maturation
/// delay alone to a return SD of exactly 32 days with [`crate::calibrate`] gives 0.33 (CV 33%),
/// more than a 3–5-week maturation delay suggests (≈ 25%), so 0.15 is kept: 29 days is within
/// the target, and the published SD comes from 5 patients (its own SE ≈ 11 days).
pub const DEFAULT_OMEGA: &[(&str, f64)] = &[
    // CAR-T peak day spread (≈ day 6–14) and level; Stein 2019's CAR-T IIV is larger (its
    // ω² 0.38–2.4 are for oncology products and assays) — assumption.
    ("effector_proliferation_per_day", 0.10),
    ("expansion_half_saturation_mcells", 0.30),
    // Burst length: with ρ and baseline B, a driver of B-cell return (PROTOTYPE.md §4).
    ("potential_half_divisions", 0.10),
    // Memory persistence sets aplasia length (B-return timing). ω 0.9 is the between-patient
    // spread of the slow (memory) decline rate β in the tisagenlecleucel popPK of Stein et al.
    // (CPT:PSP 2019;8:285: ω² 0.86). It was 0.20, shrunk to the five Erlangen patients; with
    // 0.9 the default cohort's B-cell return is 112.9 ± 47.1 days (2,000 patients, seed 1;
    // 111.4 ± 29.1 before), inside what five patients can tell (110 ± 32: 95% CI of the SD
    // 19–92 days), and KYSA-1's day-56 recovery becomes ordinary with the kyv101 product.
    ("memory_death_per_day", 0.90),
    ("max_kill_per_car_t_per_day", 0.15),
    ("kill_half_saturation_mcells", 0.20),
    // Maturation delay 3–5 weeks (see above).
    ("maturation_delay_day", 0.15),
    // IgG half-life: keeps ≥ 90% anti-dsDNA negative at month 3 (measured: ω 0.2 gives 78%).
    ("igg_half_life_day", 0.10),
    // Disease activity not driven by anti-dsDNA (organ involvement): its share of baseline
    // activity (logit scale) and how fast it resolves vary between patients — assumptions.
    ("organ_activity_share", 1.0),
    ("organ_resolution_per_day", 0.5),
    // CRS tail: the patient's myeloid amplification of CAR-T-triggered cytokine release (IL-6
    // comes mostly from monocytes/macrophages activated by CAR-T, Norelli et al. and Giavridis
    // et al., Nat Med 2018) varies over orders of magnitude between patients (CRS grades 0–5 in
    // one CD19 CAR-T cohort, Hay et al., Blood 2017;130:2295). ω 1.1 is calibrated to the
    // rese-cel programme under the Erlangen regimen, about 10% grade ≥ 2 (EULAR 2025 OP0338;
    // measured 2026-12-03 on 2,000 patients: ω 0.8 → 5.6%, 1.0 → 8.9%, 1.2 → 12.4% grade ≥ 2,
    // grade ≥ 3 0.1–0.8%), compatible with Mackensen 2022 (grade 1 in 3/5, none ≥ 2 in 5:
    // P = 0.59 at 10%). It was 0.30, fitted to the five Erlangen patients alone, which left
    // grade ≥ 2 at 0.3% and grade 3 impossible.
    ("il6_production_pg_per_ml_per_day_per_mcell", 1.1),
    // Langenhorst 2019 (F-ara-A popPK IIV).
    ("flu_cl_nonrenal_l_per_h", 0.20),
    ("flu_cl_renal_per_egfr", 0.11),
    ("flu_v1_l", 0.08),
    ("flu_v2_l", 0.11),
    ("flu_v3_l", 0.09),
    ("flu_q2_l_per_h", 0.08),
    ("flu_q3_l_per_h", 0.13),
    // Cyclophosphamide t½ 6–8 h between patients — assumption.
    ("cy_half_life_h", 0.25),
    // The patient's propensity to found new autoreactive clones (genetic risk, interferon
    // signature, autoantigen load) — assumption: ω 1.5 spreads it over two orders of magnitude
    // (95% of patients within ×/÷ 19 of the typical value), so relapse depends on it by degrees,
    // not all or nothing (one shared value made relapse 0% at 1e-11/day and 86% at 1e-9/day).
    ("naive_to_autoreactive_per_day", 1.5),
];

/// When an anti-dsDNA titre counts as negative.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AntiDsDnaCutoff {
    /// Below an assay's cut-off, IU/mL: what a clinical laboratory reports as negative.
    Assay {
        /// The assay and its reference range.
        assay: &'static str,
        /// Negative below this titre, IU/mL.
        negative_below_iu_per_ml: f64,
    },
    /// Below a fraction of the patient's own baseline titre (a modelling convention, not a
    /// laboratory result).
    RelativeToBaseline {
        /// The fraction of the baseline titre.
        fraction: f64,
    },
}

impl AntiDsDnaCutoff {
    /// EliA dsDNA (Phadia/Thermo Fisher fluorescence enzyme immunoassay, the commonest
    /// quantitative anti-dsDNA test in European laboratories): negative < 10 IU/mL, equivocal
    /// 10–15, positive > 15 (manufacturer's reference range, e.g. the Boone Health test
    /// catalogue; Lupus Sci Med 2014;1:e000007, Table 1: EliA reference interval < 10 IU/mL).
    pub const ELIA: Self = AntiDsDnaCutoff::Assay {
        assay: "EliA dsDNA (Phadia), negative < 10 IU/mL",
        negative_below_iu_per_ml: 10.0,
    };

    /// The titre below which a patient with baseline titre `baseline_iu_per_ml` is negative.
    pub fn below_iu_per_ml(&self, baseline_iu_per_ml: f64) -> f64 {
        match *self {
            AntiDsDnaCutoff::Assay {
                negative_below_iu_per_ml,
                ..
            } => negative_below_iu_per_ml,
            AntiDsDnaCutoff::RelativeToBaseline { fraction } => fraction * baseline_iu_per_ml,
        }
    }
}

/// Definitions used to turn trajectories into endpoints. All are assumptions
/// (PROTOTYPE.md §2) and can be changed per study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SleDefinitions {
    /// Blood B-cell detection threshold for depletion and reappearance, cells/µL.
    pub b_cell_threshold_per_ul: f64,
    /// When anti-dsDNA counts as negative (default: the EliA dsDNA assay's cut-off,
    /// [`AntiDsDnaCutoff::ELIA`]).
    pub anti_dsdna_negative: AntiDsDnaCutoff,
    /// Remission: SLEDAI surrogate below this value at the month-3 visit.
    pub remission_sledai_below: f64,
    /// Day of the month-3 visit.
    pub month3_day: f64,
    /// IL-6 peak thresholds for CRS grades 1, 2, 3, 4, pg/mL.
    pub crs_il6_thresholds_pg_per_ml: [f64; 4],
    /// Blood CAR-T detection limit for the detection window (`car_t_undetectable_day`),
    /// cells/µL. Default 0.01 (assumption): about one CAR-T cell among 10⁵ blood leukocytes,
    /// the sensitivity of the transgene qPCR the products' trials report persistence with
    /// (tisagenlecleucel: qPCR outlasting flow cytometry, 693 vs 554 days at most in JULIET,
    /// Awasthi et al., Blood Adv 2020;4:560); the figures' CAR-T reference line.
    pub car_t_detection_per_ul: f64,
    /// Autoreactive compartment counts as eliminated below this fraction of its baseline.
    pub autoreactive_eliminated_fraction: f64,
    /// Drug concentration treated as exactly zero after washout, mg/L.
    pub negligible_drug_mg_per_l: f64,
    /// Hybrid switch: below this many autoreactive memory B cells (whole body) the clone is
    /// simulated as a stochastic birth–death process instead of by the ODE. Default 100: the
    /// ODE is still accurate there (absolute tolerance 1 cell) and it lies well above the
    /// Allee threshold (≈ 10 cells), so the ODE's deterministic stand-in for extinction has not
    /// acted yet.
    pub relapse_switch_cells: f64,
    /// A stochastic clone that regrows to this many cells is handed back to deterministic
    /// growth. Default 1000: a clone that size without CAR-T pressure dies out with
    /// probability ≈ (d/b)^1000, nil.
    pub relapse_established_cells: f64,
    /// Clinical relapse when the regrowing clone is back to this fraction of its baseline size
    /// (default ½, assumption: autoantibody production, proportional to the clone, back to
    /// half of baseline)…
    pub relapse_clone_fraction: f64,
    /// …plus this delay for anti-dsDNA and disease activity to rise, day (default 30,
    /// assumption: ≈ 1.5 IgG half-lives, with the SLEDAI surrogate's 10-day lag).
    pub relapse_delay_day: f64,
}

impl Default for SleDefinitions {
    fn default() -> Self {
        SleDefinitions {
            b_cell_threshold_per_ul: 1.0,
            anti_dsdna_negative: AntiDsDnaCutoff::ELIA,
            remission_sledai_below: 2.0,
            month3_day: 90.0,
            crs_il6_thresholds_pg_per_ml: [20.0, 100.0, 500.0, 2000.0],
            car_t_detection_per_ul: 0.01,
            autoreactive_eliminated_fraction: 0.01,
            negligible_drug_mg_per_l: 1e-9,
            relapse_switch_cells: 100.0,
            relapse_established_cells: 1000.0,
            relapse_clone_fraction: 0.5,
            relapse_delay_day: 30.0,
        }
    }
}

impl SleDefinitions {
    /// Checks every definition: thresholds, cut-offs, days and cell counts finite and > 0,
    /// fractions in (0, 1), CRS thresholds increasing, a relapse clone established above the
    /// switch size, a relapse delay ≥ 0.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the field (`definitions.FIELD`) and its value.
    ///
    /// ```
    /// use cartsim::model::sle::SleDefinitions;
    /// let mut d = SleDefinitions::default();
    /// assert!(d.validate().is_ok());
    /// d.car_t_detection_per_ul = -1.0;
    /// let e = d.validate().unwrap_err().to_string();
    /// assert!(e.contains("definitions.car_t_detection_per_ul") && e.contains("-1"), "{e}");
    /// ```
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |field: &str, reason: String| {
            Err(SpecError::Invalid {
                field: format!("definitions.{field}"),
                reason,
            })
        };
        let positive = [
            ("b_cell_threshold_per_ul", self.b_cell_threshold_per_ul),
            ("remission_sledai_below", self.remission_sledai_below),
            ("month3_day", self.month3_day),
            ("car_t_detection_per_ul", self.car_t_detection_per_ul),
            ("negligible_drug_mg_per_l", self.negligible_drug_mg_per_l),
            ("relapse_switch_cells", self.relapse_switch_cells),
            ("relapse_established_cells", self.relapse_established_cells),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, format!("must be finite and > 0, got {v}"));
            }
        }
        match self.anti_dsdna_negative {
            AntiDsDnaCutoff::Assay {
                negative_below_iu_per_ml: v,
                ..
            } if !(v.is_finite() && v > 0.0) => {
                return bad(
                    "anti_dsdna_negative_below_iu_per_ml",
                    format!("must be finite and > 0, got {v}"),
                );
            }
            AntiDsDnaCutoff::RelativeToBaseline { fraction: v } if !(v > 0.0 && v < 1.0) => {
                return bad(
                    "anti_dsdna_negative_fraction_of_baseline",
                    format!("must lie in (0, 1), got {v}"),
                );
            }
            _ => {}
        }
        let fractions = [
            (
                "autoreactive_eliminated_fraction",
                self.autoreactive_eliminated_fraction,
            ),
            ("relapse_clone_fraction", self.relapse_clone_fraction),
        ];
        for (name, v) in fractions {
            if !(v > 0.0 && v < 1.0) {
                return bad(name, format!("must lie in (0, 1), got {v}"));
            }
        }
        let c = self.crs_il6_thresholds_pg_per_ml;
        if !(c.iter().all(|v| v.is_finite() && *v > 0.0) && c.windows(2).all(|w| w[0] < w[1])) {
            return bad(
                "crs_il6_thresholds_pg_per_ml",
                format!("must be finite, > 0 and increasing (grades 1–4), got {c:?}"),
            );
        }
        if self.relapse_established_cells <= self.relapse_switch_cells {
            return bad(
                "relapse_established_cells",
                format!(
                    "must exceed relapse_switch_cells ({}), got {}",
                    self.relapse_switch_cells, self.relapse_established_cells
                ),
            );
        }
        if !(self.relapse_delay_day.is_finite() && self.relapse_delay_day >= 0.0) {
            return bad(
                "relapse_delay_day",
                format!("must be finite and ≥ 0, got {}", self.relapse_delay_day),
            );
        }
        Ok(())
    }
}

/// The SLE CD19 CAR-T model.
///
/// ```
/// use cartsim::prelude::*;
/// let model = SleModel::default();
/// assert_eq!(model.states().len(), cartsim::model::sle::SLE_STATES);
/// assert!(model.parameters().iter().all(|p| !p.source.note().is_empty()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SleModel {
    /// Endpoint definitions.
    pub definitions: SleDefinitions,
}

/// One prepared SLE patient: parameters, derived constants and drug exposure.
#[derive(Debug, Clone)]
pub struct SlePatient {
    p: SleParams,
    to_blood: f64,
    k_tr: f64,
    s_b: f64,
    k_a: f64,
    k_pb: f64,
    k_pl: f64,
    k_ab: f64,
    p_pb: f64,
    p_ll: f64,
    sd_max: f64,
    ab50_g: f64,
    /// Organ activity at full drive per Mcell of autoreactive memory B + plasmablasts
    /// (`φ_O·SD0/(Am0 + Pb0)`), points/Mcell.
    organ_drive_per_mcell: f64,
    k_t_per_ul: f64,
    y0: SVector<f64, SLE_STATES>,
    flu: Exposure<3>,
    cy: Exposure<1>,
    flu_auc_mg_h_per_l: f64,
    baseline_anti_dsdna: f64,
    baseline_autoreactive_per_ul: f64,
    hill_potential: Power,
    hill_sledai: Power,
    /// Right-hand-side constants folded once per patient. Each is the leading part of the
    /// expression it replaces, evaluated in the same order, so the derivative is the same to the
    /// bit: `δ_E + k_EM`, `d_N`, `δ_x·A_x`, `1 − f_mem`.
    effector_loss_per_day: f64,
    naive_loss_per_day: f64,
    allee_numerator: f64,
    effector_product_fraction: f64,
}

/// `x^n`, as repeated multiplication when `n` is a small integer (the usual case: `powf` costs
/// ~20× a multiplication and the right-hand side needs two per call).
#[derive(Debug, Clone, Copy)]
enum Power {
    Int(i32),
    Real(f64),
}

impl Power {
    fn new(n: f64) -> Self {
        if n.fract() == 0.0 && (1.0..=16.0).contains(&n) {
            Power::Int(n as i32)
        } else {
            Power::Real(n)
        }
    }

    #[inline]
    fn pow(self, x: f64) -> f64 {
        match self {
            // `powi` is a libcall (__powidf2) on x86-64: spell the common cases out.
            Power::Int(1) => x,
            Power::Int(2) => x * x,
            Power::Int(3) => x * x * x,
            Power::Int(4) => {
                let x2 = x * x;
                x2 * x2
            }
            Power::Int(n) => x.powi(n),
            Power::Real(n) => x.powf(n),
        }
    }
}

impl SlePatient {
    /// Blood cells/µL per 10⁶ body cells.
    pub fn cells_per_ul_per_mcell(&self) -> f64 {
        self.to_blood
    }

    /// Constant CD19− progenitor inflow into the marrow precursor pool, Mcells/day.
    pub fn progenitor_inflow_mcells_per_day(&self) -> f64 {
        self.s_b
    }

    /// F-ara-A exposure.
    pub fn fludarabine(&self) -> &Exposure<3> {
        &self.flu
    }

    /// Cyclophosphamide exposure.
    pub fn cyclophosphamide(&self) -> &Exposure<1> {
        &self.cy
    }

    /// Parameters.
    pub fn params(&self) -> &SleParams {
        &self.p
    }
}

#[inline]
fn pos(x: f64) -> f64 {
    x.max(0.0)
}

/// CD19+ cells that engage CAR-T (antigen `U`), Mcells: the B lineage and plasmablasts, states
/// below zero counted as zero.
const ANTIGEN: [usize; 7] = [ix::BM, ix::T1, ix::T2, ix::T3, ix::BN, ix::AM, ix::PB];

/// Antigen `U`, Mcells (the sum over [`ANTIGEN`], in that order).
#[inline]
fn antigen_mcells(y: &SVector<f64, SLE_STATES>) -> f64 {
    let mut u = 0.0;
    for i in ANTIGEN {
        u += pos(y[i]);
    }
    u
}

/// IL-6 production by antigen-engaged CAR-T `q = p_IL·E·U/(EC50 + E + U)`, pg/mL/day, for
/// effector `e` and antigen `u` (Mcells).
#[inline]
fn il6_production_rate(pt: &SlePatient, e: f64, u: f64) -> f64 {
    pt.p.il6_production_pg_per_ml_per_day_per_mcell * e * u
        / (pt.p.expansion_half_saturation_mcells + e + u)
}

/// Per-cell loss rate of CD19+ cells `κ + k_LD,B` (1/day) at F-ara-A and cyclophosphamide
/// concentrations `c_f`, `c_c` (mg/L) for effector `e`, memory `m` and antigen `u` (Mcells): the
/// same expressions as in [`Model::rhs`], for the output column the relapse step reads (a unit
/// test checks they agree).
fn cd19_loss_rate(pt: &SlePatient, c_f: f64, c_c: f64, e: f64, m: f64, u: f64) -> f64 {
    let p = &pt.p;
    let k_ld = p.flu_emax_per_day * c_f / (p.flu_ec50_mg_per_l + c_f)
        + p.cy_emax_per_day * c_c / (p.cy_ec50_mg_per_l + c_c);
    let killers = e + p.memory_kill_efficiency * m;
    let kappa =
        p.max_kill_per_car_t_per_day * killers / (p.kill_half_saturation_mcells + killers + u);
    kappa + p.b_lineage_ld_sensitivity * k_ld
}

/// Metadata of the model: name, states, parameters, inputs, outputs, endpoints.
pub const INFO: ModelInfo = ModelInfo {
    name: "sle_cd19_car_t",
    states: STATES,
    parameters: SLE_PARAMS,
    inputs: INPUTS,
    outputs: OUTPUTS,
    endpoints: ENDPOINTS,
};

impl Model<SLE_STATES> for SleModel {
    type Params = SleParams;
    type Patient = SlePatient;

    fn info(&self) -> &'static ModelInfo {
        &INFO
    }
    fn default_params(&self) -> SleParams {
        SleParams::default()
    }
    fn params_from_values(&self, values: &[f64]) -> Result<SleParams, ParamError> {
        SleParams::from_values(self.name(), values)
    }
    fn param_values(&self, params: &SleParams, out: &mut [f64]) {
        params.to_values(out);
    }

    fn prepare(
        &self,
        p: &SleParams,
        cov: &Covariates,
        doses: &[ResolvedDose],
    ) -> Result<SlePatient, ParamError> {
        let w = cov.weight_kg;
        let v_blood_ul = p.blood_volume_ml_per_kg * w * 1000.0;
        let to_blood = p.blood_fraction * 1e6 / v_blood_ul;

        // B lineage steady state.
        let k_tr = 4.0 / p.maturation_delay_day;
        let b_tot = cov.baseline_b_cells_per_ul / to_blood;
        let am0 = p.autoreactive_fraction * b_tot;
        let d_n_eff = p.naive_b_turnover_per_day;
        let s_b = (b_tot - am0) / (1.0 / k_tr + 1.0 / d_n_eff);
        let bm0 = s_b / k_tr;
        let bn0 = s_b / d_n_eff;
        // Autoreactive memory: K_A such that Am0 is an equilibrium.
        let allee = p.allee_death_per_day * p.allee_scale_mcells / (am0 + p.allee_scale_mcells);
        let q = allee;
        let ratio = q / p.autoreactive_growth_per_day;
        if ratio >= 1.0 {
            return Err(ParamError::Invalid {
                name: "autoreactive_growth_per_day".into(),
                reason: format!(
                    "growth {} /day cannot balance the Allee death at baseline ({} /day)",
                    p.autoreactive_growth_per_day, q
                ),
            });
        }
        let k_a = am0 / (1.0 - ratio);
        let pb0 = p.plasmablast_ratio * am0;
        let k_pb = p.plasmablast_death_per_day * p.plasmablast_ratio;
        let ll0 = 1.0;
        let k_pl = p.llpc_death_per_day * ll0 / pb0;
        let ab0 = cov.baseline_anti_dsdna_iu_per_ml;
        let k_ab = std::f64::consts::LN_2 / p.igg_half_life_day;
        let p_pb = (1.0 - p.llpc_production_share) * k_ab * ab0 / pb0;
        let p_ll = p.llpc_production_share * k_ab * ab0 / ll0;
        // Disease drive by the titre relative to the patient's own baseline (θ_50·Ab0).
        let ab50_g = (p.sledai_half_titre_fraction * ab0).powf(p.sledai_hill);
        let ab0_g = ab0.powf(p.sledai_hill);
        // Baseline activity: the organ share φ_O follows autoreactive B-cell activity and
        // resolves slowly; the rest follows anti-dsDNA.
        let sd_organ0 = p.organ_activity_share * cov.baseline_sledai;
        let sd_max = (cov.baseline_sledai - sd_organ0) * (ab50_g + ab0_g) / ab0_g;
        let k_t_per_ul = cov.baseline_t_cells_per_ul;
        let th0 = k_t_per_ul / to_blood;

        let mut y0 = SVector::<f64, SLE_STATES>::zeros();
        y0[ix::BM] = bm0;
        y0[ix::T1] = bm0;
        y0[ix::T2] = bm0;
        y0[ix::T3] = bm0;
        y0[ix::BN] = bn0;
        y0[ix::AM] = am0;
        y0[ix::PB] = pb0;
        y0[ix::LL] = ll0;
        y0[ix::AB] = ab0;
        y0[ix::SD] = cov.baseline_sledai - sd_organ0;
        y0[ix::SO] = sd_organ0;
        y0[ix::TH] = th0;

        // Lymphodepletion PK (Langenhorst 2019, allometric to 70 kg; rates per day).
        let egfr_l_per_h = cov.egfr_ml_per_min * 0.06;
        let wr = w / 70.0;
        let a75 = wr.powf(0.75);
        let cl_l_per_h = (p.flu_cl_nonrenal_l_per_h + p.flu_cl_renal_per_egfr * egfr_l_per_h) * a75;
        let flu_disp = Disposition::three_compartment(
            p.flu_v1_l * wr,
            p.flu_v2_l * wr,
            p.flu_v3_l * wr,
            cl_l_per_h * 24.0,
            p.flu_q2_l_per_h * a75 * 24.0,
            p.flu_q3_l_per_h * a75 * 24.0,
        )?;
        let negligible = self.definitions.negligible_drug_mg_per_l;
        let flu = Exposure::new(
            &flu_disp,
            doses,
            input::FLUDARABINE,
            p.flu_salt_fraction,
            negligible,
        );
        let flu_auc_mg_h_per_l = flu.auc_mg_day_per_l() * 24.0;
        let k_cy = std::f64::consts::LN_2 / (p.cy_half_life_h / 24.0);
        let cy_disp = Disposition::one_compartment(p.cy_volume_l_per_kg * w, k_cy);
        let cy = Exposure::new(&cy_disp, doses, input::CYCLOPHOSPHAMIDE, 1.0, negligible);

        Ok(SlePatient {
            p: *p,
            to_blood,
            k_tr,
            s_b,
            k_a,
            k_pb,
            k_pl,
            k_ab,
            p_pb,
            p_ll,
            sd_max,
            ab50_g,
            organ_drive_per_mcell: sd_organ0 / (am0 + pb0),
            k_t_per_ul,
            y0,
            flu,
            cy,
            flu_auc_mg_h_per_l,
            baseline_anti_dsdna: ab0,
            baseline_autoreactive_per_ul: am0 * to_blood,
            hill_potential: Power::new(p.potential_hill),
            hill_sledai: Power::new(p.sledai_hill),
            effector_loss_per_day: p.effector_death_per_day + p.effector_to_memory_per_day,
            naive_loss_per_day: p.naive_b_turnover_per_day,
            allee_numerator: p.allee_death_per_day * p.allee_scale_mcells,
            effector_product_fraction: 1.0 - p.product_memory_fraction,
        })
    }

    fn initial_state(&self, patient: &SlePatient, _start_day: f64) -> SVector<f64, SLE_STATES> {
        patient.y0
    }

    /// Every endpoint comes from the values tracked on the solver's steps and the knots of its
    /// dense output (test `endpoints_do_not_depend_on_the_output_grid`).
    fn endpoints_read_grid(&self) -> bool {
        false
    }

    fn settings_description(&self) -> String {
        format!("{:?}", self.definitions)
    }

    /// Log-normal (logit-normal for fractions), diagonal Ω ([`DEFAULT_OMEGA`], with the
    /// provenance of each entry); ω = SD of η. Kinetic ω values are assumptions tuned for the
    /// reported spread (MODEL.md §1, §4; PROTOTYPE.md §3); fludarabine IIV is Langenhorst 2019's.
    fn default_iiv(&self) -> Iiv {
        Iiv::diagonal("omega", DEFAULT_OMEGA).unwrap_or_else(|_| Iiv::none())
    }

    fn breakpoints(&self, patient: &SlePatient, out: &mut Vec<f64>) {
        for w in [patient.flu.washout_day(), patient.cy.washout_day()] {
            if w.is_finite() {
                out.push(w);
            }
        }
    }

    #[inline]
    fn rhs(
        &self,
        pt: &SlePatient,
        t: f64,
        y: &SVector<f64, SLE_STATES>,
        seg: &Segment<'_>,
        dy: &mut SVector<f64, SLE_STATES>,
    ) {
        let p = &pt.p;
        let c_f = pt.flu.concentration(t, seg.start_day);
        let c_c = pt.cy.concentration(t, seg.start_day);
        // After washout both are exactly 0 and so is k_LD (skips two divisions per call).
        let k_ld = if c_f == 0.0 && c_c == 0.0 {
            0.0
        } else {
            p.flu_emax_per_day * c_f / (p.flu_ec50_mg_per_l + c_f)
                + p.cy_emax_per_day * c_c / (p.cy_ec50_mg_per_l + c_c)
        };
        let k_ld_b = p.b_lineage_ld_sensitivity * k_ld;

        let e = pos(y[ix::E]);
        let m = pos(y[ix::M]);
        let dv = pos(y[ix::DV]);
        let bm = pos(y[ix::BM]);
        let t1 = pos(y[ix::T1]);
        let t2 = pos(y[ix::T2]);
        let t3 = pos(y[ix::T3]);
        let bn = pos(y[ix::BN]);
        let am = pos(y[ix::AM]);
        let pb = pos(y[ix::PB]);
        let ll = pos(y[ix::LL]);
        let ab = pos(y[ix::AB]);
        let sd = y[ix::SD];
        let th = pos(y[ix::TH]);

        let t_b = pt.to_blood * (th + e + m);
        let h = if t_b < pt.k_t_per_ul {
            let d = pt.k_t_per_ul - t_b;
            1.0 + p.homeostatic_boost_max * d * d / (p.homeostatic_boost_shape * t_b * t_b + d * d)
        } else {
            1.0
        };
        let u = bm + t1 + t2 + t3 + bn + am + pb;
        let x = dv / p.potential_half_divisions;
        let potential = 1.0 / (1.0 + pt.hill_potential.pow(x));
        let engaged = u / (p.expansion_half_saturation_mcells + e + u);
        let r = p.effector_proliferation_per_day * h * potential * engaged;
        let react =
            p.memory_reactivation_per_day * u / (p.memory_reactivation_half_sat_mcells + u) * m;
        let killers = e + p.memory_kill_efficiency * m;
        let kappa =
            p.max_kill_per_car_t_per_day * killers / (p.kill_half_saturation_mcells + killers + u);
        let loss_b = kappa + k_ld_b;

        // A CAR-T product given as an infusion enters at its rate (cells/day → Mcells/day);
        // drug rates are ignored here: drugs act through their closed-form exposure.
        let car_t_in = seg.infusion_rates.first().copied().unwrap_or(0.0) * 1e-6;
        let f_mem = p.product_memory_fraction;
        dy[ix::E] = r * e - (pt.effector_loss_per_day + k_ld) * e
            + react
            + pt.effector_product_fraction * car_t_in;
        dy[ix::M] = p.effector_to_memory_per_day * e - react - (p.memory_death_per_day + k_ld) * m
            + f_mem * car_t_in;
        dy[ix::DV] = r * e / (e + 1e-6);
        dy[ix::BM] = pt.s_b - (pt.k_tr + loss_b) * bm;
        dy[ix::T1] = pt.k_tr * (bm - t1) - loss_b * t1;
        dy[ix::T2] = pt.k_tr * (t1 - t2) - loss_b * t2;
        dy[ix::T3] = pt.k_tr * (t2 - t3) - loss_b * t3;
        dy[ix::BN] = pt.k_tr * t3 - (pt.naive_loss_per_day + loss_b) * bn;
        let allee = pt.allee_numerator / (am + p.allee_scale_mcells);
        dy[ix::AM] = (p.autoreactive_growth_per_day * (1.0 - am / pt.k_a) - allee - loss_b) * am;
        dy[ix::PB] = pt.k_pb * am - (p.plasmablast_death_per_day + loss_b) * pb;
        dy[ix::LL] = pt.k_pl * pb - p.llpc_death_per_day * ll;
        dy[ix::AB] = pt.p_pb * pb + pt.p_ll * ll - pt.k_ab * ab;
        let ab_g = pt.hill_sledai.pow(ab);
        dy[ix::SD] = p.sledai_rate_per_day * (pt.sd_max * ab_g / (pt.ab50_g + ab_g) - sd);
        dy[ix::SO] =
            p.organ_resolution_per_day * (pt.organ_drive_per_mcell * (am + pb) - y[ix::SO]);
        let gompertz = if t_b > 0.0 {
            -p.t_recovery_per_day * (t_b / pt.k_t_per_ul).ln()
        } else {
            0.0
        };
        dy[ix::TH] = (gompertz - k_ld) * th;
    }

    fn apply_bolus(
        &self,
        pt: &SlePatient,
        input: usize,
        amount: f64,
        y: &mut SVector<f64, SLE_STATES>,
    ) {
        // Drugs act through their closed-form exposure; only the cell product enters the state.
        if input == self::input::CAR_T {
            let mcells = amount * 1e-6;
            y[ix::E] += (1.0 - pt.p.product_memory_fraction) * mcells;
            y[ix::M] += pt.p.product_memory_fraction * mcells;
        }
    }

    #[inline]
    fn observe(&self, pt: &SlePatient, t: f64, y: &SVector<f64, SLE_STATES>, o: &mut [f64]) {
        if o.len() < OUTPUTS.len() {
            return;
        }
        let b = pt.to_blood;
        o[out::CAR_T] = b * pos(y[ix::E] + y[ix::M]);
        o[out::CAR_T_MEMORY] = b * pos(y[ix::M]);
        o[out::B_CELLS] = b * pos(y[ix::T3] + y[ix::BN] + y[ix::AM]);
        o[out::AUTOREACTIVE_B] = b * pos(y[ix::AM]);
        o[out::T_CELLS] = b * pos(y[ix::TH] + y[ix::E] + y[ix::M]);
        o[out::ANTI_DSDNA] = pos(y[ix::AB]);
        o[out::SLEDAI] = pos(y[ix::SD]) + pos(y[ix::SO]);
        let e = pos(y[ix::E]);
        let u = antigen_mcells(y);
        o[out::IL6_PRODUCTION] = il6_production_rate(pt, e, u);
        let c_f = pt.flu.concentration_at(t);
        let c_c = pt.cy.concentration_at(t);
        o[out::CD19_KILL_RATE] = cd19_loss_rate(pt, c_f, c_c, e, pos(y[ix::M]), u);
        o[out::AUTOREACTIVE_RECRUITMENT] =
            pt.p.naive_to_autoreactive_per_day * pos(y[ix::BN]) * 1e6;
        // Filled by `finish` from the production column.
        o[out::IL6] = pt.p.il6_baseline_pg_per_ml;
        o[out::FLUDARABINE] = c_f;
        o[out::CYCLOPHOSPHAMIDE] = c_c;
    }

    /// The endpoints' definitions as reference lines: B-cell depletion/return threshold, the
    /// anti-dsDNA assay cut-off, the remission cut-off of the SLEDAI surrogate and the IL-6
    /// level of CRS grade 2; the CAR-T detection limit of the detection window.
    fn reference_line(&self, output: usize) -> Option<(f64, String)> {
        let d = &self.definitions;
        match output {
            out::B_CELLS => Some((
                d.b_cell_threshold_per_ul,
                format!("depletion/return {} cells/µL", d.b_cell_threshold_per_ul),
            )),
            out::ANTI_DSDNA => match d.anti_dsdna_negative {
                AntiDsDnaCutoff::Assay {
                    assay,
                    negative_below_iu_per_ml,
                } => Some((negative_below_iu_per_ml, format!("cut-off: {assay}"))),
                // Relative to each patient's baseline: no single line.
                _ => None,
            },
            out::SLEDAI => Some((
                d.remission_sledai_below,
                format!("remission < {}", d.remission_sledai_below),
            )),
            out::IL6 => Some((
                d.crs_il6_thresholds_pg_per_ml[1],
                format!("CRS grade 2 ≥ {} pg/mL", d.crs_il6_thresholds_pg_per_ml[1]),
            )),
            out::CAR_T => Some((
                d.car_t_detection_per_ul,
                format!("CAR-T detection {} cells/µL", d.car_t_detection_per_ul),
            )),
            _ => OUTPUTS.get(output)?.detection_line(),
        }
    }

    fn tracked_len(&self, start_day: f64, end_day: f64) -> usize {
        track::slot::LEN + track::KNOT_SERIES * track::knot_count(start_day, end_day)
    }

    fn track_init(&self, _pt: &SlePatient, tracked: &mut [f64]) {
        track::init(tracked);
    }

    #[inline]
    fn track(&self, pt: &SlePatient, step: &StepSpan<'_, SLE_STATES>, tracked: &mut [f64]) {
        track::step(pt, &self.definitions, step, tracked);
    }

    fn finish(&self, _pt: &SlePatient, trajectory: &mut Trajectory) {
        track::finish(&mut trajectory.tracked);
    }

    #[inline]
    fn observe_tracked(
        &self,
        pt: &SlePatient,
        step: &StepSpan<'_, SLE_STATES>,
        t_day: f64,
        tracked: &[f64],
        o: &mut [f64],
    ) {
        if let Some(v) = o.get_mut(out::IL6) {
            *v = pt.p.il6_baseline_pg_per_ml + track::il6_excess_at(step, t_day, tracked);
        }
    }

    fn endpoints(&self, pt: &SlePatient, tr: &Trajectory, o: &mut [f64]) {
        if o.len() < ENDPOINTS.len() {
            return;
        }
        let d = &self.definitions;
        let m3 = d.month3_day;
        let tk = tr.tracked();
        if tk.len() < track::slot::LEN {
            o.iter_mut().for_each(|v| *v = f64::NAN);
            return;
        }
        use track::slot;
        o[ep::CAR_T_PEAK] = tk[slot::CAR_T_PEAK];
        o[ep::CAR_T_PEAK_DAY] = tk[slot::CAR_T_PEAK_DAY];
        o[ep::CAR_T_AUC_0_28] = tk[slot::CAR_T_AUC_0_28];
        o[ep::CAR_T_DAY90] = tk[slot::CAR_T_DAY90];
        o[ep::CAR_T_UNDETECTABLE_DAY] = tk[slot::CAR_T_UNDETECTABLE_DAY];
        let thr = d.b_cell_threshold_per_ul;
        o[ep::B_DEPLETION_DAY] = tk[slot::B_DEPLETION_DAY];
        o[ep::B_REAPPEARANCE_DAY] = tk[slot::B_REAPPEARANCE_DAY];
        let b14 = tk[slot::B_DAY14];
        o[ep::B_DAY14] = b14;
        let neg_cut = d
            .anti_dsdna_negative
            .below_iu_per_ml(pt.baseline_anti_dsdna);
        o[ep::ANTI_DSDNA_NEGATIVE_DAY] = tk[slot::ANTI_DSDNA_NEGATIVE_DAY];
        let sd3 = tk[slot::SLEDAI_MONTH3];
        o[ep::SLEDAI_MONTH3] = sd3;
        let il6_peak = pt.p.il6_baseline_pg_per_ml + tk[slot::IL6_EXCESS_PEAK];
        o[ep::IL6_PEAK] = il6_peak;
        let grade = d
            .crs_il6_thresholds_pg_per_ml
            .iter()
            .filter(|&&c| il6_peak >= c)
            .count() as f64;
        o[ep::CRS_GRADE] = grade;
        o[ep::FLU_AUC] = pt.flu_auc_mg_h_per_l;
        o[ep::T_DAY0] = tk[slot::T_DAY0];
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        o[ep::B_DEPLETED_DAY14] = flag(b14 < thr);
        o[ep::ANTI_DSDNA_NEGATIVE_MONTH3] = flag(tk[slot::ANTI_DSDNA_MONTH3] < neg_cut);
        o[ep::REMISSION_MONTH3] = flag(sd3 < d.remission_sledai_below);
        o[ep::CRS_GE1] = flag(grade >= 1.0);
        o[ep::CRS_GE2] = flag(grade >= 2.0);
        o[ep::CRS_GE3] = flag(grade >= 3.0);
        let cut = d.autoreactive_eliminated_fraction * pt.baseline_autoreactive_per_ul;
        // On the fixed knots of the dense output (not the output grid), from month 3 on.
        let knots = track::knot_series(tk);
        let from = ((m3 - knots.origin_day) / track::KNOT_STEP_DAY)
            .ceil()
            .max(0.0) as usize;
        let eliminated = knots
            .clone
            .get(from..)
            .is_some_and(|c| c.iter().all(|&v| v < cut));
        o[ep::AUTOREACTIVE_ELIMINATED] = flag(eliminated);
        // Filled by `stochastic_endpoints`.
        for k in ep::AUTOREACTIVE_EXTINCTION_DAY..=ep::LASTING_REMISSION {
            o[k] = f64::NAN;
        }
    }

    fn stochastic_endpoints(
        &self,
        pt: &SlePatient,
        tr: &Trajectory,
        rng: &mut PatientRng,
        o: &mut [f64],
    ) {
        if o.len() < ENDPOINTS.len() {
            return;
        }
        let f = relapse::clone_fate(pt, &self.definitions, tr, rng);
        o[ep::AUTOREACTIVE_EXTINCTION_DAY] = f.extinction_day;
        o[ep::RELAPSE_DAY] = f.relapse_day;
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        o[ep::AUTOREACTIVE_EXTINCT] = flag(f.extinct);
        let relapse = f.relapse_day.is_finite();
        o[ep::RELAPSE] = flag(relapse);
        o[ep::LASTING_REMISSION] = flag(o[ep::REMISSION_MONTH3] == 1.0 && f.extinct && !relapse);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random effect within 6 SD of the mean (one patient in 5·10⁸) never draws a value
    /// outside its parameter's bounds: large cohorts do not fail patients for their draws.
    /// (ω 0.9 on the memory decline once put the 4.4-SD draw of patient 4,632 of the throughput
    /// bench below the old lower bound 1e-4/day.)
    #[test]
    fn six_sigma_draws_stay_within_the_parameter_bounds() {
        let mut values = vec![0.0; SLE_PARAMS.len()];
        SleModel::default().default_params().to_values(&mut values);
        for &(name, omega) in DEFAULT_OMEGA {
            let i = SLE_PARAMS.iter().position(|q| q.name == name).unwrap();
            let info = &SLE_PARAMS[i];
            let typical = values[i];
            for z in [-6.0, 6.0] {
                let v = if info.lower == 0.0 && info.upper == 1.0 {
                    let l = (typical / (1.0 - typical)).ln() + omega * z;
                    1.0 / (1.0 + (-l).exp())
                } else {
                    typical * (omega * z).exp()
                };
                assert!(
                    v >= info.lower && v <= info.upper,
                    "{name}: typical {typical}, ω {omega}, z {z}: {v} outside [{}, {}]",
                    info.lower,
                    info.upper
                );
            }
        }
    }

    #[test]
    fn input_indices_name_the_inputs() {
        assert_eq!(INPUTS.len(), 3);
        assert_eq!(INPUTS[input::CAR_T].name, crate::model::CAR_T);
        assert_eq!(INPUTS[input::FLUDARABINE].name, "fludarabine");
        assert_eq!(INPUTS[input::CYCLOPHOSPHAMIDE].name, "cyclophosphamide");
    }

    #[test]
    fn kill_rate_output_matches_the_right_hand_side() {
        let model = SleModel::default();
        let cov = Covariates::typical();
        let mut doses = Vec::new();
        crate::regimen::Regimen::mackensen_2022()
            .resolve_into(model.name(), model.inputs(), &cov, &mut doses)
            .unwrap();
        let pt = model
            .prepare(&model.default_params(), &cov, &doses)
            .unwrap();
        let mut y = pt.y0;
        y[ix::E] = 300.0;
        y[ix::M] = 50.0;
        let rates = [0.0; 3];
        for t in [-4.9, -3.0, 0.5, 9.0, 200.0] {
            let seg = Segment {
                start_day: t,
                end_day: t + 0.1,
                infusion_rates: &rates,
            };
            let mut dy = SVector::zeros();
            model.rhs(&pt, t, &y, &seg, &mut dy);
            let from_rhs = (pt.s_b - dy[ix::BM]) / y[ix::BM] - pt.k_tr;
            let mut o = vec![0.0; OUTPUTS.len()];
            model.observe(&pt, t, &y, &mut o);
            let got = o[out::CD19_KILL_RATE];
            assert!(
                (got - from_rhs).abs() < 1e-9 * (1.0 + from_rhs.abs()),
                "t {t}: output {got} vs rhs {from_rhs}"
            );
        }
    }
}
