//! Distributed cohorts over MPI (feature `mpi`): the same cohort on a cluster, bit-identical to
//! one machine.
//!
//! [`run_cohort`] splits the patient ids into one contiguous slice per rank
//! ([`shard_range`]: slices differ by at most one patient). Each rank simulates its slice with
//! the same per-patient function as [`Cohort::run`] (rayon threads inside the rank), in chunks
//! of bounded memory, folding patients into the mergeable
//! [`crate::summary::SummaryAccumulator`] and writing its rows of the
//! per-patient table to its own part file `DIR/patients.part-RRRRRR.csv` (rank 0's part starts
//! with the header, so the parts concatenated in rank order are `patients.csv`). Rank 0
//! receives the partial summaries one at a time and merges them in rank order (the merge is
//! exact, so the order does not change a bit), then writes `summary.json`, `bands.csv` and, by
//! default, `patients.csv` assembled from the parts — the files of the single-process `cohort`
//! example, byte for byte. Memory per rank does not grow with the cohort (in the streaming
//! summary mode, the default above 2,000 patients).
//!
//! **Failure protocol**: every collective step ends with an agreement ([`agree`]): each rank
//! reports success or its error to rank 0, which broadcasts the outcome, so a bad input (more
//! ranks than patients, ranks given different cohorts), a failing patient or an unwritable
//! file makes *every* rank return an error — naming the lowest failing rank — instead of
//! leaving the others waiting. No output is left behind on error: part files are removed and
//! the final files are written into a staging folder and renamed into place together.
//!
//! **Load balance**: a static split is used. Patient cost varies (steps per patient, the rare
//! stiff retry), but a rank's slice sums thousands of independent patients, so the slowest rank
//! exceeds the mean by a few percent at realistic sizes; [`Report::imbalance`] measures it on
//! every run (see the README's "Running on a cluster" for measured figures).
//!
//! ```no_run
//! use cartsim::cohort::Cohort;
//! use cartsim::distributed::{Options, agree, run_cohort};
//! use cartsim::prelude::*;
//!
//! let universe = mpi::initialize().ok_or(cartsim::Error::Input("MPI init failed".into()))?;
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
use std::time::Instant;

use mpi::Tag;
use mpi::traits::{Communicator, Destination, Root, Source};
use serde::{Deserialize, Serialize};

use crate::cohort::{Cohort, CohortResult};
use crate::error::Error;
use crate::io::{self, OutputLayout};
use crate::model::Model;
use crate::shard::{
    DEFAULT_CHUNK_PATIENTS, Staging, run_range_chunked, shard_range, write_patients_from,
};
use crate::summary::SummaryAccumulator;

const TAG_STATUS: Tag = 7101;
const TAG_RESULT: Tag = 7102;

/// What becomes of the per-rank part files of the per-patient table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatientsCsv {
    /// Rank 0 concatenates the parts into `DIR/patients.csv` and removes them (needs `DIR` on
    /// a file system that every rank shares, as usual on clusters).
    #[default]
    Assemble,
    /// Leave the parts `DIR/patients.part-RRRRRR.csv` (`cat` them in name order to get
    /// `patients.csv`); no `patients.csv` is written. For very large cohorts or node-local
    /// output folders.
    KeepParts,
}

/// Options of a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Patients simulated per chunk inside a rank (records of one chunk are held in memory).
    pub chunk_patients: u64,
    /// What becomes of the part files.
    pub patients_csv: PatientsCsv,
}

impl Default for Options {
    /// Chunks of [`DEFAULT_CHUNK_PATIENTS`], parts assembled into `patients.csv`.
    fn default() -> Self {
        Options {
            chunk_patients: DEFAULT_CHUNK_PATIENTS,
            patients_csv: PatientsCsv::Assemble,
        }
    }
}

/// What a rank knows after a successful distributed run.
#[derive(Debug, Clone)]
pub struct Report {
    /// This rank.
    pub rank: i32,
    /// Number of ranks.
    pub ranks: i32,
    /// Patient ids simulated by this rank.
    pub range: Range<u64>,
    /// Seconds this rank spent simulating and writing its part.
    pub compute_seconds: f64,
    /// Every rank's `compute_seconds`, in rank order (rank 0 only; empty elsewhere).
    pub rank_seconds: Vec<f64>,
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

/// The part file of `rank`'s rows: `DIR/patients.part-RRRRRR.csv` (six digits, so that name
/// order is rank order).
pub fn part_path(dir: &Path, rank: i32) -> PathBuf {
    dir.join(format!("patients.part-{rank:06}.csv"))
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
    summary: SummaryAccumulator,
    stiff_retries: u64,
    seconds: f64,
}

/// Simulates `range` and writes its rows (with the header on rank 0) to the rank's part file.
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

/// Encodes a partial result for rank 0 (a status byte, then postcard).
fn encode_partial(r: &Result<Partial, Error>) -> Vec<u8> {
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
        Err(e) => Err(e.to_string()),
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

/// Writes the final files on rank 0: summary.json, bands.csv, and patients.csv from the parts.
fn write_outputs<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    result: &CohortResult,
    dir: &Path,
    ranks: i32,
    patients_csv: PatientsCsv,
) -> Result<(), Error> {
    let layout = OutputLayout::of(cohort);
    let stage = Staging::new(dir)?;
    let mut names = vec!["summary.json", "bands.csv"];
    io::write_summary_json_with(&stage.path("summary.json"), &layout, result)?;
    io::write_bands_csv_with(&stage.path("bands.csv"), &layout, result)?;
    if patients_csv == PatientsCsv::Assemble {
        write_patients_from(&stage.path("patients.csv"), None, &mut |w| {
            for r in 0..ranks {
                let p = part_path(dir, r);
                let io_err = |source| Error::Io {
                    path: p.display().to_string(),
                    source,
                };
                let mut f = std::fs::File::open(&p).map_err(io_err)?;
                std::io::copy(&mut f, w).map_err(|source| Error::Io {
                    path: p.display().to_string(),
                    source,
                })?;
            }
            Ok(())
        })?;
        names.push("patients.csv");
    }
    stage.commit(&names)?;
    if patients_csv == PatientsCsv::Assemble {
        for r in 0..ranks {
            let _ = std::fs::remove_file(part_path(dir, r));
        }
    }
    Ok(())
}

/// Runs `cohort` across the ranks of `comm` and writes its files into `dir` (see the module
/// docs). Collective: every rank calls it with the same cohort (checked by fingerprint, seed and
/// size) and the same `dir` and options.
///
/// # Errors
/// On every rank, when any rank fails: [`Error::Input`] for more ranks than patients or ranks
/// given different cohorts, a patient's failure as [`Cohort::run`], [`Error::Io`] for a file;
/// a rank returns its own error or [`Error::Rank`] naming the lowest failing rank. Nothing is
/// left in `dir` on error.
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

    // 1. Validate on every rank; rank 0 creates the folder. Agreed before any work.
    let ident = format!("{} {} {}", cohort.fingerprint(), cohort.seed(), n);
    let root_ident = broadcast_bytes(comm, ident.clone().into_bytes());
    let local = (|| {
        let range = shard_range(n, rank as u64, ranks as u64).map_err(|_| {
            Error::Input(format!(
                "{ranks} MPI ranks for {n} patients: every rank needs at least one patient, use at most {n} ranks"
            ))
        })?;
        if root_ident != ident.as_bytes() {
            return Err(Error::Input(format!(
                "rank {rank} was given another cohort than rank 0 (fingerprint, seed, size: `{ident}` vs `{}`)",
                String::from_utf8_lossy(&root_ident)
            )));
        }
        if rank == 0 {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(range)
    })();
    let range = agree(comm, local)?;

    // 2. Simulate the slice, write the part, send the partial summary to rank 0.
    let part = part_path(dir, rank);
    let t0 = Instant::now();
    let header = (rank == 0).then(|| io::patients_header(cohort));
    let computed = compute_part(
        cohort,
        range.clone(),
        opts.chunk_patients,
        &part,
        header.as_deref(),
    );
    let seconds = t0.elapsed().as_secs_f64();
    let mut own_error = None;
    let (outcome, merged, rank_seconds) = if rank == 0 {
        let mut first: Option<(i32, String)> = None;
        let mut merged = match computed {
            Ok(r) => Some(r),
            Err(e) => {
                first = Some((0, e.to_string()));
                own_error = Some(e);
                None
            }
        };
        let mut rank_seconds = vec![seconds];
        // In rank order, one message at a time.
        for r in 1..ranks {
            let (msg, _) = comm
                .process_at_rank(r)
                .receive_vec_with_tag::<u8>(TAG_RESULT);
            match decode_partial(&msg) {
                Ok(p) => {
                    rank_seconds.push(p.seconds);
                    if let Some(m) = merged.as_mut() {
                        if let Err(reason) = m.summary.merge(&p.summary) {
                            first.get_or_insert((r, reason));
                        }
                        m.stiff_retries += p.stiff_retries;
                    }
                }
                Err(m) => {
                    rank_seconds.push(f64::NAN);
                    first.get_or_insert((r, m));
                }
            }
        }
        // 3. Rank 0 writes the final files.
        if first.is_none() {
            if let Some(m) = merged.as_mut() {
                m.range = 0..n;
                if let Err(e) = write_outputs(cohort, m, dir, ranks, opts.patients_csv) {
                    first = Some((0, e.to_string()));
                    own_error = Some(e);
                }
            }
        }
        (broadcast_outcome(comm, first), merged, rank_seconds)
    } else {
        let partial = computed.map(|r| Partial {
            summary: r.summary,
            stiff_retries: r.stiff_retries,
            seconds,
        });
        comm.process_at_rank(0)
            .send_with_tag(&encode_partial(&partial)[..], TAG_RESULT);
        own_error = partial.err();
        (broadcast_outcome(comm, None), None, Vec::new())
    };
    if let Some(o) = outcome {
        let _ = std::fs::remove_file(&part);
        return Err(failure(comm, own_error, o));
    }
    Ok(Report {
        rank,
        ranks,
        range,
        compute_seconds: seconds,
        rank_seconds,
        result: merged,
    })
}
