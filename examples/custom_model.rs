//! How do I simulate my own CAR-T model with cartsim, and what does a minimal three-state
//! model (effector CAR-T, memory CAR-T, CD19+ B cells) predict for three CAR-T dose levels?
//!
//! The model below lives entirely outside the crate and uses only the public API: a parameter
//! struct with its metadata table (`ParamInfo`: unit, default, bounds, source, declared with the
//! `param_table!` macro), a dose input,
//! observed outputs, endpoints, and an implementation of [`cartsim::model::Model`]. Once that is
//! written, [`cartsim::simulate`] runs it like a built-in model: the regimen is resolved against
//! the model's inputs, parameters and covariates are validated, the solver cuts the horizon at
//! dose times.
//!
//! ```text
//! dE/dt = ρ·h(t)·B/(K_B + B)·E − (δ_E + k_EM)·E + (1 − f_mem)·u(t)
//! dM/dt = k_EM·E − δ_M·M + f_mem·u(t)
//! dB/dt = d_B·(B0 − B) − k_max·C/(K_C + C + B)·B,        C = E + ε_M·M
//! h(t)  = 1 + h_max·exp(−k_h·t)                           (t ≥ 0, day 0 = CAR-T)
//! ```
//! States are in cells/µL of blood; a bolus adds `dose · f_blood / V_blood` (70 mL/kg) to E and M,
//! an infused product enters at the rate `u(t)`. B0 is the patient's baseline B-cell count. The
//! homeostatic boost `h` after lymphodepletion (Kimmel 2021) is what lets CAR-T expand: without
//! it `ρ < δ_E + k_EM`, so they cannot re-expand when B cells return. Parameter values are
//! illustrative, hand-tuned so that 1e6 cells/kg peaks around day 8 and B cells return around
//! day 90; they are not a calibrated model (the built-in `SleModel` is).
//!
//! ```text
//! cargo run --release --example custom_model -- [--out FILE.csv]
//! ```
//! With `--out`, the daily trajectory at 1e6 cells/kg is written to FILE.csv.

mod common;

use std::io::Write;

use cartsim::error::ParamError;
use cartsim::model::ResolvedDose;
use cartsim::model::Trajectory;
use cartsim::model::{
    EndpointInfo, EndpointKind, InputInfo, InputKind, Model, ModelInfo, OutputInfo, SVector,
    Segment, StateInfo,
};
use cartsim::regimen::{Amount, Regimen};
use cartsim::solve::SolverOptions;
use cartsim::variability::Covariates;

/// The parameter struct, its metadata table (unit, default, bounds, source) and the conversions
/// between them, declared in one list with the crate's `param_table!` macro, so that field,
/// documentation, bounds and source cannot drift apart.
#[allow(dead_code)] // `set_by_name`, generated for every table, is not used here.
mod params {
    use cartsim::model::Source::{Assumption, Literature};

    cartsim::param_table! {
        /// Parameters of the minimal model.
        pub struct MiniParams;
        const PARAMS;
        /// Maximal antigen-driven effector proliferation ρ, 1/day.
        proliferation_per_day: "ρ", "1/day", 0.15, [0.0, 5.0], Assumption("below δ_E + k_EM: expansion needs the boost h");
        /// B-cell count at half-maximal proliferation K_B, cells/µL.
        antigen_half_sat_per_ul: "K_B", "cells/µL", 10.0, [1e-3, 1e4], Assumption("illustrative");
        /// Homeostatic boost of proliferation at day 0 h_max (after lymphodepletion).
        homeostatic_boost_max: "h_max", "1", 6.0, [0.0, 100.0], Assumption("homeostatic space after Flu/Cy (Kimmel 2021), illustrative");
        /// Fading rate of the homeostatic boost k_h, 1/day.
        boost_decay_per_day: "k_h", "1/day", 0.1, [0.0, 10.0], Assumption("host T-cell recovery over weeks");
        /// Effector death δ_E, 1/day.
        effector_death_per_day: "δ_E", "1/day", 0.2, [0.0, 5.0], Assumption("effector t½ ≈ 3.5 day");
        /// Effector → memory conversion k_EM, 1/day.
        effector_to_memory_per_day: "k_EM", "1/day", 0.08, [0.0, 1.0], Assumption("hand-tuned: B-cell return around day 90 at 1e6 cells/kg");
        /// Memory death δ_M, 1/day.
        memory_death_per_day: "δ_M", "1/day", 0.01, [0.0, 1.0], Assumption("memory t½ ≈ 70 day");
        /// Memory share of the product f_mem.
        product_memory_fraction: "f_mem", "1", 0.2, [0.0, 1.0], Assumption("illustrative");
        /// Killing efficiency of memory relative to effector cells ε_M.
        memory_kill_efficiency: "ε_M", "1", 1.0, [0.0, 10.0], Assumption("memory cells kill as effectors");
        /// Maximal kill rate per B cell k_max, 1/day.
        max_kill_per_day: "k_max", "1/day", 8.0, [0.0, 100.0], Assumption("hand-tuned: B < 1/µL soon after the CAR-T peak");
        /// CAR-T count at half-maximal killing K_C, cells/µL.
        kill_half_sat_per_ul: "K_C", "cells/µL", 1.0, [1e-3, 1e4], Assumption("illustrative");
        /// B-cell turnover d_B, 1/day.
        b_turnover_per_day: "d_B", "1/day", 0.02, [1e-4, 1.0], Literature("Macallan et al., Blood 2005 (order of magnitude)");
        /// Share of infused cells found in blood f_blood.
        blood_fraction: "f_blood", "1", 0.02, [1e-3, 1.0], Literature("~2% of lymphocytes are in blood");
    }
}

use params::{MiniParams, PARAMS};

/// One prepared patient: parameters plus what the covariates fix.
struct MiniPatient {
    p: MiniParams,
    /// Baseline blood B cells, cells/µL.
    b0_per_ul: f64,
    /// Blood cells/µL per infused cell.
    per_ul_per_cell: f64,
}

const fn ep(name: &'static str, unit: &'static str, description: &'static str) -> EndpointInfo {
    EndpointInfo {
        name,
        unit,
        kind: EndpointKind::Continuous,
        description,
    }
}

/// Endpoints, in the order [`MiniModel::endpoints`] writes them.
const ENDPOINTS: &[EndpointInfo] = &[
    ep("car_t_peak_cells_per_ul", "cells/µL", "CAR-T Cmax"),
    ep("car_t_peak_day", "day", "CAR-T Tmax"),
    ep("car_t_day90_cells_per_ul", "cells/µL", "CAR-T at day 90"),
    ep(
        "b_cell_depletion_day",
        "day",
        "first day with B < 1/µL (NaN: never)",
    ),
    ep(
        "b_cell_reappearance_day",
        "day",
        "first day with B ≥ 1/µL after depletion (NaN: never)",
    ),
    ep(
        "b_cells_day365_cells_per_ul",
        "cells/µL",
        "B cells at day 365",
    ),
];

/// The minimal effector/memory/target model.
struct MiniModel;

const E: usize = 0;
const M: usize = 1;
const B: usize = 2;

impl Model<3> for MiniModel {
    type Params = MiniParams;
    type Patient = MiniPatient;
    fn info(&self) -> &'static ModelInfo {
        &ModelInfo {
            name: "mini_car_t",
            states: &[
                StateInfo {
                    name: "effector",
                    unit: "cells/µL",
                    description: "effector CAR-T in blood",
                },
                StateInfo {
                    name: "memory",
                    unit: "cells/µL",
                    description: "memory CAR-T in blood",
                },
                StateInfo {
                    name: "b_cells",
                    unit: "cells/µL",
                    description: "CD19+ B cells in blood",
                },
            ],
            parameters: PARAMS,
            inputs: &[InputInfo {
                name: "car_t",
                kind: InputKind::Cells,
                description: "CAR-T product (cells)",
            }],
            outputs: &[
                OutputInfo {
                    name: "car_t_cells_per_ul",
                    unit: "cells/µL",
                    detection_limit: 0.01,
                    log_scale: true,
                    description: "CAR-T (effector + memory) in blood",
                },
                OutputInfo {
                    name: "b_cells_per_ul",
                    unit: "cells/µL",
                    detection_limit: 1.0,
                    log_scale: true,
                    description: "CD19+ B cells in blood",
                },
            ],
            endpoints: ENDPOINTS,
        }
    }

    fn params_from_values(&self, values: &[f64]) -> Result<MiniParams, ParamError> {
        MiniParams::from_values(self.name(), values)
    }

    fn param_values(&self, params: &MiniParams, out: &mut [f64]) {
        params.to_values(out);
    }

    fn default_params(&self) -> MiniParams {
        MiniParams::default()
    }

    fn prepare(
        &self,
        p: &MiniParams,
        cov: &Covariates,
        _doses: &[ResolvedDose],
    ) -> Result<MiniPatient, ParamError> {
        // Covariates arrive validated (cartsim checks them once per patient).
        let blood_ul = 70.0 * cov.weight_kg * 1000.0; // 70 mL/kg
        Ok(MiniPatient {
            p: *p,
            b0_per_ul: cov.baseline_b_cells_per_ul,
            per_ul_per_cell: p.blood_fraction / blood_ul,
        })
    }

    fn initial_state(&self, pt: &MiniPatient, _start_day: f64) -> SVector<f64, 3> {
        SVector::from([0.0, 0.0, pt.b0_per_ul])
    }

    fn rhs(
        &self,
        pt: &MiniPatient,
        t_day: f64,
        y: &SVector<f64, 3>,
        segment: &Segment<'_>,
        dy: &mut SVector<f64, 3>,
    ) {
        let p = &pt.p;
        let (e, m, b) = (y[E].max(0.0), y[M].max(0.0), y[B].max(0.0));
        // An infused product arrives through the segment's rate (cells/day).
        let u = segment.infusion_rates.first().copied().unwrap_or(0.0) * pt.per_ul_per_cell;
        // Homeostatic boost after lymphodepletion, fading as host T cells recover (day 0 = CAR-T).
        let boost = 1.0 + p.homeostatic_boost_max * (-p.boost_decay_per_day * t_day.max(0.0)).exp();
        let growth = p.proliferation_per_day * boost * b / (p.antigen_half_sat_per_ul + b);
        // Ratio-dependent killing: saturates in targets as well as in CAR-T.
        let killers = e + p.memory_kill_efficiency * m;
        let kill = p.max_kill_per_day * killers / (p.kill_half_sat_per_ul + killers + b);
        dy[E] = (growth - p.effector_death_per_day - p.effector_to_memory_per_day) * e
            + (1.0 - p.product_memory_fraction) * u;
        dy[M] = p.effector_to_memory_per_day * e - p.memory_death_per_day * m
            + p.product_memory_fraction * u;
        dy[B] = p.b_turnover_per_day * (pt.b0_per_ul - b) - kill * b;
    }

    fn apply_bolus(&self, pt: &MiniPatient, _input: usize, cells: f64, y: &mut SVector<f64, 3>) {
        let per_ul = cells * pt.per_ul_per_cell;
        y[E] += (1.0 - pt.p.product_memory_fraction) * per_ul;
        y[M] += pt.p.product_memory_fraction * per_ul;
    }

    fn observe(&self, _pt: &MiniPatient, _t_day: f64, y: &SVector<f64, 3>, out: &mut [f64]) {
        if let [car_t, b_cells, ..] = out {
            *car_t = y[E].max(0.0) + y[M].max(0.0);
            *b_cells = y[B].max(0.0);
        }
    }

    fn endpoints(&self, _pt: &MiniPatient, tr: &Trajectory, out: &mut [f64]) {
        let (peak_day, peak) = tr.peak(0, 0.0);
        let depletion = tr.first_below(1, 1.0, 0.0);
        let reappearance = if depletion.is_nan() {
            f64::NAN
        } else {
            tr.first_at_or_above(1, 1.0, depletion + tr.step_day())
        };
        let values = [
            peak,
            peak_day,
            tr.value_at(0, 90.0),
            depletion,
            reappearance,
            tr.value_at(1, 365.0),
        ];
        for (o, v) in out.iter_mut().zip(values) {
            *o = v;
        }
    }
}

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), cartsim::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out_path = match args.as_slice() {
        [] => None,
        [flag, path] if flag == "--out" => Some(std::path::PathBuf::from(path)),
        _ => {
            return Err(cartsim::Error::Input(format!(
                "usage: custom_model [--out FILE.csv], got {args:?}"
            )));
        }
    };

    let model = MiniModel;
    // Parameters go through the same validation as any model's: table bounds, finiteness.
    let mut values = vec![0.0; model.parameters().len()];
    model.param_values(&model.default_params(), &mut values);
    let params = model.params_from_values(&values)?;
    let covariates = Covariates::typical();
    let options = SolverOptions::default();

    println!(
        "model `{}`: {} states, {} parameters; typical patient ({} kg, baseline B {} cells/µL)",
        model.name(),
        model.states().len(),
        model.parameters().len(),
        covariates.weight_kg,
        covariates.baseline_b_cells_per_ul
    );
    for dose_cells_per_kg in [1e5, 1e6, 1e7] {
        let regimen = Regimen::builder()
            .horizon(0.0, 365.0)
            .car_t(Amount::CellsPerKg(dose_cells_per_kg), 0.0)
            .build()?;
        let sim = cartsim::simulate(&model, &params, &covariates, &regimen, &options)?;
        println!(
            "\nCAR-T {dose_cells_per_kg:.0e} cells/kg ({} solver steps)",
            sim.stats.accepted_steps
        );
        for (info, v) in sim.endpoint_info.iter().zip(&sim.endpoints) {
            println!("  {:<30} {:>10.3} {}", info.name, v, info.unit);
        }
        if dose_cells_per_kg == 1e6 {
            if let Some(path) = &out_path {
                write_trajectory(path, &sim)?;
                println!("  wrote {}", path.display());
            }
        }
    }
    Ok(())
}

/// Writes the daily trajectory as CSV.
fn write_trajectory(
    path: &std::path::Path,
    sim: &cartsim::Simulation,
) -> Result<(), cartsim::Error> {
    let io = |source: std::io::Error| cartsim::Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let names: Vec<&str> = sim.output_info.iter().map(|o| o.name).collect();
    writeln!(f, "time_day,{}", names.join(",")).map_err(io)?;
    let tr = &sim.trajectory;
    for day in 0..=365 {
        let i = tr.index_of(f64::from(day));
        let row: Vec<String> = (0..names.len())
            .map(|k| format!("{:.6e}", tr.value(i, k)))
            .collect();
        writeln!(f, "{day},{}", row.join(",")).map_err(io)?;
    }
    f.flush().map_err(io)
}
