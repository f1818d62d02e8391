//! Does the default virtual cohort reproduce the Erlangen lupus trial?
//!
//! Runs the default cohort (SLE population, default Ω, Mackensen 2022 regimen) and prints each
//! MODEL.md §1 target side by side: published value, simulated value, acceptance interval,
//! pass/fail. Writes `DIR/validation.csv` (`target,published,simulated,lower,upper,pass`) and
//! `DIR/validation.png` (simulated 5–95% and 25–75% bands and median of CAR-T and B cells over
//! time, with the published points). Also reports relapse and lasting remission per regimen
//! (default, lower doses, a weaker product) on the same virtual patients, and selects a virtual
//! population matching the published B-cell return distribution (110 ± 32 days).
//! Exits non-zero when a target fails.
//!
//! Then runs the other trials of the cross-trial table
//! ([`cross_trial_targets`](cartsim::calibrate::validation::cross_trial_targets): KYSA-1 at both
//! dose levels with KYV-101, the rese-cel programme), each from its scenario file, and writes
//! `DIR/validation_<trial>.csv`. `--scenario FILE --trial NAME` runs a user's scenario against
//! one trial's rows.
//!
//! ```text
//! cargo run --release --example validation -- --patients 2000 --seed 1 --out out/validation
//! cargo run --release --example validation -- --scenario scenarios/kysa1_dl1.toml --trial "KYSA-1 DL1"
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cartsim::calibrate::validation::{
    Trial, ValidationRow, cross_trial_targets, sle_targets, validate, write_validation_csv,
};
use cartsim::calibrate::vpop::{TargetDistribution, select_records};
use cartsim::cohort::{Cohort, CohortResult};
use cartsim::io::scenario::Scenario;
use cartsim::model::sle::{SLE_STATES, out};
use cartsim::prelude::*;
use clap::Parser;
use plotters::prelude::*;

/// Validate the default SLE cohort against the published trial.
#[derive(Parser, Debug)]
struct Args {
    /// Number of virtual patients.
    #[arg(long, default_value_t = 2000)]
    patients: u64,
    /// Seed of the virtual population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Patients per arm of the relapse comparison (0: skip it).
    #[arg(long, default_value_t = 1000)]
    relapse_patients: u64,
    /// Patients per trial of the cross-trial table (0: skip it).
    #[arg(long, default_value_t = 2000)]
    trial_patients: u64,
    /// Validate this scenario file against the rows of `--trial` instead of the shipped table.
    #[arg(long, requires = "trial")]
    scenario: Option<PathBuf>,
    /// A trial of the cross-trial table (e.g. "KYSA-1 DL1"), for `--scenario`.
    #[arg(long)]
    trial: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "out/validation")]
    out: PathBuf,
}

/// The plot's font, bundled so that text renders on machines without system fonts.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, cartsim::Error> {
    if let (Some(path), Some(trial)) = (&args.scenario, &args.trial) {
        let trials = cross_trial_targets();
        let Some(t) = trials.iter().find(|t| t.name == trial.as_str()) else {
            let names: Vec<_> = trials.iter().map(|t| t.name).collect();
            return Err(cartsim::Error::Input(format!(
                "unknown trial `{trial}`; the table has {names:?}"
            )));
        };
        let failed = run_trial(
            t,
            Some(path),
            args.trial_patients.max(1),
            args.seed,
            &args.out,
        )?;
        return Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let model = SleModel::default();
    let cohort = Cohort::builder(model)
        .patients(args.patients)
        .seed(args.seed)
        .build()?;
    let t0 = Instant::now();
    let result = cohort.run()?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "default cohort: {} patients (seed {}) in {:.2} s; {} failed",
        args.patients, args.seed, secs, result.summary.failed
    );

    let rows = validate(&result.records, model.endpoint_info(), &sle_targets())?;
    println!(
        "\n{:<32} {:<44} {:>10} {:>17}  result",
        "target", "published", "simulated", "accepted"
    );
    print_rows(&rows, "");
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!("{} of {} targets met", rows.len() - failed, rows.len());

    // Virtual population matching the published B-cell return (110 ± 32 days).
    let sel = select_records(
        &result.records,
        model.endpoint_info(),
        &[(
            "b_cell_reappearance_day",
            TargetDistribution::Normal {
                mean: 110.0,
                sd: 32.0,
            },
        )],
        20,
        args.seed,
    )?;
    let k = model
        .endpoint_info()
        .iter()
        .position(|e| e.name == "b_cell_reappearance_day")
        .unwrap_or(0);
    let v: Vec<f64> = sel
        .accepted
        .iter()
        .map(|&i| result.records[i].endpoints[k])
        .collect();
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt();
    println!(
        "\nvirtual population for B-cell return 110 ± 32 days (Allen 2016 accept/reject): \
         {} of {} accepted ({:.1}%), return {:.1} ± {:.1} days",
        sel.accepted.len(),
        result.records.len(),
        100.0 * sel.acceptance_rate,
        m,
        sd
    );

    if args.relapse_patients > 0 {
        relapse_by_regimen(&cohort, args.relapse_patients)?;
    }

    // The other trials of the cross-trial table, each from its scenario file.
    let mut trial_failed = 0;
    if args.trial_patients > 0 {
        for t in cross_trial_targets().iter().skip(1) {
            trial_failed += run_trial(t, None, args.trial_patients, args.seed, &args.out)?;
        }
    }

    let csv = args.out.join("validation.csv");
    write_validation_csv(&csv, &rows)?;
    let png = args.out.join("validation.png");
    plot(&png, &result)?;
    println!("\nwrote {} and {}", csv.display(), png.display());
    Ok(if failed + trial_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints validation rows: target, published, simulated, accepted interval, pass/fail.
fn print_rows(rows: &[ValidationRow], indent: &str) {
    for r in rows {
        println!(
            "{indent}{:<32} {:<44} {:>10.4} {:>17}  {}",
            r.target.name,
            r.target.published,
            r.simulated,
            format!("[{}, {}]", r.target.lower, r.target.upper),
            if r.pass { "pass" } else { "FAIL" }
        );
    }
}

/// Runs one trial of the cross-trial table from its scenario (or `scenario`, a user's file),
/// prints its rows and writes `DIR/validation_<trial>.csv`; returns the number of rows missed.
fn run_trial(
    t: &Trial,
    scenario: Option<&Path>,
    patients: u64,
    seed: u64,
    out: &Path,
) -> Result<usize, cartsim::Error> {
    let path = match scenario {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(t.scenario),
    };
    let mut sc = Scenario::from_path(&path)?;
    sc.patients = patients;
    sc.seed = seed;
    let cohort = sc.cohort()?;
    let result = cohort.run()?;
    let rows: Vec<ValidationRow> =
        validate(&result.records, cohort.model().endpoint_info(), &t.targets)?;
    println!(
        "\n{} ({}; product {}; {}; {} patients from {})",
        t.name,
        t.source,
        t.product,
        t.regimen,
        patients,
        path.display()
    );
    print_rows(&rows, "  ");
    let slug: String = t
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    write_validation_csv(&out.join(format!("validation_{slug}.csv")), &rows)?;
    Ok(rows.iter().filter(|r| !r.pass).count())
}

/// Relapse, escape of the autoreactive clone and lasting remission per regimen, on the same
/// virtual patients (common random numbers).
fn relapse_by_regimen(cohort: &Cohort<SleModel, SLE_STATES>, n: u64) -> Result<(), cartsim::Error> {
    let model = SleModel::default();
    let base = Cohort::builder(model)
        .patients(n)
        .seed(cohort.seed())
        .build()?;
    let mut weak = model.default_params();
    weak.effector_proliferation_per_day *= 0.7;
    let arms: Vec<(&str, Cohort<SleModel, SLE_STATES>)> = vec![
        ("1e6/kg (default)", base.clone()),
        (
            "3e5/kg",
            base.with_regimen(Regimen::flu_cy(3e5, 25.0, 1000.0))?,
        ),
        (
            "1e5/kg",
            base.with_regimen(Regimen::flu_cy(1e5, 25.0, 1000.0))?,
        ),
        (
            "1e6/kg, weaker product (ρ × 0.7)",
            Cohort::builder(model)
                .patients(n)
                .seed(cohort.seed())
                .typical_params(&weak)
                .build()?,
        ),
    ];
    println!(
        "\nrelapse vs lasting reset ({n} patients per arm, same virtual patients, horizon day 365)"
    );
    println!(
        "{:<34} {:>12} {:>16} {:>12} {:>16}",
        "regimen", "remission m3", "clone escaped", "relapse", "lasting remission"
    );
    let info = model.endpoint_info();
    let idx = |name: &str| info.iter().position(|e| e.name == name).unwrap_or(0);
    for (label, c) in &arms {
        let r = c.run()?;
        let frac = |k: usize| {
            r.records.iter().map(|p| p.endpoints[k]).sum::<f64>() / r.records.len().max(1) as f64
        };
        println!(
            "{:<34} {:>11.1}% {:>15.1}% {:>11.1}% {:>16.1}%",
            label,
            100.0 * frac(idx("remission_month3")),
            100.0 * (1.0 - frac(idx("autoreactive_extinct"))),
            100.0 * frac(idx("relapse")),
            100.0 * frac(idx("lasting_remission"))
        );
    }
    Ok(())
}

fn plot_err(path: &Path) -> impl Fn(String) -> cartsim::Error + '_ {
    move |e| cartsim::Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    }
}

/// Two panels: CAR-T and B cells in blood, simulated bands with the published points.
fn plot(path: &Path, result: &CohortResult) -> Result<(), cartsim::Error> {
    let err = plot_err(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| err("bundled font rejected".into()))?;
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (left, right) = root.split_horizontally(700);
    let times = result.summary.band_times_day().to_vec();
    panel(
        &left,
        "CAR-T cells in blood",
        &times,
        &result.summary.bands(out::CAR_T),
        (0.01, 1000.0),
        &RGBColor(31, 119, 180),
        |chart| {
            // Published: peak around day 9 (individual days 6–14), tens to low hundreds /µL.
            let c = RGBColor(214, 39, 40);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(6.0, 10.0), (14.0, 300.0)],
                    c.stroke_width(2),
                )))?
                .label("published peak: day 6–14, 10–300 cells/µL (Mackensen 2022)")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.stroke_width(2))
                });
            chart.draw_series(std::iter::once(Circle::new((9.0, 55.0), 5, c.filled())))?;
            Ok(())
        },
    )
    .map_err(&err)?;
    panel(
        &right,
        "CD19+ B cells in blood",
        &times,
        &result.summary.bands(out::B_CELLS),
        (0.001, 2000.0),
        &RGBColor(44, 160, 44),
        |chart| {
            let c = RGBColor(214, 39, 40);
            // Baseline 206 (67–597)/µL (PMC1954659); < 1/µL by day 14; return 110 ± 32 days
            // at the 1/µL threshold (Mackensen 2022).
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-6.0, 67.0), (-6.0, 597.0)],
                    c.stroke_width(2),
                )))?
                .label("published: baseline, < 1/µL by day 14, return 110 ± 32 d")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            chart.draw_series(
                [(-6.0, 206.0), (14.0, 1.0), (110.0, 1.0)]
                    .into_iter()
                    .map(|p| Circle::new(p, 5, c.filled())),
            )?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(78.0, 1.0), (142.0, 1.0)],
                c.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(14.0, 1.0), (14.0, 0.01)],
                c.stroke_width(2),
            )))?;
            Ok(())
        },
    )
    .map_err(&err)?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

type PlotError<'b> = DrawingAreaErrorKind<<BitMapBackend<'b> as DrawingBackend>::ErrorType>;

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

fn panel<'b>(
    area: &DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    title: &str,
    times: &[f64],
    bands: &[[f64; 5]],
    (y_min, y_max): (f64, f64),
    color: &RGBColor,
    published: impl FnOnce(&mut Chart<'_, 'b>) -> Result<(), PlotError<'b>>,
) -> Result<(), String> {
    let e = |e: PlotError<'b>| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-6f64..365f64, (y_min..y_max).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("day after CAR-T infusion")
        .y_desc("cells/µL (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let clamp = |v: f64| v.clamp(y_min, y_max);
    let band = |lo: usize, hi: usize| -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = times
            .iter()
            .zip(bands)
            .map(|(&t, q)| (t, clamp(q[lo])))
            .collect();
        p.extend(
            times
                .iter()
                .zip(bands)
                .rev()
                .map(|(&t, q)| (t, clamp(q[hi]))),
        );
        p
    };
    let c = *color;
    chart
        .draw_series(std::iter::once(Polygon::new(band(0, 4), c.mix(0.18))))
        .map_err(e)?
        .label("simulated 5–95%")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.mix(0.18).filled()));
    chart
        .draw_series(std::iter::once(Polygon::new(band(1, 3), c.mix(0.4))))
        .map_err(e)?
        .label("simulated 25–75%")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.mix(0.4).filled()));
    chart
        .draw_series(LineSeries::new(
            times.iter().zip(bands).map(|(&t, q)| (t, clamp(q[2]))),
            c.stroke_width(2),
        ))
        .map_err(e)?
        .label("simulated median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    published(&mut chart).map_err(e)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}
