//! How does a virtual cohort too large for one machine respond? The `cohort` example on an MPI
//! cluster, with bit-identical files.
//!
//! Every rank simulates a contiguous slice of the patient ids (rayon threads inside the rank),
//! rank 0 merges the partial summaries in rank order and writes `DIR/summary.json`,
//! `DIR/bands.csv` and `DIR/patients.csv`, byte-identical to
//! `cohort --patients N --seed S --out DIR` on one machine. The files form one output set as in
//! the `cohort` example (`cartsim::io::output_set`): rank 0 locks and checks `DIR` before any
//! work, every rank writes its parts into the staging folder `.DIR.partial-PID` beside `DIR`,
//! and rank 0 publishes the folder with `manifest.json` and one rename. Bad input (zero
//! patients, more ranks than patients, a folder of other files, a second run into `DIR`) or a
//! failure on any rank makes every rank exit with status 1, reported once by rank 0; an earlier
//! set in `DIR` is left as it was, and so is it on Ctrl-C (SIGINT/SIGTERM to rank 0).
//!
//! ```text
//! cargo build --release --features mpi --example cohort_mpi
//! mpirun -np 4 target/release/examples/cohort_mpi --patients 100000 --seed 1 --out out/cohort
//! ```
//!
//! Threads per rank: rayon uses the cores a rank is bound to (OpenMPI binds each rank to one
//! core by default for up to 2 ranks); with `--bind-to none` set `RAYON_NUM_THREADS` yourself
//! (`mpirun -x RAYON_NUM_THREADS=1 ...`). See the README's "Running on a cluster" for SLURM.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use cartsim::cohort::Cohort;
use cartsim::distributed::{self, Options, PatientsCsv, Schedule};
use cartsim::prelude::*;
use clap::{Parser, ValueEnum};
use mpi::Threading;
use mpi::traits::Communicator;

/// How patient ids are distributed across ranks.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Sched {
    /// Chunks handed out by rank 0 on request: ranks finish together on unequal or shared
    /// nodes.
    Dynamic,
    /// One contiguous slice per rank, fixed in advance.
    Static,
}

/// Simulate a virtual SLE cohort treated with CD19 CAR-T across MPI ranks.
#[derive(Parser, Debug)]
struct Args {
    /// Number of virtual patients.
    #[arg(long, default_value_t = 1000)]
    patients: u64,
    /// Seed of the virtual population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (on a file system shared by the ranks).
    #[arg(long, default_value = "out/cohort")]
    out: PathBuf,
    /// Keep the parts `patients.part-PPPPPP.csv` instead of assembling
    /// `patients.csv` (for node-local output folders or very large cohorts).
    #[arg(long)]
    keep_parts: bool,
    /// How patient ids are distributed across ranks.
    #[arg(long, value_enum, default_value_t = Sched::Dynamic)]
    schedule: Sched,
    /// Patients per chunk (dynamic: unit of work and of part files; static: records held in
    /// memory at once). Default 4096 (dynamic: at most N / ranks). Each chunk has a fixed cost:
    /// keep it in the thousands.
    #[arg(long)]
    chunk: Option<u64>,
}

fn main() -> ExitCode {
    // Funneled: rayon threads (and rank 0's simulation thread) never call MPI.
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
        eprintln!("error: MPI could not be initialised");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let root = world.rank() == 0;
    // Rank 0 holds the output set: on SIGINT/SIGTERM its staging folder is removed.
    if root {
        common::remove_outputs_on_interrupt();
    }
    // Every rank parses the same command line, so every rank takes the same branch here.
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            if root {
                let _ = e.print();
            }
            // Status 1 on a malformed command line, as every example.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let opts = Options {
        schedule: match args.schedule {
            Sched::Dynamic => Schedule::Dynamic,
            Sched::Static => Schedule::Static,
        },
        chunk_patients: args.chunk,
        patients_csv: if args.keep_parts {
            PatientsCsv::KeepParts
        } else {
            PatientsCsv::Assemble
        },
    };
    // The same cohort as the `cohort` example; every rank learns if any rank could not build it.
    let built = Cohort::builder(SleModel::default())
        .patients(args.patients)
        .seed(args.seed)
        .build();
    let run = distributed::agree(&world, built).and_then(|cohort| {
        distributed::run_cohort(&world, &cohort, &args.out, &opts).map(|r| (cohort, r))
    });
    match run {
        Ok((cohort, report)) => {
            if let Some(result) = &report.result {
                let secs = report.rank_seconds.iter().cloned().fold(0.0, f64::max);
                println!(
                    "{} patients (seed {}) on {} ranks × {} threads in {:.2} s = {:.0} patients/s; {} failed, {} stiff retries",
                    args.patients,
                    args.seed,
                    report.ranks,
                    rayon::current_num_threads(),
                    secs,
                    args.patients as f64 / secs,
                    result.summary.failed,
                    result.stiff_retries
                );
                let per_rank: Vec<String> = report
                    .rank_seconds
                    .iter()
                    .zip(&report.rank_patients)
                    .map(|(s, p)| format!("{s:.2} s/{p}"))
                    .collect();
                println!(
                    "{:?} schedule, {} parts; per rank (compute time/patients): {}; imbalance (slowest / mean − 1): {:.1}%",
                    opts.schedule,
                    report.parts,
                    per_rank.join(", "),
                    100.0 * report.imbalance().unwrap_or(f64::NAN)
                );
                print!(
                    "{}",
                    cartsim::io::summary_table(cohort.model().endpoint_info(), &result.summary)
                );
                println!("wrote {}", args.out.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if root {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
