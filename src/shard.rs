//! Shards for batch systems: run a slice of a cohort as one job, merge the slices later.
//!
//! A cohort of `n` patients splits into `count` contiguous, deterministic slices
//! ([`shard_range`]). `write_shard` simulates slice `k` with the same per-patient function as
//! [`Cohort::run`](crate::cohort::Cohort::run), in chunks of bounded memory, and writes one
//! **shard file**; [`merge_shards`] checks that a set of shard files is complete and consistent
//! and writes the files of the single-process run: `summary.json`, `bands.csv` and
//! `patients.csv`, byte-identical to what [`crate::io`] writes for the whole cohort at once
//! (the summaries merge exactly: integer counts and exact sums).
//!
//! This serves SLURM array jobs (`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`) and any
//! scheduler without MPI; see the `shard` example and the README's "Running on a cluster".
//!
//! # File format (version [`FORMAT_VERSION`])
//!
//! ```text
//! cartsim-shard\n
//! {header as one line of JSON: ShardHeader}\n
//! summary: SummaryAccumulator in postcard encoding (summary_bytes bytes)
//! rows: the shard's rows of patients.csv, without header (rows_bytes bytes)
//! ```
//!
//! `head -2 FILE` shows what a shard holds. The header carries the format and crate versions,
//! seed, cohort size, shard index and count, id range, the cohort's
//! [`fingerprint`](crate::cohort::Cohort::fingerprint) and description, the
//! [`OutputLayout`], the length and FNV-1a checksum of both sections, and (format 2) the
//! FNV-1a checksum of the header itself, so that a truncated or corrupted file, header
//! included, is refused by name. The summary is binary because the exact summary mode keeps
//! every value (JSON would be 20× larger and parse floats inexactly).
//!
//! ```
//! use cartsim::cohort::Cohort;
//! use cartsim::prelude::*;
//! use cartsim::shard::{merge_shards, shard_range, write_shard};
//!
//! let dir = std::env::temp_dir().join(format!("cartsim-shard-doc-{}", std::process::id()));
//! let cohort = Cohort::builder(SleModel::default()).patients(7).seed(3).build()?;
//! assert_eq!(shard_range(7, 1, 2)?, 3..7);
//! let mut files = Vec::new();
//! for k in 0..2 {
//!     let f = dir.join(format!("shard-{k}.bin"));
//!     write_shard(&cohort, k, 2, &f)?;
//!     files.push(f);
//! }
//! let merged = merge_shards(&files, &dir.join("out"))?;
//! assert_eq!(merged.summary.patients + merged.summary.failed, 7);
//! assert!(dir.join("out/summary.json").exists());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), cartsim::Error>(())
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cohort::{Cohort, CohortResult, PatientRecord};
use crate::error::Error;
use crate::hash::Fnv64;
use crate::io::{self, OutputLayout};
use crate::model::Model;
use crate::summary::SummaryAccumulator;

/// Version of the shard file format written by this crate.
pub const FORMAT_VERSION: u32 = 2;

/// First line of every shard file.
const MAGIC: &str = "cartsim-shard";

/// Longest header line accepted (the header is a few kB).
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Patients simulated per chunk by the streaming runners: per-patient records of one chunk
/// are held in memory, written out, and dropped.
pub const DEFAULT_CHUNK_PATIENTS: u64 = 4096;

/// The version of this crate, written into shard files.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn shard_err(shard: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::Shard {
        shard: shard.to_string(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Patient ids of slice `k` of `count` of a cohort of `n` patients: `k·n/count ..
/// (k+1)·n/count`. Slices are contiguous, tile `0..n` in order, and differ in size by at most
/// one. The same split serves shard files and MPI ranks.
///
/// # Errors
/// [`Error::Input`] when `count` is 0, `k ≥ count`, or `n < count` (a slice would be empty).
pub fn shard_range(n: u64, k: u64, count: u64) -> Result<Range<u64>, Error> {
    if count == 0 {
        return Err(Error::Input("the shard count must be > 0, got 0".into()));
    }
    if k >= count {
        return Err(Error::Input(format!(
            "shard index must lie in 0..{count}, got {k} (indices are 0-based)"
        )));
    }
    if n < count {
        return Err(Error::Input(format!(
            "cannot split {n} patients into {count} parts: every part needs at least one patient"
        )));
    }
    let at = |i: u64| (u128::from(i) * u128::from(n) / u128::from(count)) as u64;
    Ok(at(k)..at(k + 1))
}

/// Parses a shard given as `K/N` (0-based index `K` of `N` shards).
///
/// # Errors
/// [`Error::Input`] when the text is not `K/N` with `K < N`.
pub fn parse_shard(s: &str) -> Result<(u64, u64), Error> {
    let bad = || Error::Input(format!("shard must be K/N with 0 ≤ K < N, got `{s}`"));
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: u64 = k.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Runs patients `range` of `cohort` in chunks of `chunk_patients`, handing each chunk's
/// records (id order) to `on_records` and keeping only the merged summary, so memory does not
/// grow with the number of patients (in [`SummaryMode::Streaming`](crate::summary::SummaryMode)).
/// The result equals [`Cohort::run_range`] on the whole range, except that `records` is empty.
///
/// # Errors
/// As [`Cohort::run_range`], or the first error of `on_records`.
pub fn run_range_chunked<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    range: Range<u64>,
    chunk_patients: u64,
    on_records: &mut dyn FnMut(&[PatientRecord]) -> Result<(), Error>,
) -> Result<CohortResult, Error> {
    let chunk = chunk_patients.max(1);
    let mut acc: Option<CohortResult> = None;
    let mut start = range.start;
    // An empty range goes to `run_range`, which reports it.
    loop {
        let end = start.saturating_add(chunk).min(range.end);
        let mut part = cohort.run_range(start..end)?;
        on_records(&part.records)?;
        part.records = Vec::new();
        match acc.as_mut() {
            None => acc = Some(part),
            Some(a) => {
                a.summary
                    .merge(&part.summary)
                    .map_err(|reason| shard_err(format_args!("{start}..{end}"), reason))?;
                a.range.end = part.range.end;
                a.failures.extend(part.failures);
                a.stiff_retries += part.stiff_retries;
            }
        }
        start = end;
        if start >= range.end {
            break;
        }
    }
    acc.ok_or_else(|| Error::Input("empty range".into()))
}

/// Metadata of a shard file (its second line, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHeader {
    /// Shard file format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Version of the cartsim that wrote the file.
    pub crate_version: String,
    /// [`Cohort::fingerprint`] of the cohort specification.
    pub fingerprint: String,
    /// Seed of the cohort.
    pub seed: u64,
    /// Patients in the whole cohort.
    pub patients: u64,
    /// Index of this shard, 0-based.
    pub shard: u64,
    /// Number of shards.
    pub shards: u64,
    /// First patient id of this shard.
    pub start: u64,
    /// One past the last patient id of this shard.
    pub end: u64,
    /// Patients of this shard retried with the stiff solver.
    pub stiff_retries: u64,
    /// Patients of this shard that failed.
    pub failed: u64,
    /// Length of the summary section, bytes.
    pub summary_bytes: u64,
    /// FNV-1a 64 checksum of the summary section (hex).
    pub summary_checksum: String,
    /// Length of the rows section, bytes.
    pub rows_bytes: u64,
    /// FNV-1a 64 checksum of the rows section (hex).
    pub rows_checksum: String,
    /// What the writers need to write the merged outputs.
    pub layout: OutputLayout,
    /// [`Cohort::spec_description`] of the cohort (to see how two specifications differ).
    pub spec: String,
    /// FNV-1a 64 checksum (hex) of this header's JSON line written with this field empty
    /// (format 2; empty in format 1 files, which are refused by their version).
    #[serde(default)]
    pub header_checksum: String,
}

impl ShardHeader {
    /// The checksum of the header's JSON with `header_checksum` empty.
    fn checksum(&self) -> Result<String, serde_json::Error> {
        let mut h = self.clone();
        h.header_checksum.clear();
        Ok(crate::hash::fnv64_hex(
            serde_json::to_string(&h)?.as_bytes(),
        ))
    }
}

impl ShardHeader {
    /// The shard as `K/N (ids a..b)`.
    pub fn label(&self) -> String {
        format!(
            "{}/{} (ids {}..{})",
            self.shard, self.shards, self.start, self.end
        )
    }
}

/// A writer that counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Fnv64,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Removes a file when dropped (temporary files of a failed run).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A sibling of `path` named `.NAME.SUFFIX.PID`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}{}", std::process::id()))
}

/// Simulates shard `k` of `count` of `cohort` and writes its shard file to `path` (atomically:
/// a failed run leaves no file). Memory stays bounded: records go to a temporary rows file in
/// chunks of [`DEFAULT_CHUNK_PATIENTS`].
///
/// # Errors
/// [`Error::Input`] for a bad `k`/`count` (see [`shard_range`]); a patient's failure as
/// [`Cohort::run`]; [`Error::Io`] naming the file.
pub fn write_shard<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    k: u64,
    count: u64,
    path: &Path,
) -> Result<ShardHeader, Error> {
    let range = shard_range(cohort.n_patients(), k, count)?;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
    }
    let rows_path = sibling(path, "rows.tmp");
    let _cleanup = RemoveOnDrop(rows_path.clone());
    let file = File::create(&rows_path).map_err(io_err(&rows_path))?;
    let mut rows = Hashing {
        inner: std::io::BufWriter::new(file),
        hash: Fnv64::default(),
        bytes: 0,
    };
    let result = run_range_chunked(cohort, range.clone(), DEFAULT_CHUNK_PATIENTS, &mut |recs| {
        io::write_patient_rows(&mut rows, recs).map_err(io_err(&rows_path))
    })?;
    rows.flush().map_err(io_err(&rows_path))?;
    drop(rows.inner);
    let summary = postcard::to_allocvec(&result.summary)
        .map_err(|e| shard_err(format_args!("`{}`", path.display()), format!("{e}")))?;
    let header = ShardHeader {
        format: FORMAT_VERSION,
        crate_version: CRATE_VERSION.into(),
        fingerprint: cohort.fingerprint(),
        seed: cohort.seed(),
        patients: cohort.n_patients(),
        shard: k,
        shards: count,
        start: range.start,
        end: range.end,
        stiff_retries: result.stiff_retries,
        failed: result.summary.failed,
        summary_bytes: summary.len() as u64,
        summary_checksum: crate::hash::fnv64_hex(&summary),
        rows_bytes: rows.bytes,
        rows_checksum: rows.hash.hex(),
        layout: OutputLayout::of(cohort),
        spec: cohort.spec_description(),
        header_checksum: String::new(),
    };
    let json_err =
        |e: serde_json::Error| shard_err(format_args!("`{}`", path.display()), format!("{e}"));
    let mut header = header;
    header.header_checksum = header.checksum().map_err(json_err)?;
    let header_json = serde_json::to_string(&header).map_err(json_err)?;
    io::write_atomic(path, |w| {
        writeln!(w, "{MAGIC}")?;
        writeln!(w, "{header_json}")?;
        w.write_all(&summary)?;
        let mut f = File::open(&rows_path)?;
        std::io::copy(&mut f, w)?;
        Ok(())
    })?;
    Ok(header)
}

/// An opened shard file: its header, checked against the file's length.
#[derive(Debug, Clone)]
pub struct ShardFile {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: ShardHeader,
    /// Offset of the summary section.
    offset: u64,
}

impl ShardFile {
    fn name(&self) -> String {
        format!("`{}`", self.path.display())
    }

    /// Opens `path` and reads its header; checks magic, format and crate version, header
    /// consistency and that the file is exactly as long as the header announces.
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::Shard`] naming the file otherwise.
    pub fn open(path: &Path) -> Result<ShardFile, Error> {
        let name = format!("`{}`", path.display());
        let bad = |reason: String| shard_err(&name, reason);
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        let mut r = BufReader::new(file);
        let mut magic = Vec::new();
        (&mut r)
            .take(MAGIC.len() as u64 + 1)
            .read_until(b'\n', &mut magic)
            .map_err(io_err(path))?;
        if magic != format!("{MAGIC}\n").as_bytes() {
            return Err(bad(format!(
                "not a cartsim shard file (it does not start with `{MAGIC}`)"
            )));
        }
        let mut line = Vec::new();
        (&mut r)
            .take(MAX_HEADER_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(io_err(path))?;
        if line.last() != Some(&b'\n') {
            return Err(bad("truncated: its header line is incomplete".into()));
        }
        let header: ShardHeader =
            serde_json::from_slice(&line).map_err(|e| bad(format!("unreadable header: {e}")))?;
        if header.format != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} (this cartsim reads version {FORMAT_VERSION})",
                header.format
            )));
        }
        let sum = header
            .checksum()
            .map_err(|e| bad(format!("unreadable header: {e}")))?;
        if sum != header.header_checksum {
            return Err(bad(format!(
                "corrupt header: its checksum is {sum}, the header records {}",
                header.header_checksum
            )));
        }
        if header.crate_version != CRATE_VERSION {
            return Err(bad(format!(
                "written by cartsim {}, this is cartsim {CRATE_VERSION}: rerun or merge with the same version",
                header.crate_version
            )));
        }
        let expected = shard_range(header.patients, header.shard, header.shards)
            .map_err(|e| bad(format!("inconsistent header: {e}")))?;
        if expected != (header.start..header.end) {
            return Err(bad(format!(
                "inconsistent header: ids {}..{} are not shard {}/{} of {} patients ({}..{})",
                header.start,
                header.end,
                header.shard,
                header.shards,
                header.patients,
                expected.start,
                expected.end
            )));
        }
        let offset = (magic.len() + line.len()) as u64;
        let want = offset
            .checked_add(header.summary_bytes)
            .and_then(|x| x.checked_add(header.rows_bytes))
            .ok_or_else(|| bad("inconsistent header: section lengths overflow".into()))?;
        if len < want {
            return Err(bad(format!(
                "truncated: the file has {len} bytes, its header announces {want}"
            )));
        }
        if len > want {
            return Err(bad(format!(
                "corrupt: {} bytes after the end its header announces ({want} bytes)",
                len - want
            )));
        }
        Ok(ShardFile {
            path: path.to_path_buf(),
            header,
            offset,
        })
    }

    /// Reads and checks the summary section.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Shard`] when the checksum or the encoding is wrong.
    pub fn read_summary(&self) -> Result<SummaryAccumulator, Error> {
        let mut f = File::open(&self.path).map_err(io_err(&self.path))?;
        f.seek(SeekFrom::Start(self.offset))
            .map_err(io_err(&self.path))?;
        let mut buf = Vec::new();
        f.take(self.header.summary_bytes)
            .read_to_end(&mut buf)
            .map_err(io_err(&self.path))?;
        if buf.len() as u64 != self.header.summary_bytes
            || crate::hash::fnv64_hex(&buf) != self.header.summary_checksum
        {
            return Err(shard_err(
                self.name(),
                "corrupt: the summary section does not match its checksum",
            ));
        }
        let s: SummaryAccumulator = postcard::from_bytes(&buf)
            .map_err(|e| shard_err(self.name(), format!("unreadable summary: {e}")))?;
        if s.failed != self.header.failed
            || s.patients + s.failed != self.header.end - self.header.start
        {
            return Err(shard_err(
                self.name(),
                format!(
                    "inconsistent: the summary counts {} patients and {} failures for ids {}..{}",
                    s.patients, s.failed, self.header.start, self.header.end
                ),
            ));
        }
        Ok(s)
    }

    /// Copies the rows section to `w`, checking its checksum.
    ///
    /// # Errors
    /// [`Error::Io`] naming this file, or [`Error::Shard`] when the checksum is wrong. On a
    /// checksum error some rows have been copied already: write into a temporary file.
    pub fn copy_rows(&self, w: &mut dyn Write) -> Result<(), Error> {
        let mut f = File::open(&self.path).map_err(io_err(&self.path))?;
        f.seek(SeekFrom::Start(self.offset + self.header.summary_bytes))
            .map_err(io_err(&self.path))?;
        let mut out = Hashing {
            inner: w,
            hash: Fnv64::default(),
            bytes: 0,
        };
        std::io::copy(&mut f.take(self.header.rows_bytes), &mut out).map_err(io_err(&self.path))?;
        if out.bytes != self.header.rows_bytes || out.hash.hex() != self.header.rows_checksum {
            return Err(shard_err(
                self.name(),
                "corrupt: the rows section does not match its checksum",
            ));
        }
        Ok(())
    }
}

/// A complete, consistent set of shard files, in shard order.
#[derive(Debug, Clone)]
pub struct ShardSet {
    shards: Vec<ShardFile>,
    layout: OutputLayout,
}

impl ShardSet {
    /// Opens every file and checks that they form one complete cohort: same format and crate
    /// version, seed, size, shard count and cohort fingerprint; each index exactly once; no
    /// overlapping ids; none missing.
    ///
    /// # Errors
    /// [`Error::Shard`] naming the offending shard file (or, for a missing shard, `K/N (ids
    /// a..b)`); [`Error::Io`] for an unreadable file; [`Error::Input`] for an empty list.
    pub fn open(paths: &[PathBuf]) -> Result<ShardSet, Error> {
        let opened: Vec<ShardFile> = paths
            .iter()
            .map(|p| ShardFile::open(p))
            .collect::<Result<_, _>>()?;
        // Each header field is compared with the value most files share, so that the file
        // that differs is named, not an intact one that happens to come first.
        fn majority<'a, T: PartialEq>(
            files: &'a [ShardFile],
            f: impl Fn(&'a ShardFile) -> T,
        ) -> Option<(T, &'a ShardFile)> {
            let mut best: Option<(usize, &ShardFile)> = None;
            for s in files {
                let n = files.iter().filter(|o| f(o) == f(s)).count();
                if best.is_none_or(|(m, _)| n > m) {
                    best = Some((n, s));
                }
            }
            best.map(|(_, s)| (f(s), s))
        }
        fn check<'a, T: PartialEq + std::fmt::Display>(
            files: &'a [ShardFile],
            what: &str,
            f: impl Fn(&'a ShardFile) -> T,
        ) -> Result<(), Error> {
            if let Some((want, like)) = majority(files, &f) {
                if let Some(s) = files.iter().find(|s| f(s) != want) {
                    return Err(shard_err(
                        s.name(),
                        format!(
                            "{what} {} differs from {what} {want} of shard {} (and of most files given)",
                            f(s),
                            like.name()
                        ),
                    ));
                }
            }
            Ok(())
        }
        check(&opened, "seed", |s| s.header.seed)?;
        check(&opened, "cohort size", |s| s.header.patients)?;
        check(&opened, "shard count", |s| s.header.shards)?;
        check(
            &opened,
            "cohort specification (model, regimen, population, variability, solver or summary) fingerprint",
            |s| s.header.fingerprint.clone(),
        )?;
        if let Some((want, like)) = majority(&opened, |s| &s.header.layout) {
            if let Some(s) = opened.iter().find(|s| &s.header.layout != want) {
                return Err(shard_err(
                    s.name(),
                    format!(
                        "output layout (endpoints, outputs, table columns or summary mode) differs from that of shard {}",
                        like.name()
                    ),
                ));
            }
        }
        let mut shards: Vec<ShardFile> = Vec::with_capacity(paths.len());
        for s in opened {
            if let Some(dup) = shards.iter().find(|o| o.header.shard == s.header.shard) {
                return Err(shard_err(
                    s.name(),
                    format!(
                        "duplicates shard {} given by {}",
                        s.header.label(),
                        dup.name()
                    ),
                ));
            }
            shards.push(s);
        }
        let Some(first) = shards.first().cloned() else {
            return Err(Error::Input("no shard file to merge".into()));
        };
        let (n, count) = (first.header.patients, first.header.shards);
        shards.sort_by_key(|s| (s.header.start, s.header.shard));
        for w in shards.windows(2) {
            if w[1].header.start < w[0].header.end {
                return Err(shard_err(
                    w[1].name(),
                    format!(
                        "ids {}..{} overlap shard {} ({}..{})",
                        w[1].header.start,
                        w[1].header.end,
                        w[0].name(),
                        w[0].header.start,
                        w[0].header.end
                    ),
                ));
            }
        }
        for k in 0..count {
            if !shards.iter().any(|s| s.header.shard == k) {
                let r = shard_range(n, k, count)?;
                return Err(shard_err(
                    format_args!("{k}/{count} (ids {}..{})", r.start, r.end),
                    format!(
                        "missing: the {} files given hold {} of the {count} shards of {n} patients",
                        paths.len(),
                        shards.len()
                    ),
                ));
            }
        }
        let layout = first.header.layout.clone();
        Ok(ShardSet { shards, layout })
    }

    /// The shard files, in shard order.
    pub fn shards(&self) -> &[ShardFile] {
        &self.shards
    }

    /// The output layout shared by the shards.
    pub fn layout(&self) -> &OutputLayout {
        &self.layout
    }

    /// Merges the summaries in shard order (exact: any order gives the same bits) into the
    /// result of the whole cohort, without per-patient records.
    ///
    /// # Errors
    /// [`Error::Shard`] naming a shard whose summary is corrupt or of another shape;
    /// [`Error::Io`].
    pub fn merge(&self) -> Result<CohortResult, Error> {
        let mut it = self.shards.iter();
        let Some(s0) = it.next() else {
            return Err(Error::Input("no shard file to merge".into()));
        };
        let mut result = CohortResult {
            range: 0..s0.header.patients,
            seed: s0.header.seed,
            summary: s0.read_summary()?,
            records: Vec::new(),
            failures: Vec::new(),
            stiff_retries: s0.header.stiff_retries,
            fingerprint: s0.header.fingerprint.clone(),
        };
        for s in it {
            let sum = s.read_summary()?;
            result
                .summary
                .merge(&sum)
                .map_err(|reason| shard_err(s.name(), reason))?;
            result.stiff_retries += s.header.stiff_retries;
        }
        Ok(result)
    }

    /// Merges and writes `DIR/summary.json`, `DIR/bands.csv` and `DIR/patients.csv` with the
    /// writers of the single-process run, as one [`io::OutputSet`]: all three appear together
    /// (with `DIR/manifest.json`) or not at all, and a concurrent merge into `DIR` is refused.
    ///
    /// # Errors
    /// As [`ShardSet::merge`], [`ShardFile::copy_rows`], and [`Error::Io`] for the outputs.
    pub fn write_outputs(&self, dir: &Path) -> Result<CohortResult, Error> {
        let result = self.merge()?;
        let layout = self.layout();
        let set = io::OutputSet::create(dir)?;
        write_patients_from(
            &set.path("patients.csv")?,
            Some(&layout.patients_header()),
            &mut |w| {
                for s in &self.shards {
                    s.copy_rows(w)?;
                }
                Ok(())
            },
        )?;
        io::write_summary_json_with(&set.path("summary.json")?, layout, &result)?;
        io::write_bands_csv_with(&set.path("bands.csv")?, layout, &result)?;
        set.commit()?;
        Ok(result)
    }
}

/// Checks `paths` as a [`ShardSet`] and writes the merged outputs into `dir`
/// ([`ShardSet::write_outputs`]).
///
/// # Errors
/// As [`ShardSet::open`] and [`ShardSet::write_outputs`]; nothing is written on error.
pub fn merge_shards(paths: &[PathBuf], dir: &Path) -> Result<CohortResult, Error> {
    ShardSet::open(paths)?.write_outputs(dir)
}

/// Writes (part of) `patients.csv` at `path` atomically: the header if given, then what `rows`
/// writes. On error nothing is left at `path`.
pub(crate) fn write_patients_from(
    path: &Path,
    header: Option<&[String]>,
    rows: &mut dyn FnMut(&mut dyn Write) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut failure = None;
    let res = io::write_atomic(path, |w| {
        if let Some(h) = header {
            io::write_csv_record(w, h)?;
        }
        rows(w).map_err(|e| {
            failure = Some(e);
            std::io::Error::other("aborted")
        })
    });
    match failure {
        Some(e) => Err(e),
        None => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_and_balance() {
        for (n, count) in [(47u64, 4u64), (10, 10), (1_000_003, 7), (u64::MAX, 3)] {
            let mut next = 0;
            let mut sizes = Vec::new();
            for k in 0..count {
                let r = shard_range(n, k, count).unwrap();
                assert_eq!(r.start, next);
                sizes.push(r.end - r.start);
                next = r.end;
            }
            assert_eq!(next, n);
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{sizes:?}");
        }
        assert!(shard_range(2, 0, 3).is_err());
        assert!(shard_range(5, 3, 3).is_err());
        assert!(shard_range(5, 0, 0).is_err());
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!(parse_shard("0/4").unwrap(), (0, 4));
        assert_eq!(parse_shard("3/4").unwrap(), (3, 4));
        for bad in ["4/4", "1", "a/2", "1/0", "-1/3", ""] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
