//! Drawing figures with plotters (cargo feature `plot`).

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{BAND_OUTPUTS, BandPanel, DoseResponsePoint, IndexPanel, band_panels};
use crate::cohort::{Cohort, CohortResult};
use crate::error::Error;
use crate::io::atomic::write_atomic;
use crate::model::Model;

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
static FONT_OK: OnceLock<bool> = OnceLock::new();

/// Registers the bundled font as plotters' `sans-serif` (once per process).
fn ensure_font(path: &Path) -> Result<(), Error> {
    let ok = *FONT_OK.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot {
            path: path.display().to_string(),
            message: "the bundled font could not be loaded".into(),
        })
    }
}

type DrawResult = Result<(), Box<dyn StdError>>;

/// Text as drawn: plotters' ab_glyph renderer places glyphs without their side bearings, which
/// swallows the space after a "T" ("CAR-T infusion" reads "CAR-Tinfusion"); an en space there
/// reads as a normal space.
fn txt(s: &str) -> String {
    s.replace("T ", "T\u{2002}")
}

/// Image format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format, Error> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        other => Err(Error::Plot {
            path: path.display().to_string(),
            message: format!(
                "unsupported image format `{}`: use .png or .svg",
                other.unwrap_or("")
            ),
        }),
    }
}

/// Draws with `draw` on a PNG or SVG canvas of `size` pixels and writes `path` atomically.
macro_rules! render {
    ($path:expr, $size:expr, |$root:ident| $body:expr) => {{
        let path: &Path = $path;
        let size: (u32, u32) = $size;
        ensure_font(path)?;
        let plot_err = |e: Box<dyn StdError>| Error::Plot {
            path: path.display().to_string(),
            message: readable(&e.to_string()),
        };
        match format_of(path)? {
            Format::Svg => {
                let mut svg = String::new();
                {
                    let $root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                    let r: DrawResult = (|| {
                        $body?;
                        $root.present()?;
                        Ok(())
                    })();
                    r.map_err(plot_err)?;
                }
                write_atomic(path, |w| w.write_all(svg.as_bytes()))
            }
            Format::Png => {
                let tmp = temp_sibling(path);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                // An unwritable path is an i/o error with its own message, before drawing.
                std::fs::File::create(&tmp).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let r: DrawResult = (|| {
                    let $root = BitMapBackend::new(&tmp, size).into_drawing_area();
                    $body?;
                    $root.present()?;
                    Ok(())
                })();
                if let Err(e) = r {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(plot_err(e));
                }
                std::fs::rename(&tmp, path).map_err(|source| {
                    let _ = std::fs::remove_file(&tmp);
                    Error::Io {
                        path: path.display().to_string(),
                        source,
                    }
                })
            }
        }
    }};
}

/// plotters' bitmap errors display as `Debug` text (`IOError(Os { code: 28, kind:
/// StorageFull, message: "No space left on device" })`, or from the PNG encoder
/// `ImageError(IoError(Custom { kind: Other, error: "No space left on device (os error 28)" }))`):
/// keep the operating system's message.
fn readable(msg: &str) -> String {
    let Some((start, skip)) = ["message: \"", "error: \""]
        .iter()
        .find_map(|key| msg.find(key).map(|i| (i, key.len())))
    else {
        return msg.to_string();
    };
    let rest = msg.get(start + skip..).unwrap_or_default();
    let text = rest.split('"').next().unwrap_or(rest);
    let code = msg
        .split("code: ")
        .nth(1)
        .and_then(|c| c.split(|ch: char| !ch.is_ascii_digit()).next())
        .filter(|c| !c.is_empty());
    match code {
        Some(c) => format!("{text} (os error {c})"),
        None => text.to_string(),
    }
}

/// `.name.tmpPID.png` next to `path` (the extension is kept: it picks the encoder).
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = PathBuf::from(path);
    tmp.set_file_name(format!(".{name}.tmp{}.{ext}", std::process::id()));
    tmp
}

/// Writes the standard four-panel figure of the SLE model ([`BAND_OUTPUTS`]: CAR-T and B cells
/// on log axes with their detection limits, anti-dsDNA, SLEDAI surrogate): median line, 50%
/// (p25–p75) and 90% (p05–p95) bands. PNG or SVG by extension.
///
/// # Errors
/// [`Error::Input`] when the model lacks one of [`BAND_OUTPUTS`]; [`Error::Plot`] for an
/// unsupported extension or a drawing failure; [`Error::Io`].
pub fn write_band_figure<M: Model<N>, const N: usize>(
    path: &Path,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Result<(), Error> {
    let panels = band_panels(cohort, result, BAND_OUTPUTS)?;
    let n = result.range.end - result.range.start;
    let regimen = cohort.regimen();
    let (dose, unit) = regimen.car_t_total_dose();
    let failed = match result.summary.failed {
        0 => String::new(),
        f => format!(", {f} failed"),
    };
    let title = format!(
        "{n} virtual patients (seed {}{failed}), CAR-T {dose:e} {unit} after {}: median, 50% and 90% bands",
        result.seed,
        regimen.lymphodepletion_description(),
    );
    draw_bands(path, &title, &panels)
}

/// Draws `panels` in a grid (two columns) under `title`. PNG or SVG by extension.
///
/// # Errors
/// [`Error::Plot`] for an unsupported extension or a drawing failure; [`Error::Io`].
pub fn draw_bands(path: &Path, title: &str, panels: &[BandPanel]) -> Result<(), Error> {
    let cols = if panels.len() > 1 { 2 } else { 1 };
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (800 * cols as u32, 520 * rows as u32 + 50);
    render!(path, size, |root| draw_bands_on(
        &root,
        title,
        panels,
        (rows, cols)
    ))
}

fn draw_bands_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[BandPanel],
    grid: (usize, usize),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(&txt(title), ("sans-serif", 26))?;
    let areas = root.split_evenly(grid);
    for (area, panel) in areas.iter().zip(panels) {
        draw_band_panel(area, panel)?;
    }
    Ok(())
}

/// Y range of a panel: decades around the data for log axes (at most 6 decades below the
/// maximum, and including the detection limit), `[0, 1.05·max]` for linear axes.
fn y_range(p: &BandPanel) -> (f64, f64) {
    let vals = p.bands.iter().flatten().copied().filter(|v| v.is_finite());
    if p.log_y {
        let pos: Vec<f64> = vals.filter(|v| *v > 0.0).collect();
        let hi = pos.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        let mut lo = pos.iter().copied().fold(hi, f64::min).max(hi * 1e-6);
        if let Some((dl, _)) = &p.reference {
            let dl = *dl;
            lo = lo.min(dl * 0.5);
        }
        let lo = 10f64.powf(lo.log10().floor());
        let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
        (lo, hi)
    } else {
        let (mn, mx) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let lo = if mn.is_finite() { mn.min(0.0) } else { 0.0 };
        let hi = if mx.is_finite() && mx > lo {
            mx * 1.05
        } else {
            lo + 1.0
        };
        (lo, hi)
    }
}

fn draw_band_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BandPanel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (lo, hi) = y_range(p);
    if p.log_y {
        let y: LogCoord<f64> = (lo..hi).log_scale().into();
        draw_band_chart(area, p, y, (lo, hi))
    } else {
        let y: RangedCoordf64 = (lo..hi).into();
        draw_band_chart(area, p, y, (lo, hi))
    }
}

/// Tick labels: `1e-2` style for tiny or huge values, plain otherwise.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if *v == 0.0 {
        "0".into()
    } else if !(1e-2..1e4).contains(&a) {
        let s = format!("{v:e}");
        s.replace("e0", "")
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        // Three significant digits.
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

const BAND90: RGBColor = RGBColor(158, 202, 225);
const BAND50: RGBColor = RGBColor(66, 146, 198);
const MEDIAN: RGBColor = RGBColor(8, 48, 107);
const LIMIT: RGBColor = RGBColor(203, 24, 29);

fn draw_band_chart<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    p: &BandPanel,
    y: Y,
    (floor, y_top): (f64, f64),
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let t0 = p.times_day.first().copied().unwrap_or(0.0);
    let t1 = p.times_day.last().copied().unwrap_or(1.0).max(t0 + 1.0);
    let x: RangedCoordf64 = (t0..t1).into();
    let mut chart = ChartBuilder::on(area)
        .caption(txt(&p.title), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(txt("day after CAR-T infusion"))
        .y_desc(txt(&p.y_label))
        .x_labels(10)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // Values below the axis floor (zero before infusion on a log axis) sit on the floor.
    let cl = |v: f64| if v.is_finite() { v.max(floor) } else { floor };
    let band = |a: usize, b: usize| -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = p
            .times_day
            .iter()
            .zip(&p.bands)
            .map(|(t, q)| (*t, cl(q[b])))
            .collect();
        pts.extend(
            p.times_day
                .iter()
                .zip(&p.bands)
                .rev()
                .map(|(t, q)| (*t, cl(q[a]))),
        );
        pts
    };
    chart
        .draw_series(std::iter::once(Polygon::new(
            band(0, 4),
            BAND90.mix(0.6).filled(),
        )))?
        .label("90% of patients (p05–p95)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BAND90.filled()));
    chart
        .draw_series(std::iter::once(Polygon::new(
            band(1, 3),
            BAND50.mix(0.6).filled(),
        )))?
        .label("50% of patients (p25–p75)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BAND50.filled()));
    chart
        .draw_series(LineSeries::new(
            p.times_day
                .iter()
                .zip(&p.bands)
                .map(|(t, q)| (*t, cl(q[2]))),
            MEDIAN.stroke_width(2),
        ))?
        .label("median")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], MEDIAN.stroke_width(2)));
    if let Some((dl, label)) = &p.reference {
        let dl = *dl;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(t0, dl), (t1, dl)],
                8,
                6,
                LIMIT.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], LIMIT.stroke_width(2)));
    }
    // The legend goes in the right-hand corner the bands leave free at the end of the horizon.
    let end_high = p.bands.last().is_some_and(|q| {
        let (v, lo, hi) = (q[4].max(floor), floor, y_top);
        let frac = if p.log_y {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        };
        frac > 0.5
    });
    chart
        .configure_series_labels()
        .position(if end_high {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws a three-panel dose–response chart — P(remission at month 3), P(CRS grade ≥ 2) and
/// median B-cell reappearance day against the CAR-T dose (log axis) — with one line per
/// lymphodepletion group. Points dosed in another unit than the first point's are left out
/// and counted in the title. PNG or SVG by extension.
///
/// # Errors
/// [`Error::Input`] when `points` is empty; [`Error::Plot`]; [`Error::Io`].
pub fn draw_dose_response(
    path: &Path,
    title: &str,
    points: &[DoseResponsePoint],
) -> Result<(), Error> {
    let Some(first) = points.first() else {
        return Err(Error::Input("no dose-response point to draw".into()));
    };
    let unit = first.dose_unit;
    let shown: Vec<&DoseResponsePoint> = points
        .iter()
        .filter(|p| p.dose_unit == unit && p.car_t_dose > 0.0)
        .collect();
    let left_out = points.len() - shown.len();
    let title = if left_out > 0 {
        format!("{title} ({left_out} arm(s) dosed in other units not shown)")
    } else {
        title.to_string()
    };
    render!(path, (1400, 1040), |root| draw_dose_response_on(
        &root, &title, &shown, unit
    ))
}

fn draw_dose_response_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[&DoseResponsePoint],
    unit: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(&txt(title), ("sans-serif", 24))?;
    let (dmin, dmax) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.car_t_dose), b.max(p.car_t_dose))
    });
    let (xlo, xhi) = if dmin.is_finite() && dmax > 0.0 {
        (
            10f64.powf((dmin / 1.5).log10().floor()),
            10f64.powf((dmax * 1.5).log10().ceil()),
        )
    } else {
        (1.0, 10.0)
    };
    let mut groups: Vec<&str> = Vec::new();
    for p in points {
        if !groups.contains(&p.group.as_str()) {
            groups.push(&p.group);
        }
    }
    let reap_max = points
        .iter()
        .map(|p| p.b_reappearance_median_day)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    // Fractions on [0, 1], or zoomed in when every value is small (rare adverse events).
    let frac_max = |f: fn(&DoseResponsePoint) -> f64| {
        let m = points
            .iter()
            .map(|p| f(p))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        if m >= 0.4 {
            1.0
        } else {
            ((m * 1.25 / 0.05).ceil() * 0.05).max(0.05)
        }
    };
    type Metric = fn(&DoseResponsePoint) -> f64;
    let metrics: [(&str, &str, f64, Metric); 4] = [
        (
            "Remission at month 3",
            "fraction of patients",
            frac_max(|p| p.remission_month3),
            |p| p.remission_month3,
        ),
        (
            "CRS grade ≥ 2",
            "fraction of patients",
            frac_max(|p| p.crs_ge2),
            |p| p.crs_ge2,
        ),
        (
            "Relapse within the horizon",
            "fraction of patients",
            frac_max(|p| p.relapse),
            |p| p.relapse,
        ),
        (
            "B-cell reappearance",
            "median day after infusion",
            (reap_max * 1.15).max(10.0),
            |p| p.b_reappearance_median_day,
        ),
    ];
    let areas = root.split_evenly((2, 2));
    for (area, (name, ylab, ymax, f)) in areas.iter().zip(metrics) {
        let x: LogCoord<f64> = (xlo..xhi).log_scale().into();
        let mut chart = ChartBuilder::on(area)
            .caption(txt(name), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x, 0.0..ymax)?;
        chart
            .configure_mesh()
            .x_desc(txt(&format!("CAR-T dose ({unit})")))
            .y_desc(ylab)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 14))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (g, group) in groups.iter().enumerate() {
            let color = SERIES[g % SERIES.len()];
            let mut pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.group == *group)
                .map(|p| (p.car_t_dose, f(p)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Earlier series are drawn wider, so that equal values stay visible underneath.
            let width = (5 - g as u32).max(2);
            let radius = (7 - g as i32).max(3);
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?
                .label(txt(group))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
                });
            chart.draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), radius, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// Draws sensitivity indices as horizontal bars (a tornado chart), one panel per quantity side
/// by side, one row per factor (top to bottom in the panel's order), one bar per series with
/// its confidence interval as a whisker. PNG or SVG by extension.
///
/// # Errors
/// [`Error::Input`] when `panels` is empty; [`Error::Plot`]; [`Error::Io`].
pub fn draw_sensitivity(path: &Path, title: &str, panels: &[IndexPanel]) -> Result<(), Error> {
    if panels.is_empty() {
        return Err(Error::Input("no sensitivity panel to draw".into()));
    }
    let rows = panels
        .iter()
        .map(|p| p.factors.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let width = (560 * panels.len() as u32).clamp(900, 2400);
    let height = (160 + 44 * rows as u32).clamp(420, 1600);
    render!(path, (width, height), |root| draw_sensitivity_on(
        &root, title, panels
    ))
}

fn draw_sensitivity_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[IndexPanel],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(&txt(title), ("sans-serif", 24))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, p) in areas.iter().zip(panels) {
        let n = p.factors.len().max(1);
        let values = p.series.iter().flat_map(|s| {
            s.estimates
                .iter()
                .chain(s.intervals.iter().flat_map(|(a, b)| [a, b]))
                .copied()
        });
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = 0.05 * (hi - lo).max(1e-12);
        let (xlo, xhi) = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
        let factors = p.factors.clone();
        let label = move |y: &f64| {
            let k = (-*y).round();
            if (k + *y).abs() < 1e-6 && k >= 0.0 {
                factors.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let longest = p
            .factors
            .iter()
            .map(|f| f.chars().count())
            .max()
            .unwrap_or(4);
        let mut chart = ChartBuilder::on(area)
            .caption(txt(&p.title), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size((8 * longest as u32 + 16).clamp(60, 330))
            .build_cartesian_2d(xlo..xhi, -(n as f64) + 0.5..0.5)?;
        chart
            .configure_mesh()
            .x_desc(txt(&p.x_label))
            .x_label_formatter(&tick)
            .y_labels(4 * n + 1)
            .y_label_formatter(&label)
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let m = p.series.len().max(1) as f64;
        let band = 0.8 / m;
        for (s_idx, s) in p.series.iter().enumerate() {
            let color = SERIES[s_idx % SERIES.len()];
            let offset = 0.4 - band * (s_idx as f64 + 0.5);
            let bars = s
                .estimates
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite());
            chart
                .draw_series(bars.map(|(k, &v)| {
                    let y = -(k as f64) + offset;
                    Rectangle::new(
                        [(0.0, y - 0.45 * band), (v, y + 0.45 * band)],
                        color.mix(0.85).filled(),
                    )
                }))?
                .label(txt(&s.name))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
                });
            let whiskers = s
                .intervals
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| a.is_finite() && b.is_finite());
            chart.draw_series(whiskers.map(|(k, &(a, b))| {
                let y = -(k as f64) + offset;
                PathElement::new(vec![(a, y), (b, y)], BLACK.stroke_width(2))
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_errors_read_as_the_os_message() {
        let debug = r#"backend error: Drawing backend error: IOError(Os { code: 28, kind: StorageFull, message: "No space left on device" })"#;
        assert_eq!(readable(debug), "No space left on device (os error 28)");
        let debug = r#"backend error: Drawing backend error: ImageError(IoError(Custom { kind: Other, error: "No space left on device (os error 28)" }))"#;
        assert_eq!(readable(debug), "No space left on device (os error 28)");
        assert_eq!(readable("Bad layout"), "Bad layout");
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(&0.01), "0.01");
        assert_eq!(tick(&1000.0), "1000");
        assert_eq!(tick(&10000.0), "1e4");
        assert_eq!(tick(&1e6), "1e6");
        assert_eq!(tick(&0.001), "1e-3");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&0.045), "0.045");
        assert_eq!(tick(&0.01), "0.01");
    }
}
