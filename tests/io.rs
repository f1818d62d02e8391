//! Files a modeler reads and writes: scenario files (round trip, bad input with key and line),
//! the NONMEM-style dataset (loaded back and checked record by record), the figures (exist,
//! decode, show what their titles say) and the examples' behaviour on bad input (non-zero exit,
//! nothing written).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cartsim::Error;
use cartsim::cohort::Cohort;
use cartsim::error::RegimenError;
use cartsim::io::nonmem::{self, COLUMNS, NonmemOptions, ObservedOutput};
use cartsim::io::scenario::Scenario;
use cartsim::model::sle::SLE_STATES;
use cartsim::prelude::*;
use cartsim::variability::ResidualError;

const MACKENSEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mackensen_2022.toml");
const KYV101: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/kyv101_flat.toml");
const DOSE_FINDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/dose_finding.toml");

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cartsim-io-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------------------------------------
// Scenario files.

#[test]
fn shipped_scenarios_round_trip_through_toml() {
    for path in [MACKENSEN, KYV101, DOSE_FINDING] {
        let s = Scenario::from_path(path).unwrap();
        let text = s.to_toml_string().unwrap();
        let back = Scenario::from_toml_str(&text).unwrap();
        assert_eq!(back, s, "{path}");
        // And once more: writing is stable.
        assert_eq!(back.to_toml_string().unwrap(), text, "{path}");
    }
    // The commented file is the in-code Erlangen scenario, key for key.
    assert_eq!(
        Scenario::from_path(MACKENSEN).unwrap(),
        Scenario::mackensen_2022()
    );
}

#[test]
fn mackensen_scenario_reproduces_the_default_cohort_bit_for_bit() {
    let mut s = Scenario::from_path(MACKENSEN).unwrap();
    s.patients = 24;
    let from_file = s.cohort().unwrap();
    let default = Cohort::builder(SleModel::default())
        .patients(24)
        .seed(1)
        .build()
        .unwrap();
    assert_eq!(from_file.regimen(), default.regimen());
    assert_eq!(from_file.iiv(), default.iiv());
    let n_out = default.model().outputs().len();
    let (a, b) = (from_file.run().unwrap(), default.run().unwrap());
    assert_eq!(a.records.len(), 24);
    assert_eq!(
        common::fingerprint(&a, n_out),
        common::fingerprint(&b, n_out)
    );
}

#[test]
fn kyv101_scenario_builds_the_flat_dose_regimen() {
    let s = Scenario::from_path(KYV101).unwrap();
    let c = s.cohort().unwrap();
    let doses = c.regimen().doses();
    assert_eq!(doses.len(), 7); // Flu ×3, Cy ×3, CAR-T
    assert_eq!(c.regimen().start_day(), -8.0);
    let car_t = doses.iter().find(|d| d.input == "car_t").unwrap();
    assert_eq!(car_t.amount, Amount::Cells(1e8));
    assert_eq!(doses[0].time_day, -7.0);
    let mut s = s;
    s.patients = 8;
    let r = s.cohort().unwrap().run().unwrap();
    assert_eq!(r.summary.target_attainment().len(), 3);
}

#[test]
fn dose_finding_scenario_lists_grid_then_explicit_arms() {
    let arms = Scenario::from_path(DOSE_FINDING).unwrap().arms().unwrap();
    assert_eq!(arms.len(), 4 * 3 + 1);
    assert_eq!(arms[0].label, "1e5/kg flu25 cy1000");
    assert_eq!(arms[12].label, "flat 1e8 cells, Flu30/Cy300 x3");
}

/// The kyv101 file with one line replaced; returns the text and the 1-based line number.
fn edit(find: &str, replace: &str) -> (String, usize) {
    let text = std::fs::read_to_string(KYV101).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with(find))
        .unwrap_or_else(|| panic!("no line starting with {find}"))
        + 1;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(find) {
                replace.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    (out.join("\n") + "\n", line)
}

fn scenario_error(text: &str) -> Box<cartsim::error::ScenarioError> {
    match Scenario::from_toml_str(text) {
        Err(Error::Scenario(e)) => e,
        Err(other) => panic!("expected a scenario error, got {other}"),
        Ok(_) => panic!("bad scenario accepted"),
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let (text, line) = edit("seed = 1", "seed = 1\nsede = 2");
    let e = scenario_error(&text);
    let msg = e.to_string();
    assert_eq!(e.line, Some(line + 1), "{msg}");
    assert_eq!(e.key.as_deref(), Some("sede"), "{msg}");
    assert!(msg.contains("unknown field `sede`"), "{msg}");
    assert!(msg.contains(&format!("line {}", line + 1)), "{msg}");
}

#[test]
fn unknown_key_in_a_dose_is_named_with_its_path() {
    let (text, line) = edit("unit = \"cells\"", "unit = \"cells\"\nroute = \"iv\"");
    let e = scenario_error(&text);
    assert_eq!(e.line, Some(line + 1), "{e}");
    assert_eq!(e.key.as_deref(), Some("regimen.doses[2].route"), "{e}");
}

#[test]
fn negative_dose_is_the_regimen_error_naming_the_dose() {
    let (text, line) = edit("amount = 1e8", "amount = -1e8");
    let e = scenario_error(&text);
    let msg = e.to_string();
    assert_eq!(e.line, Some(line), "{msg}");
    assert_eq!(e.key.as_deref(), Some("regimen.doses[2].amount"), "{msg}");
    assert!(msg.contains("dose 2 (`car_t`)"), "{msg}");
    assert!(msg.contains("-100000000"), "{msg}");
    assert!(
        matches!(
            e.cause.as_deref(),
            Some(Error::Regimen(RegimenError::BadAmount { .. }))
        ),
        "{:?}",
        e.cause
    );
    // Built in code, the same scenario gives the builder's typed error.
    let mut s = Scenario::from_path(KYV101).unwrap();
    s.regimen.doses[2].amount = -1e8;
    assert!(matches!(
        s.cohort(),
        Err(Error::Regimen(RegimenError::BadAmount { .. }))
    ));
}

#[test]
fn missing_required_field_is_named() {
    // At the top level...
    let (text, _) = edit("patients = 1000", "");
    let e = scenario_error(&text);
    assert_eq!(e.key.as_deref(), Some("patients"), "{e}");
    assert!(e.to_string().contains("missing field `patients`"), "{e}");
    assert!(e.line.is_some(), "{e}");
    // ...and inside a dose: the line of its table header.
    let (text, line) = edit("unit = \"cells\"", "");
    let e = scenario_error(&text);
    assert_eq!(e.key.as_deref(), Some("regimen.doses[2].unit"), "{e}");
    let lines: Vec<&str> = text.lines().take(line).collect();
    let header = lines.iter().rposition(|l| l.starts_with("[[")).unwrap() + 1;
    assert_eq!(e.line, Some(header), "{e}");
    assert!(e.to_string().contains(&format!("line {header}")), "{e}");
}

#[test]
fn malformed_number_is_named_with_its_line() {
    for bad in ["amount = 3x0", "amount = 300.0.0", "amount = \"300\""] {
        let (text, line) = edit("amount = 300.0", bad);
        let e = scenario_error(&text);
        let msg = e.to_string();
        assert_eq!(e.line, Some(line), "{bad}: {msg}");
        assert_eq!(e.key.as_deref(), Some("regimen.doses[1].amount"), "{msg}");
        assert!(msg.contains("amount"), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
}

#[test]
fn other_bad_values_are_located() {
    let base = std::fs::read_to_string(KYV101).unwrap();
    let n = base.lines().count();
    let cases = [
        (
            "[iiv]\nomega_sd = [[\"no_such_parameter\", 0.1]]\n",
            "iiv.omega_sd[0]",
            n + 2,
        ),
        ("[typical]\nflu_v1_l = -3.0\n", "typical.flu_v1_l", n + 2),
        ("[solver]\nrtol = 2.0\n", "solver.rtol", n + 2),
        (
            "[population]\negfr_ml_per_min = { dist = \"normal\", mean = 95.0, sd = -1.0 }\n",
            "population.egfr_ml_per_min",
            n + 2,
        ),
        (
            "[nonmem]\ntimes_day = [1.0, 0.0]\n",
            "nonmem.times_day",
            n + 2,
        ),
    ];
    for (extra, key, line) in cases {
        let e = scenario_error(&format!("{base}{extra}"));
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
    }
}

#[test]
fn scenario_file_errors_name_the_file() {
    let dir = temp_dir("badfile");
    let p = dir.join("bad.toml");
    std::fs::write(&p, "patients = 10\nseed = 1x\n").unwrap();
    let e = Scenario::from_path(&p).unwrap_err().to_string();
    assert!(e.contains("bad.toml"), "{e}");
    assert!(e.contains("line 2"), "{e}");
    assert!(e.contains("`seed`"), "{e}");
    let missing = Scenario::from_path(dir.join("nope.toml")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// NONMEM-style dataset.

fn small_cohort(n: u64) -> Cohort<SleModel, SLE_STATES> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(11)
        .build()
        .unwrap()
}

#[test]
fn nonmem_dataset_loads_back_with_doses_observations_and_covariates() {
    let cohort = small_cohort(6);
    let mut opts = NonmemOptions::default();
    opts.observations[1] = ObservedOutput {
        output: "b_cells_per_ul".into(),
        residual: ResidualError::Proportional { cv: 0.2 },
    };
    let dir = temp_dir("nonmem");
    let path = dir.join("sim.csv");
    let s = nonmem::write_nonmem_csv(&path, &cohort, &opts).unwrap();
    assert_eq!(s.patients, 6);
    assert!(s.failures.is_empty());

    let mut rd = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, COLUMNS);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<f64>> = rd
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|f| f.parse::<f64>().unwrap())
                .collect()
        })
        .collect();
    // 5 doses + 17 times × 5 outputs per patient.
    let per_patient = 5 + opts.times_day.len() * opts.observations.len();
    assert_eq!(rows.len(), 6 * per_patient);
    assert_eq!(s.records as usize, rows.len());

    let (id, time, dv, amt, rate, evid, mdv, cmt, cens, lloq, wt) = (
        col("ID"),
        col("TIME"),
        col("DV"),
        col("AMT"),
        col("RATE"),
        col("EVID"),
        col("MDV"),
        col("CMT"),
        col("CENS"),
        col("LLOQ"),
        col("WT"),
    );
    let doses: Vec<&Vec<f64>> = rows.iter().filter(|r| r[evid] == 1.0).collect();
    assert_eq!(doses.len(), 6 * 5);
    for r in &doses {
        assert!(r[amt] > 0.0 && r[mdv] == 1.0 && r[dv] == 0.0, "{r:?}");
        assert!((1.0..=3.0).contains(&r[cmt]), "{r:?}");
        // CAR-T is a bolus of 1e6 cells/kg × WT; the drugs are infusions.
        if r[cmt] == 1.0 {
            assert!((r[amt] / (1e6 * r[wt]) - 1.0).abs() < 1e-6, "{r:?}");
            assert_eq!(r[rate], 0.0);
        } else {
            assert!(r[rate] > r[amt], "{r:?}"); // infused over less than a day
        }
    }
    let obs: Vec<&Vec<f64>> = rows.iter().filter(|r| r[evid] == 0.0).collect();
    assert_eq!(obs.len(), 6 * 17 * 5);
    for r in &obs {
        assert!(r[mdv] == 0.0 && r[amt] == 0.0 && r[cmt] >= 4.0, "{r:?}");
        if r[cens] == 1.0 {
            assert_eq!(r[dv], r[lloq], "censored DV is the LLOQ: {r:?}");
        }
    }
    assert!(
        obs.iter().any(|r| r[cens] == 1.0),
        "B cells fall below 1/µL"
    );
    // Sorted by ID, then TIME; doses first at equal times.
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            a[id] < b[id] || (a[id] == b[id] && a[time] <= b[time]),
            "{a:?} then {b:?}"
        );
        if a[id] == b[id] && a[time] == b[time] {
            assert!(a[evid] >= b[evid], "dose after observation: {a:?} {b:?}");
        }
    }
    // TIME starts at the horizon start (day −6): never negative; DAY is the study day.
    assert!(rows.iter().all(|r| r[time] >= 0.0));
    assert!(
        rows.iter()
            .all(|r| (r[time] - 6.0 - r[col("DAY")]).abs() < 1e-9)
    );
    // Covariates are constant within a patient.
    let cov_cols: Vec<usize> = ["SEX", "AGE", "WT", "HT", "BSA", "EGFR", "BCELL0", "SLEDAI0"]
        .iter()
        .map(|c| col(c))
        .collect();
    for r in &rows {
        let first = rows.iter().find(|x| x[id] == r[id]).unwrap();
        for &c in &cov_cols {
            assert_eq!(r[c], first[c], "column {} of patient {}", header[c], r[id]);
        }
    }
    // Deterministic: the same file again, byte for byte.
    let again = dir.join("again.csv");
    nonmem::write_nonmem_csv(&again, &cohort, &opts).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn residual_error_has_its_own_stream() {
    let cohort = small_cohort(3);
    let exact = NonmemOptions::default();
    let mut noisy = NonmemOptions::default();
    for o in &mut noisy.observations {
        o.residual = ResidualError::Proportional { cv: 0.1 };
    }
    noisy.censoring = nonmem::Censoring::Keep;
    let (a, fa) = nonmem::records(&cohort, &exact, 0..3).unwrap();
    let (b, fb) = nonmem::records(&cohort, &noisy, 0..3).unwrap();
    assert!(fa.is_empty() && fb.is_empty());
    assert_eq!(a.len(), b.len());
    // Same covariates and doses (the patients' own draws are untouched), different DVs.
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.covariates, y.covariates);
        assert_eq!(x.amt.to_bits(), y.amt.to_bits());
    }
    assert!(a.iter().zip(&b).any(|(x, y)| x.evid == 0 && x.dv != y.dv));
    // Reproducible by (seed, id): patient 2 alone gives the same records.
    let (c, _) = nonmem::records(&cohort, &noisy, 2..3).unwrap();
    let tail: Vec<_> = b.iter().filter(|r| r.id == 2).copied().collect();
    assert_eq!(c, tail);
}

#[test]
fn nonmem_options_are_checked_before_writing() {
    let cohort = small_cohort(2);
    let dir = temp_dir("nonmem-bad");
    let path = dir.join("x.csv");
    let opts = NonmemOptions {
        times_day: vec![0.0, 400.0],
        ..NonmemOptions::default()
    };
    let e = nonmem::write_nonmem_csv(&path, &cohort, &opts).unwrap_err();
    assert!(e.to_string().contains("nonmem.times_day"), "{e}");
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Cohort outputs and figures.

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    // Not blank: the figure has both light background and dark ink.
    let px = &buf[..info.buffer_size()];
    assert!(px.iter().any(|&v| v < 64) && px.iter().any(|&v| v > 240));
    (info.width, info.height)
}

#[test]
fn cohort_outputs_and_band_figures_are_written() {
    let cohort = small_cohort(20);
    let result = cohort.run().unwrap();
    let dir = temp_dir("outputs");
    let written = cartsim::io::write_cohort_outputs(&dir, &cohort, &result).unwrap();
    assert_eq!(written.len(), cartsim::io::COHORT_OUTPUTS.len());
    for p in &written {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["patients"], 20);
    if cfg!(feature = "plot") {
        assert_eq!(png_size(&dir.join("bands.png")), (1600, 1090));
        let svg = std::fs::read_to_string(dir.join("bands.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        for title in [
            "20 virtual patients (seed 11)",
            "1e6 cells/kg after Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1",
            "CAR-T",
            "CD19+ B cells in blood",
            "Anti-dsDNA",
            "SLEDAI-2K surrogate",
            // Reference lines are the endpoints' definitions.
            "depletion/return 1 cells/µL",
            "EliA dsDNA (Phadia), negative &lt; 10 IU/mL",
            "remission &lt; 2",
            "90% of patients",
        ] {
            assert!(svg.contains(title), "bands.svg lacks {title:?}");
        }
        // Nothing temporary is left behind.
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "plot")]
#[test]
fn dose_response_figure_shows_its_four_panels() {
    use cartsim::cohort::explore::{explore, flu_cy_grid};
    let cohort = small_cohort(12);
    let arms = flu_cy_grid(&[3e5, 1e6], &[(25.0, 1000.0), (0.0, 0.0)]);
    let results = explore(&cohort, &arms).unwrap();
    let points = cartsim::plot::dose_response_points(cohort.model(), &arms, &results);
    assert_eq!(points.len(), 4);
    assert_eq!(points[0].group, "Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1");
    assert_eq!(points[1].group, "no lymphodepletion");
    assert!(
        points
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.remission_month3))
    );
    let dir = temp_dir("dose-response");
    cartsim::io::write_exploration_csv(&dir.join("x.csv"), cohort.model(), &arms, &results)
        .unwrap();
    let mut rd = csv::Reader::from_path(dir.join("x.csv")).unwrap();
    assert_eq!(rd.records().count(), 4);
    let png = dir.join("dose_response.png");
    let svg = dir.join("dose_response.svg");
    cartsim::plot::draw_dose_response(&png, "Dose response test", &points).unwrap();
    cartsim::plot::draw_dose_response(&svg, "Dose response test", &points).unwrap();
    assert_eq!(png_size(&png), (1400, 1040));
    let text = std::fs::read_to_string(&svg).unwrap();
    for title in [
        "Dose response test",
        "Remission at month 3",
        "CRS grade ≥ 2",
        "Relapse within the horizon",
        "B-cell reappearance",
        "no lymphodepletion",
    ] {
        assert!(text.contains(title), "dose_response.svg lacks {title:?}");
    }
    // An unknown format is refused without writing anything.
    let e = cartsim::plot::draw_dose_response(&dir.join("x.gif"), "t", &points).unwrap_err();
    assert!(e.to_string().contains("gif"), "{e}");
    assert!(!dir.join("x.gif").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The examples on bad input.

/// The compiled example `name` (built by `cargo test` next to this test binary).
fn example_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    p.exists().then_some(p)
}

#[test]
fn examples_reject_a_bad_scenario_and_write_nothing() {
    let dir = temp_dir("examples");
    let bad = dir.join("bad.toml");
    let (text, line) = edit("amount = 1e8", "amount = -1e8");
    std::fs::write(&bad, text).unwrap();
    let mut ran = 0;
    for example in ["cohort", "dose_exploration"] {
        let Some(bin) = example_binary(example) else {
            eprintln!("example `{example}` not built (run `cargo test --profile quick`); skipped");
            continue;
        };
        let out = dir.join(format!("out-{example}"));
        let o = Command::new(&bin)
            .arg("--scenario")
            .arg(&bad)
            .arg("--out")
            .arg(&out)
            .args(["--patients", "2"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{example} accepted a negative dose");
        assert_eq!(o.status.code(), Some(1), "{example}: {stderr}");
        assert!(stderr.contains("regimen.doses[2].amount"), "{stderr}");
        assert!(stderr.contains(&format!("line {line}")), "{stderr}");
        assert!(!out.exists(), "{example} created {}", out.display());
        ran += 1;
    }
    if ran == 0 {
        eprintln!("no example binary found; only the library path was checked");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `[definitions]` (issue 17 item 6: definitions configurable from a file): a higher CAR-T
/// detection limit ends every patient's detection window earlier, an assay cut-off carries its
/// assay's name, the cohort's fingerprint tells the definitions apart, and the table
/// round-trips.
#[test]
fn a_definitions_table_sets_the_endpoint_definitions() {
    let base = std::fs::read_to_string(KYV101).unwrap();
    let with_defs = format!(
        "{base}\n[definitions]\ncar_t_detection_per_ul = 0.1\n\
         anti_dsdna_negative_below_iu_per_ml = 15.0\n\
         anti_dsdna_assay = \"Farr RIA, negative < 15 IU/mL\"\n"
    );
    let mut a = Scenario::from_toml_str(&base).unwrap();
    let mut b = Scenario::from_toml_str(&with_defs).unwrap();
    a.patients = 30;
    b.patients = 30;
    let (ca, cb) = (a.cohort().unwrap(), b.cohort().unwrap());
    assert_ne!(ca.fingerprint(), cb.fingerprint());
    let d = cb.model().definitions;
    assert_eq!(d.car_t_detection_per_ul, 0.1);
    assert_eq!(
        d.anti_dsdna_negative,
        cartsim::model::sle::AntiDsDnaCutoff::Assay {
            assay: "Farr RIA, negative < 15 IU/mL",
            negative_below_iu_per_ml: 15.0
        }
    );
    let k = ca
        .model()
        .endpoint_info()
        .iter()
        .position(|e| e.name == "car_t_undetectable_day")
        .unwrap();
    let (ra, rb) = (ca.run().unwrap(), cb.run().unwrap());
    for (x, y) in ra.records.iter().zip(&rb.records) {
        let (da, db) = (x.endpoints[k], y.endpoints[k]);
        assert!(
            db < da || (da.is_nan() && db.is_finite()),
            "patient {}: window ends on day {db} at 0.1/µL, {da} at 0.01/µL",
            x.id
        );
    }
    let back = Scenario::from_toml_str(&b.to_toml_string().unwrap()).unwrap();
    assert_eq!(back, b);
}

#[test]
fn bad_definitions_are_named_with_key_and_line() {
    let base = std::fs::read_to_string(KYV101).unwrap();
    for (entry, key, says) in [
        (
            "car_t_detection_per_ul = -0.1",
            "definitions.car_t_detection_per_ul",
            "-0.1",
        ),
        (
            "crs_il6_thresholds_pg_per_ml = [20.0, 10.0, 500.0, 2000.0]",
            "definitions.crs_il6_thresholds_pg_per_ml",
            "increasing",
        ),
        (
            "relapse_clone_fraction = 1.5",
            "definitions.relapse_clone_fraction",
            "(0, 1)",
        ),
        ("month3_day = nan", "definitions.month3_day", "NaN"),
    ] {
        let text = format!("{base}\n[definitions]\n{entry}\n");
        let line = text.lines().position(|l| l == entry).unwrap() + 1;
        let e = scenario_error(&text);
        let msg = e.to_string();
        assert_eq!(e.key.as_deref(), Some(key), "{msg}");
        assert_eq!(e.line, Some(line), "{msg}");
        assert!(msg.contains(says), "{msg}");
    }
    let e = scenario_error(&format!(
        "{base}\n[definitions]\nanti_dsdna_negative_below_iu_per_ml = 10.0\n\
         anti_dsdna_negative_fraction_of_baseline = 0.1\n"
    ));
    assert!(e.to_string().contains("not both"), "{e}");
    let e = scenario_error(&format!(
        "{base}\n[definitions]\nanti_dsdna_assay = \"EliA\"\n"
    ));
    assert!(e.to_string().contains("missing"), "{e}");
}

/// The template's commented `[definitions]` table spells out the defaults: uncommented, it
/// gives exactly `SleDefinitions::default()`.
#[test]
fn the_templates_definitions_table_is_the_default() {
    let text = std::fs::read_to_string(MACKENSEN).unwrap();
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("# [definitions]"))
        .take_while(|l| *l != "#")
        .map(|l| l.strip_prefix("# ").unwrap())
        .collect();
    assert!(table.len() > 10, "{table:?}");
    let s = Scenario::from_toml_str(&format!("{text}\n{}\n", table.join("\n"))).unwrap();
    assert!(s.definitions.is_some());
    assert_eq!(
        s.cohort().unwrap().model().definitions,
        cartsim::model::sle::SleDefinitions::default()
    );
}
