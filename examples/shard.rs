//! How do I run one cohort as many independent batch jobs (a SLURM array) and merge them?
//!
//! `shard run` simulates shard K of N (0-based) of the same cohort as the `cohort` example and
//! writes one shard file (partial summary and its rows of the per-patient table); `shard merge`
//! checks that the files form one complete cohort and writes `DIR/summary.json`,
//! `DIR/bands.csv` and `DIR/patients.csv`, byte-identical to
//! `cohort --patients N --seed S --out DIR`. A missing, duplicated, overlapping, truncated or
//! mismatched shard (other seed, size, cohort specification or cartsim version) is refused with
//! a message naming it, and nothing is written.
//!
//! ```text
//! for k in 0 1 2 3; do
//!   cargo run --release --example shard -- run --patients 2000 --seed 1 --shard $k/4 --out out/shards/shard-$k.bin
//! done
//! cargo run --release --example shard -- merge --out out/merged out/shards/shard-*.bin
//! ```
//!
//! In a SLURM array job: `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` with
//! `#SBATCH --array=0-3` (see the README's "Running on a cluster").

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cartsim::cohort::Cohort;
use cartsim::prelude::*;
use cartsim::shard::{ShardSet, parse_shard, write_shard};
use clap::{Parser, Subcommand};

/// Run a virtual SLE cohort as independent shards and merge them.
#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate shard K/N of the cohort and write one shard file.
    Run {
        /// Number of virtual patients in the whole cohort.
        #[arg(long, default_value_t = 1000)]
        patients: u64,
        /// Seed of the virtual population.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Which shard: K/N, 0 ≤ K < N (SLURM: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).
        #[arg(long)]
        shard: String,
        /// Shard file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Merge a complete set of shard files into summary.json, bands.csv and patients.csv.
    Merge {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// The shard files (any order).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn run(args: Args) -> Result<(), cartsim::Error> {
    match args.command {
        Command::Run {
            patients,
            seed,
            shard,
            out,
        } => {
            let (k, n) = parse_shard(&shard)?;
            // The same cohort as the `cohort` example.
            let cohort = Cohort::builder(SleModel::default())
                .patients(patients)
                .seed(seed)
                .build()?;
            let t0 = Instant::now();
            let h = write_shard(&cohort, k, n, &out)?;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "shard {}: {} patients in {secs:.2} s = {:.0} patients/s on {} threads; {} failed, {} stiff retries; wrote {}",
                h.label(),
                h.end - h.start,
                (h.end - h.start) as f64 / secs,
                rayon::current_num_threads(),
                h.failed,
                h.stiff_retries,
                out.display()
            );
        }
        Command::Merge { out, files } => {
            let set = ShardSet::open(&files)?;
            let result = set.write_outputs(&out)?;
            println!(
                "merged {} shards: {} patients (seed {}), {} failed, {} stiff retries; wrote {}",
                set.shards().len(),
                result.range.end,
                result.seed,
                result.summary.failed,
                result.stiff_retries,
                out.display()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    common::remove_outputs_on_interrupt();
    common::exit_code(run(common::parse_args()))
}
