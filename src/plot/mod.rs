//! Figures: what they show (always compiled: [`BandPanel`], [`DoseResponsePoint`], [`IndexPanel`] and the
//! reductions that fill them from cohort results), and, with the cargo feature `plot` (on by
//! default), their drawing as PNG or SVG (chosen by the file extension).
//!
//! Text is drawn with a bundled font (a subset of DejaVu Sans in `assets/fonts`, Bitstream Vera license), so
//! figures render on machines without system fonts. Every figure is written atomically: a
//! failed draw never leaves a half-written file.
//!
//! ```no_run
//! use std::path::Path;
//! use cartsim::cohort::Cohort;
//! use cartsim::prelude::*;
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(200).seed(1).build()?;
//! let result = cohort.run()?;
//! cartsim::plot::write_band_figure(Path::new("out/bands.png"), &cohort, &result)?;
//! cartsim::plot::write_band_figure(Path::new("out/bands.svg"), &cohort, &result)?;
//! # Ok::<(), cartsim::Error>(())
//! ```

#[cfg(feature = "plot")]
mod draw;

#[cfg(feature = "plot")]
pub use draw::{draw_bands, draw_dose_response, draw_sensitivity, write_band_figure};

use crate::cohort::explore::{Arm, ArmResult};
use crate::cohort::{Cohort, CohortResult};
use crate::error::Error;
use crate::model::Model;

/// Outputs of the SLE model drawn by [`write_band_figure`], one panel each.
pub const BAND_OUTPUTS: &[&str] = &[
    "car_t_cells_per_ul",
    "b_cells_per_ul",
    "anti_dsdna_iu_per_ml",
    "sledai",
];

// ---------------------------------------------------------------------------------------------
// Percentile bands.

/// One panel of a band figure: percentile bands of one output over time.
#[derive(Debug, Clone, PartialEq)]
pub struct BandPanel {
    /// Panel title.
    pub title: String,
    /// Y-axis label, with unit.
    pub y_label: String,
    /// Band times, day.
    pub times_day: Vec<f64>,
    /// `[p05, p25, p50, p75, p95]` at each time, in the output's unit.
    pub bands: Vec<[f64; 5]>,
    /// Whether the y axis is logarithmic (cells spanning decades).
    pub log_y: bool,
    /// Reference line drawn dashed (value in the output's unit, legend label): the threshold
    /// the model's endpoints apply to this output, or its detection limit
    /// ([`Model::reference_line`]).
    pub reference: Option<(f64, String)>,
}

/// Short titles for the SLE model's outputs.
fn output_title(name: &str, description: &str) -> String {
    match name {
        "car_t_cells_per_ul" => "CAR-T cells in blood".into(),
        "b_cells_per_ul" => "CD19+ B cells in blood".into(),
        "anti_dsdna_iu_per_ml" => "Anti-dsDNA".into(),
        "sledai" => "SLEDAI-2K surrogate".into(),
        "il6_pg_per_ml" => "IL-6".into(),
        "t_cells_per_ul" => "T cells in blood".into(),
        _ => {
            let mut c = description.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => name.into(),
            }
        }
    }
}

/// The panels of `outputs` (model output names) from a cohort result.
///
/// # Errors
/// [`Error::Input`] naming an output the model does not have.
pub fn band_panels<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    result: &CohortResult,
    outputs: &[&str],
) -> Result<Vec<BandPanel>, Error> {
    let model = cohort.model();
    outputs
        .iter()
        .map(|name| {
            let k = model.output_index(name).ok_or_else(|| {
                Error::Input(format!(
                    "unknown output `{name}` for model `{}`",
                    model.name()
                ))
            })?;
            let info = model.outputs()[k];
            Ok(BandPanel {
                title: output_title(info.name, info.description),
                y_label: format!("{} ({})", info.name, info.unit),
                times_day: result.summary.band_times_day().to_vec(),
                bands: result.summary.bands(k),
                log_y: info.log_scale,
                reference: model.reference_line(k),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dose response.

/// One arm of a dose exploration, reduced to what a dose–response chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseResponsePoint {
    /// Arm label.
    pub label: String,
    /// Series the point belongs to: the arm's product and lymphodepletion (e.g.
    /// `"kyv101 · Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1"`), or the lymphodepletion alone for arms
    /// without a product of their own (`"no lymphodepletion"` where there is none).
    pub group: String,
    /// Total CAR-T dose, in `dose_unit`.
    pub car_t_dose: f64,
    /// `"cells/kg"` or `"cells"`.
    pub dose_unit: &'static str,
    /// Fraction of patients in remission at month 3.
    pub remission_month3: f64,
    /// Fraction of patients with CRS grade ≥ 2.
    pub crs_ge2: f64,
    /// Fraction of patients who relapse within the horizon (by 1 year on the default horizon).
    pub relapse: f64,
    /// The arm's product name (`None`: the cohort's own).
    pub product: Option<String>,
    /// Median day of B-cell reappearance (NaN when most patients never reappear).
    pub b_reappearance_median_day: f64,
}

/// Reduces explored arms (as returned by [`crate::cohort::explore::explore`], in the order of
/// `arms`) to dose–response points, reading the model's `remission_month3`, `crs_grade_ge2`,
/// `relapse` and `b_cell_reappearance_day` endpoints (NaN where the model lacks one).
pub fn dose_response_points<M: Model<N>, const N: usize>(
    model: &M,
    arms: &[Arm],
    results: &[ArmResult],
) -> Vec<DoseResponsePoint> {
    let info = model.endpoint_info();
    let idx = |name: &str| info.iter().position(|e| e.name == name);
    let (rem, crs, reap, relapse) = (
        idx("remission_month3"),
        idx("crs_grade_ge2"),
        idx("b_cell_reappearance_day"),
        idx("relapse"),
    );
    arms.iter()
        .zip(results)
        .map(|(arm, r)| {
            let stats = r.result.summary.endpoint_stats();
            let mean = |i: Option<usize>| i.and_then(|i| stats.get(i)).map_or(f64::NAN, |s| s.mean);
            // With more than half missing (never reappeared), the median is undefined.
            let reappear = reap
                .and_then(|i| stats.get(i))
                .map_or(f64::NAN, |s| if s.n > s.missing { s.p50 } else { f64::NAN });
            let (dose, unit) = arm.regimen.car_t_total_dose();
            DoseResponsePoint {
                label: arm.label.clone(),
                group: match &arm.product {
                    Some(p) => {
                        format!("{} · {}", p.name, arm.regimen.lymphodepletion_description())
                    }
                    None => arm.regimen.lymphodepletion_description(),
                },
                car_t_dose: dose,
                dose_unit: unit,
                remission_month3: mean(rem),
                crs_ge2: mean(crs),
                relapse: mean(relapse),
                product: arm.product.as_ref().map(|p| p.name.clone()),
                b_reappearance_median_day: reappear,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Sensitivity indices.

/// One series of a sensitivity bar chart (e.g. Sobol' `ST` or Morris `μ*`): one bar per
/// factor of its panel, with a confidence interval drawn as a whisker.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSeries {
    /// Legend label (`"ST (total order)"`).
    pub name: String,
    /// Estimate per factor, in the panel's factor order (NaN: not drawn).
    pub estimates: Vec<f64>,
    /// `(low, high)` interval per factor (NaN: no whisker).
    pub intervals: Vec<(f64, f64)>,
}

/// One panel of a sensitivity (tornado) chart: the indices of one quantity, a horizontal bar
/// per factor and series, factors top to bottom in the given order (most important first).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPanel {
    /// Panel title (the quantity).
    pub title: String,
    /// X-axis label (what the index measures).
    pub x_label: String,
    /// Factor names, top to bottom.
    pub factors: Vec<String>,
    /// Series drawn side by side within each factor's row.
    pub series: Vec<IndexSeries>,
}
