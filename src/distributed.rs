//! Distributed cohorts over MPI (feature `mpi`): the same cohort on a cluster, bit-identical to
//! one machine.
//!
//! [`run_cohort`] cuts the patient ids into deterministic parts and has the ranks simulate them
//! with the same per-patient function as [`Cohort::run`] (rayon threads inside each rank), in
//! chunks of bounded memory, folding patients into the mergeable
//! [`crate::summary::SummaryAccumulator`]. The files form one output set
//! ([`OutputSet`](crate::io::output_set), as in the `cohort` example): rank 0 opens it before
//! any work (the lock `.DIR.lock`, the check that `DIR` may be replaced, the staging folder
//! `.DIR.partial-PID` beside `DIR`), and every rank writes its parts into that staging folder —
//! each part's rows of the per-patient table in its own file `patients.part-PPPPPP.csv` (part 0
//! starts with the header, so the parts concatenated in name order are `patients.csv`). Rank 0
//! receives the ranks' partial summaries one at a time and merges them in rank order, then
//! writes `summary.json`, `bands.csv` and, by default, `patients.csv` assembled from the parts —
//! the files of the single-process `cohort` example, byte for byte — and publishes the folder
//! with `manifest.json` and one rename. The merge is exact (integer counts and
//! exact sums), so neither the number of ranks nor which rank simulated which part changes a
//! bit. Memory per rank does not grow with the cohort (in the streaming summary mode, the
//! default above 2,000 patients).
//!
//! **Schedules** ([`Schedule`]): `Dynamic` (the default) cuts the ids into deterministic chunks
//! of [`Options::chunk_patients`] that rank 0 hands out on request while every rank, rank 0
//! included, simulates; `Static` gives rank `r` the contiguous slice
//! [`shard_range`]`(n, r, ranks)`. Patient cost varies little (right-hand-side evaluations per
//! patient: CV 1.7% over 4,000 patients of seed 1, so static slices of that cohort differ in
//! work by 0.04% on 2 ranks and 1.2% on 64), but a rank's speed also depends on its core: on a
//! shared 2-core machine the slowest of 2 static ranks took up to 16% longer than the mean with
//! equal CPU time, while dynamic ranks finished within one chunk (3.5% on 40,000 patients, the
//! rank on the busy core doing 8,000 of them). [`Report::imbalance`] measures it on every run.
//!
//! **Failure protocol**: every collective step ends with an agreement ([`agree`]): each rank
//! reports success or its error to rank 0, which broadcasts the outcome, so a bad input (more
//! ranks than patients, ranks given different cohorts), a failing patient or an unwritable
//! file makes *every* rank return an error — naming the lowest failing rank — instead of
//! leaving the others waiting. No output is left behind on error and an earlier set in `DIR`
//! stays as it was: the staging folder, parts included, is removed, and nothing is renamed.
//!
//! ```no_run
//! use cartsim::cohort::Cohort;
//! use cartsim::distributed::{Options, agree, run_cohort};
//! use cartsim::prelude::*;
//!
//! // Funneled: rayon threads and rank 0's simulation thread never call MPI.
//! let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
//!     .ok_or(cartsim::Error::Input("MPI could not be initialised".into()))?;
//! let world = universe.world();
//! // Every rank builds the cohort; all ranks learn if any failed.
//! let cohort = agree(&world, Cohort::builder(SleModel::default()).patients(10_000).seed(1).build())?;
//! let report = run_cohort(&world, &cohort, "out/cohort".as_ref(), &Options::default())?;
//! if let Some(result) = &report.result {
//!     println!("{} patients, imbalance {:?}", result.summary.patients, report.imbalance());
//! }
//! # Ok::<(), cartsim::Error>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mpi::Tag;
use mpi::traits::{Communicator, Destination, Root, Source};
use serde::{Deserialize, Serialize};

use crate::cohort::{Cohort, CohortResult};
use crate::error::Error;
use crate::io::{self, OutputLayout, OutputSet};
use crate::model::Model;
use crate::shard::{DEFAULT_CHUNK_PATIENTS, run_range_chunked, shard_range, write_patients_from};
use crate::summary::SummaryAccumulator;

const TAG_STATUS: Tag = 7101;
const TAG_RESULT: Tag = 7102;
const TAG_WORK: Tag = 7103;
/// Reply of the dynamic coordinator: no more chunks.
const DONE: u64 = u64::MAX;

/// How patient ids are distributed across ranks. Either way the files are bit-identical: a
/// patient depends only on `(seed, id)` and the summaries merge exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// One contiguous slice per rank ([`shard_range`]), fixed in advance; no communication
    /// while simulating.
    Static,
    /// Deterministic chunks of [`Options::chunk_patients`] ids, handed out on request by rank
    /// 0 while every rank simulates (rank 0 in a second thread). Ranks finish within about one
    /// chunk of each other whatever the speed of their cores. With the default chunk size it
    /// runs as many chunks per rank as `Static` (the same fixed cost), so it is never slower
    /// on equal cores and absorbs slow or shared ones.
    #[default]
    Dynamic,
}

/// What becomes of the part files of the per-patient table. Either way the staging folder
/// beside `DIR` must be on a file system that every rank shares, as usual on clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatientsCsv {
    /// Rank 0 concatenates the parts into `DIR/patients.csv` and removes them.
    #[default]
    Assemble,
    /// Publish the parts as `DIR/patients.part-PPPPPP.csv` (`cat` them in name order to get
    /// `patients.csv`); no `patients.csv` is written. For very large cohorts (no second copy
    /// of the table).
    KeepParts,
}

/// Options of a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// How ids are distributed.
    pub schedule: Schedule,
    /// Patients per chunk: the unit of work and of part files with [`Schedule::Dynamic`], the
    /// unit of memory (records held at once) with [`Schedule::Static`]. `None`: with `Static`,
    /// [`DEFAULT_CHUNK_PATIENTS`]; with `Dynamic`, equal chunks of at most that size, `k` per
    /// rank with `k = ⌈n / ranks / DEFAULT_CHUNK_PATIENTS⌉` (as many chunks as the static
    /// schedule runs, so the same fixed cost).
    ///
    /// Each chunk has a fixed cost — in the streaming summary mode, allocating and merging
    /// accumulators for every band time of every output, measured at 0.1–0.25 s here — so
    /// chunks much smaller than the default cost throughput (125-patient chunks halved it).
    pub chunk_patients: Option<u64>,
    /// What becomes of the part files.
    pub patients_csv: PatientsCsv,
}

/// What a rank knows after a successful distributed run.
#[derive(Debug, Clone)]
pub struct Report {
    /// This rank.
    pub rank: i32,
    /// Number of ranks.
    pub ranks: i32,
    /// Patients simulated by this rank.
    pub patients: u64,
    /// Seconds from the start of the simulation until this rank finished its last part
    /// (simulated and written), not counting the wait for the other ranks.
    pub compute_seconds: f64,
    /// Every rank's `compute_seconds`, in rank order (rank 0 only; empty elsewhere).
    pub rank_seconds: Vec<f64>,
    /// Every rank's `patients`, in rank order (rank 0 only; empty elsewhere).
    pub rank_patients: Vec<u64>,
    /// Number of part files (chunks) the per-patient table was written in.
    pub parts: u64,
    /// The merged result of the whole cohort, without per-patient records (rank 0 only).
    pub result: Option<CohortResult>,
}

impl Report {
    /// Load imbalance: slowest rank's compute time over the mean, minus 1 (0 = perfect; rank 0
    /// only).
    pub fn imbalance(&self) -> Option<f64> {
        if self.rank_seconds.is_empty() {
            return None;
        }
        let max = self.rank_seconds.iter().cloned().fold(0.0, f64::max);
        let mean = self.rank_seconds.iter().sum::<f64>() / self.rank_seconds.len() as f64;
        (mean > 0.0).then(|| max / mean - 1.0)
    }
}

/// Part file `index` of the per-patient table in `dir` (the staging folder while the run lasts,
/// `DIR` with [`PatientsCsv::KeepParts`] after it): `patients.part-PPPPPP.csv` (six digits or
/// more, so that name order is id order). Part 0 starts with the header.
pub fn part_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("patients.part-{index:06}.csv"))
}

/// How the ids are cut into parts.
#[derive(Debug, Clone, Copy)]
struct Plan {
    n: u64,
    ranks: u64,
    schedule: Schedule,
    chunk: u64,
    parts: u64,
}

impl Plan {
    fn new(n: u64, ranks: u64, opts: &Options) -> Plan {
        match opts.schedule {
            Schedule::Static => Plan {
                n,
                ranks,
                schedule: Schedule::Static,
                chunk: opts.chunk_patients.unwrap_or(DEFAULT_CHUNK_PATIENTS).max(1),
                parts: ranks,
            },
            Schedule::Dynamic => {
                let ranks = ranks.max(1);
                // As many chunks per rank as the static schedule runs (same fixed cost), each
                // of at most DEFAULT_CHUNK_PATIENTS.
                let per_rank = n.div_ceil(ranks).div_ceil(DEFAULT_CHUNK_PATIENTS).max(1);
                let chunk = opts
                    .chunk_patients
                    .unwrap_or_else(|| n.div_ceil(ranks.saturating_mul(per_rank)))
                    .max(1);
                Plan {
                    n,
                    ranks,
                    schedule: Schedule::Dynamic,
                    chunk,
                    parts: n.div_ceil(chunk),
                }
            }
        }
    }

    fn part(&self, i: u64) -> Result<Range<u64>, Error> {
        match self.schedule {
            Schedule::Static => shard_range(self.n, i, self.ranks),
            Schedule::Dynamic => Ok(i * self.chunk..((i + 1) * self.chunk).min(self.n)),
        }
    }
}

/// A status message: `[0]` for success, `[1] ++ utf-8 message` for an error.
fn encode_status(s: &Result<(), String>) -> Vec<u8> {
    match s {
        Ok(()) => vec![0],
        Err(m) => {
            let mut v = vec![1];
            v.extend_from_slice(m.as_bytes());
            v
        }
    }
}

fn decode_status(b: &[u8]) -> Result<(), String> {
    match b.split_first() {
        Some((0, _)) => Ok(()),
        Some((_, m)) => Err(String::from_utf8_lossy(m).into_owned()),
        None => Err("empty status message".into()),
    }
}

/// Broadcasts `bytes` from rank 0 (other ranks' argument is ignored).
fn broadcast_bytes<C: Communicator>(comm: &C, bytes: Vec<u8>) -> Vec<u8> {
    let root = comm.process_at_rank(0);
    let mut len = bytes.len() as u64;
    root.broadcast_into(&mut len);
    let mut buf = if comm.rank() == 0 {
        bytes
    } else {
        vec![0u8; len as usize]
    };
    if len > 0 {
        root.broadcast_into(&mut buf[..]);
    }
    buf
}

/// Rank 0 broadcasts the outcome: `None` for success, or the lowest failing rank and its
/// message.
fn broadcast_outcome<C: Communicator>(
    comm: &C,
    outcome: Option<(i32, String)>,
) -> Option<(i32, String)> {
    let bytes = match &outcome {
        None => Vec::new(),
        Some((r, m)) => {
            let mut v = r.to_le_bytes().to_vec();
            v.extend_from_slice(m.as_bytes());
            v
        }
    };
    let b = broadcast_bytes(comm, bytes);
    let (r, m) = b.split_at_checked(4)?;
    let r = i32::from_le_bytes(r.try_into().ok()?);
    Some((r, String::from_utf8_lossy(m).into_owned()))
}

/// Every rank's status, decided on rank 0 (the lowest failing rank wins) and broadcast.
fn decide<C: Communicator>(comm: &C, status: Result<(), String>) -> Option<(i32, String)> {
    if comm.rank() == 0 {
        let mut first = status.err().map(|m| (0, m));
        for r in 1..comm.size() {
            let (msg, _) = comm
                .process_at_rank(r)
                .receive_vec_with_tag::<u8>(TAG_STATUS);
            if let Err(m) = decode_status(&msg) {
                first.get_or_insert((r, m));
            }
        }
        broadcast_outcome(comm, first)
    } else {
        comm.process_at_rank(0)
            .send_with_tag(&encode_status(&status)[..], TAG_STATUS);
        broadcast_outcome(comm, None)
    }
}

/// The error a rank returns when `outcome` is a failure: its own error if it has one,
/// otherwise [`Error::Rank`] naming the lowest failing rank.
fn failure<C: Communicator>(comm: &C, own: Option<Error>, outcome: (i32, String)) -> Error {
    own.unwrap_or(Error::Rank {
        rank: outcome.0,
        ranks: comm.size(),
        message: outcome.1,
    })
}

/// A collective agreement on a result: every rank passes its own, every rank learns whether
/// all succeeded. Returns `local` if every rank succeeded; otherwise an error on every rank —
/// the rank's own error, or [`Error::Rank`] naming the lowest failing rank and its message.
/// Must be called by every rank of `comm` (it is collective).
///
/// # Errors
/// As described: when any rank passes an error.
pub fn agree<C: Communicator, T>(comm: &C, local: Result<T, Error>) -> Result<T, Error> {
    let status = local.as_ref().map(|_| ()).map_err(|e| e.to_string());
    match decide(comm, status) {
        None => local,
        Some(outcome) => Err(failure(comm, local.err(), outcome)),
    }
}

/// A rank's partial result, sent to rank 0.
#[derive(Serialize, Deserialize)]
struct Partial {
    /// `None` when the rank simulated no chunk (dynamic schedule, more ranks than chunks).
    summary: Option<SummaryAccumulator>,
    stiff_retries: u64,
    patients: u64,
    seconds: f64,
}

/// What a rank simulated: its merged result (if any patient) and the part files it wrote.
#[derive(Default)]
struct Local {
    result: Option<CohortResult>,
    written: Vec<PathBuf>,
    error: Option<Error>,
    /// When the rank's last part was done.
    finished: Option<Instant>,
}

impl Local {
    /// Simulates part `i` of `plan` into its part file and folds it in; records the error.
    fn simulate<M: Model<N>, const N: usize>(
        &mut self,
        cohort: &Cohort<M, N>,
        plan: &Plan,
        i: u64,
        dir: &Path,
    ) {
        let path = part_path(dir, i);
        let header = (i == 0).then(|| io::patients_header(cohort));
        let r = plan
            .part(i)
            .and_then(|range| compute_part(cohort, range, plan.chunk, &path, header.as_deref()));
        match r {
            Ok(r) => {
                self.written.push(path);
                match self.result.as_mut() {
                    None => self.result = Some(r),
                    Some(a) => {
                        if let Err(reason) = a.summary.merge(&r.summary) {
                            self.error = Some(Error::Input(reason));
                        }
                        a.stiff_retries += r.stiff_retries;
                        let n = (a.range.end - a.range.start) + (r.range.end - r.range.start);
                        // Only the count matters here: chunks of one rank need not be adjacent.
                        a.range = 0..n;
                    }
                }
            }
            Err(e) => self.error = Some(e),
        }
        self.finished = Some(Instant::now());
    }

    fn patients(&self) -> u64 {
        self.result
            .as_ref()
            .map_or(0, |r| r.range.end - r.range.start)
    }
}

/// Simulates `range` and writes its rows (with the header for part 0) to `part`.
fn compute_part<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    range: Range<u64>,
    chunk: u64,
    part: &Path,
    header: Option<&[String]>,
) -> Result<CohortResult, Error> {
    let mut result = None;
    write_patients_from(part, header, &mut |w| {
        let r = run_range_chunked(cohort, range.clone(), chunk, &mut |recs| {
            io::write_patient_rows(w, recs).map_err(|source| Error::Io {
                path: part.display().to_string(),
                source,
            })
        })?;
        result = Some(r);
        Ok(())
    })?;
    result.ok_or_else(|| Error::Input("no result".into()))
}

/// Dynamic schedule, rank 0: a scoped thread simulates chunks taken from the shared counter
/// while the main thread (the only one calling MPI) answers the workers' requests.
fn dynamic_root<C: Communicator, M: Model<N>, const N: usize>(
    comm: &C,
    cohort: &Cohort<M, N>,
    plan: &Plan,
    dir: &Path,
) -> Local {
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let mut local = Local::default();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.parts {
                    break;
                }
                local.simulate(cohort, plan, i, dir);
                if local.error.is_some() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            local
        });
        // Serve until every worker has been told that the work is done (or has quit).
        let mut finished = 0;
        while finished < comm.size() - 1 {
            let Some((msg, status)) = comm
                .any_process()
                .immediate_matched_probe_with_tag(TAG_WORK)
            else {
                // A request waits at most 1 ms (a chunk takes seconds); a slow poll leaves the
                // core to the simulation.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let (quit, _) = msg.matched_receive::<u8>();
            if quit == 1 {
                // The worker failed and quits; stop handing out work.
                stop.store(true, Ordering::Relaxed);
                finished += 1;
                continue;
            }
            let i = if stop.load(Ordering::Relaxed) {
                DONE
            } else {
                next.fetch_add(1, Ordering::Relaxed)
            };
            let i = if i >= plan.parts { DONE } else { i };
            comm.process_at_rank(status.source_rank())
                .send_with_tag(&i, TAG_WORK);
            if i == DONE {
                finished += 1;
            }
        }
        worker.join().unwrap_or_else(|_| Local {
            error: Some(Error::Input("rank 0's simulation thread panicked".into())),
            ..Local::default()
        })
    })
}

/// Dynamic schedule, ranks > 0: ask rank 0 for a chunk, simulate it, ask again. (Asking ahead
/// would hide the request's latency — under a millisecond — but lets the last two chunks land
/// on one rank, measured as a 14–20% longer tail with 500-patient chunks.)
fn dynamic_worker<C: Communicator, M: Model<N>, const N: usize>(
    comm: &C,
    cohort: &Cohort<M, N>,
    plan: &Plan,
    dir: &Path,
) -> Local {
    let root = comm.process_at_rank(0);
    let mut local = Local::default();
    loop {
        if local.error.is_some() {
            // Tell rank 0 to stop handing out work; the run has failed.
            root.send_with_tag(&1u8, TAG_WORK);
            break;
        }
        root.send_with_tag(&0u8, TAG_WORK);
        let (i, _) = root.receive_with_tag::<u64>(TAG_WORK);
        if i == DONE {
            break;
        }
        local.simulate(cohort, plan, i, dir);
    }
    local
}

/// Encodes a partial result for rank 0 (a status byte, then postcard).
fn encode_partial(r: &Result<Partial, String>) -> Vec<u8> {
    let status = match r {
        Ok(p) => match postcard::to_allocvec(p) {
            Ok(bytes) if bytes.len() < i32::MAX as usize => {
                let mut v = vec![0];
                v.extend_from_slice(&bytes);
                return v;
            }
            Ok(bytes) => Err(format!(
                "the partial summary has {} bytes, more than one MPI message holds: use the streaming summary mode",
                bytes.len()
            )),
            Err(e) => Err(format!("cannot encode the partial summary: {e}")),
        },
        Err(e) => Err(e.clone()),
    };
    encode_status(&status)
}

fn decode_partial(b: &[u8]) -> Result<Partial, String> {
    match b.split_first() {
        Some((0, p)) => {
            postcard::from_bytes(p).map_err(|e| format!("cannot decode the partial summary: {e}"))
        }
        _ => Err(decode_status(b).err().unwrap_or_default()),
    }
}

/// Writes the final files on rank 0 into the set (summary.json, bands.csv, and patients.csv
/// from the parts, which are then removed unless kept) and publishes it.
fn write_outputs<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    result: &CohortResult,
    set: OutputSet,
    parts: u64,
    patients_csv: PatientsCsv,
) -> Result<(), Error> {
    let layout = OutputLayout::of(cohort);
    io::write_summary_json_with(&set.path("summary.json")?, &layout, result)?;
    io::write_bands_csv_with(&set.path("bands.csv")?, &layout, result)?;
    if patients_csv == PatientsCsv::Assemble {
        let stage = set.staging().to_path_buf();
        write_patients_from(&set.path("patients.csv")?, None, &mut |w| {
            for i in 0..parts {
                let p = part_path(&stage, i);
                let io_err = |source| Error::Io {
                    path: p.display().to_string(),
                    source,
                };
                let mut f = std::fs::File::open(&p).map_err(io_err)?;
                std::io::copy(&mut f, w).map_err(io_err)?;
            }
            Ok(())
        })?;
        for i in 0..parts {
            let p = part_path(&stage, i);
            std::fs::remove_file(&p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })?;
        }
    }
    set.commit()?;
    Ok(())
}

/// Runs `cohort` across the ranks of `comm` and writes its files as one output set in `dir`
/// (see the module docs). Collective: every rank calls it with the same cohort (checked by
/// fingerprint, seed and size) and the same `dir` and options. With [`Schedule::Dynamic`], MPI
/// must allow threads that do not call MPI (initialise with at least
/// [`mpi::Threading::Funneled`]).
///
/// # Errors
/// On every rank, when any rank fails: [`Error::Input`] for more ranks than patients, ranks
/// given different cohorts, a `dir` locked by another run or holding files that are not
/// cartsim outputs; a patient's failure as [`Cohort::run`]; [`Error::Io`] for a file; a rank
/// returns its own error or [`Error::Rank`] naming the lowest failing rank. On error nothing is
/// written to `dir` (an earlier set there is kept) and the staging folder is removed.
pub fn run_cohort<C, M, const N: usize>(
    comm: &C,
    cohort: &Cohort<M, N>,
    dir: &Path,
    opts: &Options,
) -> Result<Report, Error>
where
    C: Communicator,
    M: Model<N>,
{
    let (rank, ranks) = (comm.rank(), comm.size());
    let n = cohort.n_patients();
    let plan = Plan::new(n, ranks as u64, opts);

    // 1. Validate on every rank; rank 0 creates the folder. Agreed before any work.
    let ident = format!(
        "{} {} {} {:?}",
        cohort.fingerprint(),
        cohort.seed(),
        n,
        opts
    );
    let root_ident = broadcast_bytes(comm, ident.clone().into_bytes());
    // Rank 0's output set, opened before any work; the other ranks learn its staging folder.
    let mut set: Option<OutputSet> = None;
    let local = (|| {
        if n < ranks as u64 {
            return Err(Error::Input(format!(
                "{ranks} MPI ranks for {n} patients: every rank needs at least one patient, use at most {n} ranks"
            )));
        }
        if root_ident != ident.as_bytes() {
            return Err(Error::Input(format!(
                "rank {rank} was given another cohort or options than rank 0 (`{ident}` vs `{}`)",
                String::from_utf8_lossy(&root_ident)
            )));
        }
        if rank == 0 {
            let s = OutputSet::create(dir)?;
            if s.staging().to_str().is_none() {
                return Err(Error::Input(format!(
                    "output folder `{}`: an MPI run needs a path that is valid UTF-8 (it is \
                     sent to every rank)",
                    dir.display()
                )));
            }
            set = Some(s);
        }
        Ok(())
    })();
    agree(comm, local)?;
    let stage_name = set
        .as_ref()
        .and_then(|s| s.staging().to_str())
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let stage =
        PathBuf::from(String::from_utf8_lossy(&broadcast_bytes(comm, stage_name)).into_owned());
    let stage = stage.as_path();

    // 2. Simulate, write the parts, send the partial summary to rank 0.
    let t0 = Instant::now();
    let mut local = match plan.schedule {
        Schedule::Static => {
            let mut l = Local::default();
            l.simulate(cohort, &plan, rank as u64, stage);
            l
        }
        Schedule::Dynamic if rank == 0 => dynamic_root(comm, cohort, &plan, stage),
        Schedule::Dynamic => dynamic_worker(comm, cohort, &plan, stage),
    };
    // Until the rank's last part was done (not waiting for the others).
    let seconds = local
        .finished
        .map_or(0.0, |t| t.duration_since(t0).as_secs_f64());
    let patients = local.patients();
    let own = match local.error.take() {
        Some(e) => Err(e),
        None => Ok(local.result.take()),
    };
    let mut own_error = None;
    let (outcome, merged, rank_seconds, rank_patients) = if rank == 0 {
        let mut first: Option<(i32, String)> = None;
        let mut merged = match own {
            Ok(r) => r,
            Err(e) => {
                first = Some((0, e.to_string()));
                own_error = Some(e);
                None
            }
        };
        let (mut rank_seconds, mut rank_patients) = (vec![seconds], vec![patients]);
        // In rank order, one message at a time.
        for r in 1..ranks {
            let (msg, _) = comm
                .process_at_rank(r)
                .receive_vec_with_tag::<u8>(TAG_RESULT);
            match decode_partial(&msg) {
                Ok(p) => {
                    rank_seconds.push(p.seconds);
                    rank_patients.push(p.patients);
                    match (merged.as_mut(), p.summary) {
                        (Some(m), Some(s)) => {
                            if let Err(reason) = m.summary.merge(&s) {
                                first.get_or_insert((r, reason));
                            }
                            m.stiff_retries += p.stiff_retries;
                        }
                        (None, Some(s)) if first.is_none() => {
                            merged = Some(CohortResult {
                                range: 0..n,
                                seed: cohort.seed(),
                                summary: s,
                                records: Vec::new(),
                                failures: Vec::new(),
                                stiff_retries: p.stiff_retries,
                                fingerprint: cohort.fingerprint(),
                            });
                        }
                        _ => {}
                    }
                }
                Err(m) => {
                    rank_seconds.push(f64::NAN);
                    rank_patients.push(0);
                    first.get_or_insert((r, m));
                }
            }
        }
        // 3. Rank 0 writes the final files and publishes the set (dropped on error: the
        //    staging folder, parts included, is removed).
        if first.is_none() {
            match (merged.as_mut(), set.take()) {
                (Some(m), Some(set)) if m.summary.patients + m.summary.failed == n => {
                    m.range = 0..n;
                    if let Err(e) = write_outputs(cohort, m, set, plan.parts, opts.patients_csv) {
                        first = Some((0, e.to_string()));
                        own_error = Some(e);
                    }
                }
                _ => first = Some((0, "the ranks did not simulate every patient".into())),
            }
        }
        (
            broadcast_outcome(comm, first),
            merged,
            rank_seconds,
            rank_patients,
        )
    } else {
        let partial = match own {
            Ok(r) => Ok(Partial {
                stiff_retries: r.as_ref().map_or(0, |r| r.stiff_retries),
                summary: r.map(|r| r.summary),
                patients,
                seconds,
            }),
            Err(e) => {
                let m = e.to_string();
                own_error = Some(e);
                Err(m)
            }
        };
        comm.process_at_rank(0)
            .send_with_tag(&encode_partial(&partial)[..], TAG_RESULT);
        (broadcast_outcome(comm, None), None, Vec::new(), Vec::new())
    };
    if let Some(o) = outcome {
        for p in &local.written {
            let _ = std::fs::remove_file(p);
        }
        return Err(failure(comm, own_error, o));
    }
    Ok(Report {
        rank,
        ranks,
        patients,
        compute_seconds: seconds,
        rank_seconds,
        rank_patients,
        parts: plan.parts,
        result: merged,
    })
}
