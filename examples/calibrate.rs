//! Does the calibration tool recover the shipped typical values from the targets?
//!
//! The targets are summary statistics (means and an SD of CAR-T and B-cell endpoints) of the
//! shipped defaults, simulated on a common-random-numbers cohort (same seed, same patients).
//! The fit starts from the shipped values perturbed (×1.2 / ×0.8) on the calibrated CAR-T
//! parameters and must find them again: the example prints each parameter's fitted and
//! shipped value with the relative error and exits non-zero if any error is ≥ 5%.
//!
//! ```text
//! cargo run --release --example calibrate                       # 4 parameters, 300 patients
//! cargo run --release --example calibrate -- --quick            # 2 parameters, 100 patients (CI)
//! cargo run --release --example calibrate -- --out out/calibrate  # also writes the loss history
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cartsim::calibrate::{Calibration, CalibrationTarget, Fit, Statistic};
use cartsim::cohort::Cohort;
use cartsim::prelude::*;
use clap::Parser;

/// Fit perturbed typical values back to the targets.
#[derive(Parser, Debug)]
struct Args {
    /// Patients per evaluation (common random numbers). Default: 300, or 100 with --quick.
    #[arg(long)]
    patients: Option<u64>,
    /// Seed of the common virtual patients.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CI mode: two parameters, 100 patients.
    #[arg(long)]
    quick: bool,
    /// Most Nelder–Mead iterations.
    #[arg(long, default_value_t = 300)]
    max_iters: u64,
    /// Directory for `calibration_history.csv` (not written when absent).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(common::parse_args()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, cartsim::Error> {
    let model = SleModel::default();
    // (parameter, perturbation of the start)
    let fitted: &[(&str, f64)] = if args.quick {
        &[
            ("effector_to_memory_per_day", 1.2),
            ("memory_death_per_day", 0.8),
        ]
    } else {
        &[
            ("effector_to_memory_per_day", 1.2),
            ("memory_death_per_day", 0.8),
            ("max_kill_per_car_t_per_day", 1.2),
            ("effector_proliferation_per_day", 0.8),
        ]
    };
    let n = args.patients.unwrap_or(if args.quick { 100 } else { 300 });
    // Statistics that carry the fitted parameters: expansion (ρ), depletion (k_kill),
    // memory level at day 90 and B-cell return (k_EM, δ_M, k_kill).
    let stats: &[(&str, Statistic)] = &[
        ("car_t_peak_cells_per_ul", Statistic::Mean),
        ("car_t_auc_0_28_cells_day_per_ul", Statistic::Mean),
        ("car_t_day90_cells_per_ul", Statistic::Mean),
        ("b_cell_depletion_day", Statistic::Mean),
        ("b_cell_reappearance_day", Statistic::Mean),
        ("b_cell_reappearance_day", Statistic::Sd),
    ];

    let cohort = Cohort::builder(model).patients(n).seed(args.seed).build()?;
    let mut base = Calibration::builder(cohort).max_iters(args.max_iters);
    let mut shipped = Vec::new();
    let mut start = Vec::new();
    for &(name, factor) in fitted {
        let v = model.parameters()[model.param_index(name)?].default;
        shipped.push(v);
        start.push(v * factor);
        base = base.fit(Fit::typical(name));
    }

    // Targets: the shipped defaults' statistics on the same virtual patients.
    let probe = base
        .clone()
        .targets(
            stats
                .iter()
                .map(|&(e, s)| CalibrationTarget::new(e, s, 0.0, 1.0)),
        )
        .build()?;
    let (reference, _) = probe.simulate_statistics(&shipped)?;
    let targets: Vec<CalibrationTarget> = stats
        .iter()
        .zip(&reference)
        // Scale: 1% of the target (the loss counts errors in percent).
        .map(|(&(e, s), &v)| CalibrationTarget::new(e, s, v, 0.01 * v.abs().max(1e-9)))
        .collect();
    let cal = base.targets(targets.clone()).start(start.clone()).build()?;

    println!(
        "calibration: {} parameters, {} targets, {} patients per evaluation (seed {}), Nelder–Mead on log values",
        fitted.len(),
        targets.len(),
        n,
        args.seed
    );
    for t in &targets {
        println!("  target {:<44} {:>12.4}", t.label(), t.value);
    }
    let t0 = Instant::now();
    let res = cal.run()?;
    let secs = t0.elapsed().as_secs_f64();

    println!(
        "\n{} evaluations, {} iterations in {:.1} s ({}); loss {:.3e} (start {:.3e})",
        res.history.len(),
        res.iterations,
        secs,
        res.termination,
        res.loss,
        res.history.first().map_or(f64::NAN, |e| e.loss)
    );
    println!(
        "{:<34} {:>12} {:>12} {:>12} {:>10}",
        "parameter", "start", "fitted", "shipped", "rel. error"
    );
    let mut worst: f64 = 0.0;
    for (j, label) in res.labels.iter().enumerate() {
        let err = (res.fitted[j] - shipped[j]) / shipped[j];
        worst = worst.max(err.abs());
        println!(
            "{:<34} {:>12.6} {:>12.6} {:>12.6} {:>9.2}%",
            label,
            res.start[j],
            res.fitted[j],
            shipped[j],
            100.0 * err
        );
    }
    println!("\n{:<44} {:>12} {:>12}", "target", "target", "fitted");
    for (t, s) in targets.iter().zip(&res.simulated) {
        println!("{:<44} {:>12.4} {:>12.4}", t.label(), t.value, s);
    }
    if let Some(dir) = &args.out {
        let path = dir.join("calibration_history.csv");
        cartsim::io::write_atomic(&path, |w| {
            let mut header = vec!["evaluation".to_string(), "loss".into(), "best_loss".into()];
            header.extend(res.labels.iter().cloned());
            writeln!(w, "{}", header.join(","))?;
            for (i, (e, b)) in res.history.iter().zip(res.best_loss_history()).enumerate() {
                let vals: Vec<String> = e.values.iter().map(|v| v.to_string()).collect();
                writeln!(w, "{i},{},{b},{}", e.loss, vals.join(","))?;
            }
            Ok(())
        })?;
        println!("wrote {}", path.display());
    }
    if worst < 0.05 {
        println!(
            "PASS: every fitted value within 5% of the shipped value (worst {:.2}%)",
            100.0 * worst
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAIL: worst relative error {:.2}% (≥ 5%)", 100.0 * worst);
        Ok(ExitCode::FAILURE)
    }
}
