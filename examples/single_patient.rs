//! What happens to one typical lupus patient treated like the Erlangen cohort?
//!
//! Simulates the typical patient (PROTOTYPE.md §3) under the Mackensen 2022 regimen from day −6 to
//! day 365, writes the daily trajectory to `DIR/trajectory.csv` and prints the endpoints.
//!
//! ```text
//! cargo run --release --example single_patient -- --out DIR
//! ```

mod common;

use std::io::Write;

use cartsim::prelude::*;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), cartsim::Error> {
    let args: Vec<String> = std::env::args().collect();
    let mut out_dir = std::path::PathBuf::from("out/single_patient");
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--out" => {
                out_dir = args
                    .get(i + 1)
                    .ok_or_else(|| cartsim::Error::Input("--out needs a directory".into()))?
                    .into();
                i += 2;
            }
            other => return Err(cartsim::Error::Input(format!("unknown argument `{other}`"))),
        }
    }
    let model = SleModel::default();
    let regimen = Regimen::mackensen_2022();
    let sim = simulate(
        &model,
        &model.default_params(),
        &Covariates::typical(),
        &regimen,
        &SolverOptions::default(),
    )?;
    let io = |e: std::io::Error| cartsim::Error::Io {
        path: out_dir.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(&out_dir).map_err(io)?;
    let path = out_dir.join("trajectory.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let names: Vec<&str> = model.outputs().iter().map(|o| o.name).collect();
    writeln!(f, "time_day,{}", names.join(",")).map_err(io)?;
    let tr = &sim.trajectory;
    let mut day = regimen.start_day();
    while day <= regimen.end_day() + 1e-9 {
        let i = tr.index_of(day);
        let row: Vec<String> = (0..names.len())
            .map(|k| format!("{:.6e}", tr.value(i, k)))
            .collect();
        writeln!(f, "{day},{}", row.join(",")).map_err(io)?;
        day += 1.0;
    }
    f.flush().map_err(io)?;
    println!(
        "typical patient, Mackensen 2022 regimen ({} solver steps, {} RHS evaluations)",
        sim.stats.accepted_steps, sim.stats.rhs_evals
    );
    for (info, v) in model.endpoint_info().iter().zip(&sim.endpoints) {
        println!("  {:<36} {:>12.4} {}", info.name, v, info.unit);
    }
    println!("wrote {}", path.display());
    Ok(())
}
