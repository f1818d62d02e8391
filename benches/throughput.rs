//! Throughput of the default SLE cohort: the figures users tune against, in one run.
//!
//! ```text
//! cargo bench --bench throughput            # full run (N = 20,000 per measurement)
//! CARTSIM_BENCH_N=2000 cargo bench --bench throughput   # quicker
//! ```
//!
//! Prints patients/s at 1 thread and at all threads, parallel efficiency, steps and RHS
//! evaluations per patient, ns per RHS evaluation, heap allocations per patient (counting global
//! allocator; also per ODE step, by comparing a 1-year and a 2-year horizon), instructions per
//! patient (callgrind, when valgrind is installed: this binary re-run under it on 200 and 400
//! patients, the difference over 200, as `benches/instructions.sh`), and the accuracy guard of
//! `tests/accuracy.rs` (1,000 patients against rtol = atol = 1e-10: largest relative error of a
//! continuous deterministic endpoint, discrete and stochastic counts); also, as a tuning figure,
//! patients/s at 1 thread with a 6-hourly output grid. The last line is machine-readable.

#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cartsim::cohort::{Cohort, Records};
use cartsim::model::sle::SLE_STATES;
use cartsim::model::{Model, SleModel};
use cartsim::prelude::*;
use cartsim::summary::SummaryMode;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn cohort(n: u64, regimen: Regimen, solver: SolverOptions) -> Cohort<SleModel, SLE_STATES> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(2024)
        .regimen(regimen)
        .solver(solver)
        .records(Records::Discard)
        .summary_mode(SummaryMode::Streaming { alpha: 0.005 })
        .build()
        .expect("valid cohort")
}

/// Patients/s (best of three runs) and CPU seconds per patient (of the same runs, least).
fn rate(threads: usize, c: &Cohort<SleModel, SLE_STATES>) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    // Warm-up, then the best of three.
    pool.install(|| c.run_range(0..200.min(c.n_patients())).expect("run"));
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for _ in 0..3 {
        let cpu = cpu_time::ProcessTime::now();
        let t = Instant::now();
        pool.install(|| c.run().expect("run"));
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu.elapsed().as_secs_f64() / c.n_patients() as f64);
    }
    (c.n_patients() as f64 / best, best_cpu)
}

/// Environment variable of the child run under callgrind: its value is the number of patients.
const CHILD: &str = "CARTSIM_INSTRUCTIONS_CHILD";

/// The cohort of `profile_cohort` (seed 2024, one thread, streaming summaries, records
/// discarded) on `n` patients: what the instruction count measures.
fn child(n: u64) {
    cohort(n, Regimen::mackensen_2022(), SolverOptions::default())
        .run_sequential()
        .expect("run");
}

/// Instructions per patient: this binary re-run under callgrind on 200 and 400 patients, the
/// difference over 200 (fixed costs cancel). `None` without valgrind.
fn instructions_per_patient() -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let count = |n: u64| -> Option<u64> {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .env(CHILD, n.to_string())
            .output()
            .ok()?;
        // "==pid== Collected : 1234" on stderr.
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text.lines().find(|l| l.contains("Collected :"))?;
        line.rsplit(':')
            .next()?
            .trim()
            .replace(',', "")
            .parse()
            .ok()
    };
    let (a, b) = (count(200)?, count(400)?);
    Some(b.saturating_sub(a) / 200)
}

fn main() {
    if let Some(n) = std::env::var(CHILD).ok().and_then(|s| s.parse().ok()) {
        child(n);
        return;
    }
    let n: u64 = std::env::var("CARTSIM_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let all = std::thread::available_parallelism().map_or(1, |p| p.get());
    let model = SleModel::default();
    let opts = SolverOptions::default();
    let c = cohort(n, Regimen::mackensen_2022(), opts);

    // Work per patient (sequential, records kept for the stats).
    let sample = Cohort::builder(model)
        .patients(200)
        .seed(2024)
        .solver(opts)
        .build()
        .expect("valid cohort");
    let r = sample.run_sequential().expect("run");
    let steps: f64 = r
        .records
        .iter()
        .map(|x| x.stats.accepted_steps as f64)
        .sum::<f64>()
        / 200.0;
    let evals: f64 = r
        .records
        .iter()
        .map(|x| x.stats.rhs_evals as f64)
        .sum::<f64>()
        / 200.0;

    // ns per RHS evaluation on a mid-course state of the typical patient.
    let probe = common::RhsProbe::new(&model);
    let (patient, doses, y, seg) = (&probe.patient, &probe.doses, probe.y, probe.segment());
    let mut dy = y;
    let reps = 2_000_000u32;
    let t = Instant::now();
    for i in 0..reps {
        let ti = 5.0 + (i % 1000) as f64 * 0.004;
        model.rhs(
            patient,
            std::hint::black_box(ti),
            std::hint::black_box(&y),
            &seg,
            &mut dy,
        );
        std::hint::black_box(&dy);
    }
    let ns_per_eval = t.elapsed().as_secs_f64() * 1e9 / reps as f64;

    // Allocations per patient in the cohort hot path (summaries included), and per ODE step:
    // the solver on a reused workspace over a 1-year and a 2-year horizon (equal counts = no
    // allocation per step; the 2-year course takes more steps).
    let allocs_per_patient = {
        let c = cohort(64, Regimen::mackensen_2022(), opts);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        pool.install(|| c.run().expect("run"));
        let before = ALLOCS.load(Ordering::Relaxed);
        let res = pool.install(|| c.run().expect("run"));
        let after = ALLOCS.load(Ordering::Relaxed);
        drop(res);
        (after - before) as f64 / 64.0
    };
    let solve_allocs = |end_day: f64| {
        let mut ws = cartsim::solve::Workspace::default();
        let run = |ws: &mut cartsim::solve::Workspace| {
            cartsim::solve::solve_into(&model, patient, doses, -6.0, end_day, &opts, ws)
                .expect("solve")
        };
        run(&mut ws);
        let before = ALLOCS.load(Ordering::Relaxed);
        let st = run(&mut ws);
        (ALLOCS.load(Ordering::Relaxed) - before, st.accepted_steps)
    };
    let (a1, s1) = solve_allocs(365.0);
    let (a2, s2) = solve_allocs(730.0);

    // The accuracy guard of tests/accuracy.rs.
    let accuracy = common::accuracy(opts, 1000, 77);
    let instructions = instructions_per_patient();

    let (r1, cpu1) = rate(1, &c);
    let (rall, cpu_all) = rate(all, &c);
    let eff = rall / (r1 * all as f64);
    // Tuning figure: the same cohort with a 6-hourly output grid instead of the default daily
    // one (4× the interpolated outputs; endpoints other than the relapse step's are the same,
    // see benches/README.md).
    let fine = cohort(
        n,
        Regimen::mackensen_2022(),
        SolverOptions {
            output_step_day: 0.25,
            ..opts
        },
    );
    let (r1_fine, _) = rate(1, &fine);
    println!(
        "cohort: default SLE model, Mackensen 2022 regimen, day -6..365, N = {n}, rtol = {}, atol = {}",
        opts.rtol, opts.atol
    );
    // Figures depend on the code generation: say which, so that a run can be attributed
    // (`RUSTFLAGS="-C target-cpu=native"` gives AVX2 on this machine; benches/README.md).
    println!(
        "built for                    {} (avx2: {}, fma: {}); solve dispatched at run time to its AVX2 + FMA copy: {}",
        std::env::consts::ARCH,
        cfg!(target_feature = "avx2"),
        cfg!(target_feature = "fma"),
        cartsim::solve::avx2_fma_dispatch()
    );
    println!("threads available            {all}");
    println!("patients/s, 1 thread         {r1:.0}");
    println!("patients/s, {all} threads        {rall:.0}");
    println!("parallel efficiency          {eff:.3}");
    // The CPU time the process used, per patient: their ratio separates the runner's parallel
    // overhead (extra work at more threads) from threads waiting for a core. On a VM it still
    // counts time stolen while a thread was running, so it is noisy there too.
    println!(
        "CPU time per patient         {:.1} µs (1 thread), {:.1} µs ({all} threads): work efficiency {:.3}",
        cpu1 * 1e6,
        cpu_all * 1e6,
        cpu1 / cpu_all
    );
    println!("µs per patient, 1 thread     {:.1}", 1e6 / r1);
    println!("patients/s, 1 thread, 6-hourly output grid (output_step_day = 0.25)  {r1_fine:.0}");
    println!("steps per patient            {steps:.1}");
    println!("RHS evaluations per patient  {evals:.1}");
    println!("ns per RHS evaluation        {ns_per_eval:.1}");
    println!(
        "allocations per patient      {allocs_per_patient:.1} (cohort hot path, summaries included)"
    );
    println!(
        "allocations per solve        {a1} ({s1} steps, 1 year), {a2} ({s2} steps, 2 years): {} per ODE step",
        if a1 == a2 { "0" } else { "> 0" }
    );
    let instructions = instructions.map_or("NA".to_string(), |i| i.to_string());
    println!(
        "instructions per patient     {instructions} (callgrind, 400 − 200 patients; NA when valgrind is missing)"
    );
    let max_rel_err = accuracy.max_rel_err;
    println!(
        "max relative endpoint error  {max_rel_err:.2e} ({} of patient {}) vs rtol 1e-10 over {} patients; discrete and stochastic counts {}",
        accuracy.worst.0,
        accuracy.worst.1,
        accuracy.patients,
        if accuracy.count_differences.is_empty() {
            "identical".to_string()
        } else {
            format!("differ: {:?}", accuracy.count_differences)
        }
    );
    println!(
        "patients_per_s_1t={r1:.0} patients_per_s_all={rall:.0} efficiency={eff:.3} cpu_efficiency={:.3} allocs_per_patient={allocs_per_patient:.1} rhs_evals_per_patient={evals:.0} instructions_per_patient={instructions} max_rel_err={max_rel_err:.2e} accuracy_patients={} count_differences={}",
        cpu1 / cpu_all,
        accuracy.patients,
        accuracy.count_differences.len()
    );
}
