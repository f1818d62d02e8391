//! Output sets: every file of one run appears together, or none does.
//!
//! An [`OutputSet`] is opened **before** anything is simulated, so that an output folder that
//! cannot be created or written is reported at once, not after the cohort:
//!
//! 1. it takes a lock (`.NAME.lock` beside the folder `NAME`, an advisory `flock`), so that a
//!    second run into the same folder is refused instead of mixing its files with the first's
//!    (files outside the folder get a lock of their own the same way);
//! 2. it checks that an existing `NAME` may be replaced: empty, or an earlier cartsim output
//!    set (it holds `manifest.json`, or only files cartsim writes) — never a folder of other
//!    files;
//! 3. it creates a fresh staging folder `.NAME.partial-PID` beside the target, holding a file
//!    `INCOMPLETE` that says what it is, and removes leftovers of earlier interrupted runs;
//! 4. the run writes every file into the staging folder ([`OutputSet::path`]); files outside the
//!    folder (`--nonmem /elsewhere/data.csv`) are staged as hidden siblings of their target
//!    (`.data.csv.partial-PID`, [`OutputSet::file`]) and created at once, so an unwritable
//!    path fails early too;
//! 5. [`OutputSet::commit`] writes `manifest.json` last: every file of the folder with its size
//!    and FNV-1a 64 checksum, and under `outside` every file outside it with its absolute path,
//!    size and checksum. It then publishes the folder with one rename (an earlier set at the
//!    target is moved aside first and removed after), then renames the outside files over
//!    their targets. If any of these renames fails, the commit is undone: outside files
//!    already replaced get their earlier content back (kept as a hard link until the commit
//!    ends), the earlier folder is moved back, and the error is returned, so the run leaves
//!    either the whole new set or the whole earlier one.
//!
//! Dropped without a commit (an error, a panic), the set removes its staging files. A process
//! that is killed leaves only hidden `.NAME.partial-PID` folders marked `INCOMPLETE`, which the
//! next run into `NAME` removes; [`remove_incomplete_outputs`] removes the staging files of the
//! sets still open, for a SIGINT/SIGTERM handler (the examples install one with `ctrlc`). A
//! handler that fires during a commit waits for it to finish (or be undone), so an interrupt
//! never splits the folder from its outside files. Only a process killed outright in the
//! middle of the commit's renames can leave a new folder beside an earlier outside file; its
//! manifest's `outside` checksums tell them apart.
//!
//! An outside target must be a regular file or not exist yet: a device, pipe or socket
//! (`/dev/stdout`, `/dev/full`) cannot be replaced by a rename and is refused before any work.
//!
//! ```
//! use cartsim::io::output_set::OutputSet;
//!
//! let dir = std::env::temp_dir().join(format!("cartsim-set-doc-{}", std::process::id()));
//! let set = OutputSet::create(&dir)?;
//! cartsim::io::write_atomic(&set.path("a.txt")?, |w| w.write_all(b"a\n"))?;
//! assert!(!dir.join("a.txt").exists()); // nothing visible before the commit
//! set.commit()?;
//! assert!(dir.join("a.txt").exists() && dir.join("manifest.json").exists());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), cartsim::Error>(())
//! ```

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;
use crate::io::atomic::io_err;

/// The manifest written last into a committed set: `{"cartsim", "files": [{name, bytes,
/// fnv1a64}]}`.
pub const MANIFEST: &str = "manifest.json";

/// The marker file of a staging folder that was never committed.
pub const INCOMPLETE: &str = "INCOMPLETE";

/// Names of the files cartsim writes into output folders: a folder holding only these (and
/// hidden staging files) is taken for an earlier output set and may be replaced.
pub const KNOWN_OUTPUTS: &[&str] = &[
    MANIFEST,
    "summary.json",
    "patients.csv",
    "bands.csv",
    "bands.png",
    "bands.svg",
    "scenario.toml",
    "failures.csv",
    "nonmem.csv",
    "dose_exploration.csv",
    "dose_response.png",
    "dose_response.svg",
    "trajectory.csv",
    "endpoints.csv",
    "single_patient.png",
    "single_patient.svg",
];

/// Staging paths of the sets open in this process (for [`remove_incomplete_outputs`]).
static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Held while a commit renames files into place: [`remove_incomplete_outputs`] waits for it.
static COMMITTING: Mutex<()> = Mutex::new(());

fn register(p: &Path) {
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(p.to_path_buf());
}

fn unregister(p: &Path) {
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|q| q != p);
}

fn remove_path(p: &Path) {
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// Removes the staging folders and files of every [`OutputSet`] still open in this process,
/// and returns how many paths it removed. Meant for a SIGINT/SIGTERM handler, just before the
/// process exits: the targets keep their earlier content, and no partial set is left behind.
/// A commit in progress is finished (or undone) first, so its set is published whole or not
/// at all.
pub fn remove_incomplete_outputs() -> usize {
    let _commit = COMMITTING.lock().unwrap_or_else(|e| e.into_inner());
    let open = std::mem::take(&mut *OPEN.lock().unwrap_or_else(|e| e.into_inner()));
    for p in &open {
        remove_path(p);
    }
    open.len()
}

/// A set of output files written into a staging folder and published together (see the
/// module docs).
#[derive(Debug)]
pub struct OutputSet {
    target: PathBuf,
    stage: PathBuf,
    /// Files outside the folder: (staged sibling, target).
    outside: Vec<(PathBuf, PathBuf)>,
    /// Advisory locks: the folder's, then each outside file's.
    _locks: Vec<File>,
    committed: bool,
}

/// Takes the advisory lock `.NAME.lock` in `parent` for the output `NAME` (`shown` as the user
/// gave it; `how`: "into" a folder, "to" a file).
fn take_lock(parent: &Path, name: &str, shown: &Path, how: &str) -> Result<File, Error> {
    let lock_path = parent.join(format!(".{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match fs4::FileExt::try_lock(&lock) {
        Ok(()) => Ok(lock),
        Err(fs4::TryLockError::WouldBlock) => Err(Error::Input(format!(
            "another run is writing {how} `{}` (it holds `{}`); wait for it to finish or \
             choose another output path",
            shown.display(),
            lock_path.display()
        ))),
        Err(fs4::TryLockError::Error(e)) => Err(io_err(&lock_path)(e)),
    }
}

/// Removes leftovers of interrupted runs writing the output `NAME` in `parent` (staging and
/// set-aside copies; no live run holds them: the caller holds `NAME`'s lock).
fn remove_leftovers(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.partial-"), format!(".{name}.old-")];
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| n.starts_with(p.as_str())) {
                remove_path(&e.path());
            }
        }
    }
}

fn file_name(p: &Path) -> Result<String, Error> {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::Input(format!(
                "output path `{}` must end in a file or folder name",
                p.display()
            ))
        })
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(p).map_err(io_err(p))
}

/// Whether an existing folder may be replaced by a new set, else why not.
fn replaceable(dir: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(Error::Input(format!(
            "output folder `{}` exists and is not a folder",
            dir.display()
        )));
    }
    let mut foreign = None;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            return Ok(());
        }
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !(is_file && (KNOWN_OUTPUTS.contains(&name.as_str()) || name.starts_with('.'))) {
            foreign.get_or_insert(name);
        }
    }
    match foreign {
        None => Ok(()),
        Some(name) => Err(Error::Input(format!(
            "output folder `{}` already holds `{name}`, which is not a cartsim output file; \
             choose a new or empty folder (a run replaces its whole output folder)",
            dir.display()
        ))),
    }
}

impl OutputSet {
    /// Opens a set whose files will appear in the folder `dir` (see the module docs).
    ///
    /// # Errors
    /// [`Error::Io`] naming the path that cannot be created or written; [`Error::Input`] when
    /// another run holds the folder's lock, or `dir` exists and holds files that are not
    /// cartsim outputs.
    pub fn create(dir: &Path) -> Result<OutputSet, Error> {
        let target = absolute(dir)?;
        let name = file_name(&target)?;
        let parent = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let lock = take_lock(&parent, &name, dir, "into")?;
        if target.exists() {
            replaceable(&target)?;
        }
        remove_leftovers(&parent, &name);
        let stage = parent.join(format!(".{name}.partial-{}", std::process::id()));
        std::fs::create_dir(&stage).map_err(io_err(&stage))?;
        register(&stage);
        let set = OutputSet {
            target,
            stage,
            outside: Vec::new(),
            _locks: vec![lock],
            committed: false,
        };
        let marker = set.stage.join(INCOMPLETE);
        std::fs::write(
            &marker,
            format!(
                "an unfinished cartsim output set for `{}` (process {}); \
                 it is safe to delete, and the next run into that folder removes it\n",
                dir.display(),
                std::process::id()
            ),
        )
        .map_err(io_err(&marker))?;
        Ok(set)
    }

    /// The folder the set is published as.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The staging folder (`.NAME.partial-PID` beside the target) that becomes the target at
    /// the commit: for writers in other processes that share its file system (MPI ranks), which
    /// put plain, visible file names directly in it. Everything in it at the commit is
    /// published and listed in the manifest.
    pub fn staging(&self) -> &Path {
        &self.stage
    }

    /// Where to write the set's file `name` (a plain file name) before the commit.
    ///
    /// # Errors
    /// [`Error::Input`] for a name with a path separator, a hidden name or a reserved one.
    pub fn path(&self, name: &str) -> Result<PathBuf, Error> {
        let plain = Path::new(name).file_name().map(|n| n == name) == Some(true);
        if !plain || name.starts_with('.') || name == MANIFEST || name == INCOMPLETE {
            return Err(Error::Input(format!(
                "output file name `{name}` must be a plain, visible file name other than \
                 `{MANIFEST}` and `{INCOMPLETE}`"
            )));
        }
        Ok(self.stage.join(name))
    }

    /// Where to write the file that is to appear at `path` when the set is committed: inside
    /// the set's folder when `path` lies directly in it, else a hidden sibling of `path`,
    /// created now (so an unwritable path is reported before any work).
    ///
    /// # Errors
    /// [`Error::Io`] when `path`'s folder cannot be created or written; [`Error::Input`] when
    /// `path` is an existing folder or lies in a subfolder of the set's folder.
    pub fn file(&mut self, path: &Path) -> Result<PathBuf, Error> {
        let abs = absolute(path)?;
        let name = file_name(&abs)?;
        if abs.starts_with(&self.target) {
            if abs.parent() != Some(self.target.as_path()) {
                return Err(Error::Input(format!(
                    "`{}` lies in a subfolder of the output folder `{}`; put it directly in \
                     the folder or outside it",
                    path.display(),
                    self.target.display()
                )));
            }
            return self.path(&name);
        }
        if let Ok(meta) = std::fs::metadata(&abs) {
            if meta.is_dir() {
                return Err(Error::Input(format!(
                    "`{}` is a folder, not a file name",
                    path.display()
                )));
            }
            if !meta.is_file() {
                return Err(Error::Input(format!(
                    "`{}` is not a regular file (a device, pipe or socket); output files are \
                     written beside their target and renamed over it, so give the path of a \
                     regular file",
                    path.display()
                )));
            }
        }
        let parent = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        if self.outside.iter().any(|(_, to)| *to == abs) {
            return Err(Error::Input(format!(
                "`{}` is given twice as an output file",
                path.display()
            )));
        }
        // Like the folder, an outside file is written by one run at a time.
        let lock = take_lock(&parent, &name, path, "to")?;
        remove_leftovers(&parent, &name);
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        File::create(&tmp).map_err(io_err(path))?;
        register(&tmp);
        self._locks.push(lock);
        self.outside.push((tmp.clone(), abs));
        Ok(tmp)
    }

    /// Writes the manifest and publishes the set (see the module docs). Returns the paths of
    /// the files published, in name order, then the files outside the folder.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path that could not be written or renamed; an earlier set at
    /// the target is restored when the new folder cannot be moved in.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, Error> {
        let _ = std::fs::remove_file(self.stage.join(INCOMPLETE));
        let mut files = Vec::new();
        for e in std::fs::read_dir(&self.stage).map_err(io_err(&self.stage))? {
            let e = e.map_err(io_err(&self.stage))?;
            files.push(e.file_name().to_string_lossy().into_owned());
        }
        files.sort();
        let mut listed = Vec::with_capacity(files.len());
        for f in &files {
            let p = self.stage.join(f);
            let (bytes, sum) = checksum(&p)?;
            listed.push(serde_json::json!({"name": f, "bytes": bytes, "fnv1a64": sum}));
        }
        let mut outside = Vec::with_capacity(self.outside.len());
        for (tmp, to) in &self.outside {
            let (bytes, sum) = checksum(tmp)?;
            outside.push(serde_json::json!({
                "path": to.display().to_string(),
                "bytes": bytes,
                "fnv1a64": sum,
            }));
        }
        let manifest = serde_json::json!({
            "cartsim": env!("CARGO_PKG_VERSION"),
            "complete": true,
            "files": listed,
            "outside": outside,
        });
        let mpath = self.stage.join(MANIFEST);
        crate::io::write_atomic(&mpath, |w| {
            serde_json::to_writer_pretty(&mut *w, &manifest)?;
            writeln!(w)
        })?;
        // An interrupt handler waits until every file is in place (or back).
        let _commit = COMMITTING.lock().unwrap_or_else(|e| e.into_inner());
        publish(&self.target, &self.stage, &self.outside)?;
        unregister(&self.stage);
        self.committed = true;
        let mut out: Vec<PathBuf> = files.iter().map(|f| self.target.join(f)).collect();
        for (tmp, to) in std::mem::take(&mut self.outside) {
            unregister(&tmp);
            out.push(to);
        }
        Ok(out)
    }
}

/// Moves the staged folder and the staged outside files into place: all of them, or (on
/// error) none, with the earlier set and outside files back where they were.
fn publish(target: &Path, stage: &Path, outside: &[(PathBuf, PathBuf)]) -> Result<(), Error> {
    // 1. Earlier outside files are kept (a hard link, else a copy) so that they can be put
    //    back; if one cannot be kept, nothing has changed yet.
    let mut kept: Vec<Option<PathBuf>> = Vec::with_capacity(outside.len());
    for (_, to) in outside {
        match keep_earlier(to) {
            Ok(k) => kept.push(k),
            Err(e) => {
                kept.iter().flatten().for_each(|b| remove_path(b));
                return Err(e);
            }
        }
    }
    let drop_kept = |kept: &[Option<PathBuf>]| kept.iter().flatten().for_each(|b| remove_path(b));
    // 2. The folder: an earlier set is moved aside, the new one in.
    let old = target.with_file_name(format!(
        ".{}.old-{}",
        file_name(target)?,
        std::process::id()
    ));
    let had_old = target.exists();
    if had_old {
        if let Err(e) = std::fs::rename(target, &old) {
            drop_kept(&kept);
            return Err(io_err(target)(e));
        }
    }
    if let Err(e) = std::fs::rename(stage, target) {
        if had_old {
            let _ = std::fs::rename(&old, target);
        }
        drop_kept(&kept);
        return Err(io_err(target)(e));
    }
    // 3. The outside files, each renamed over its target.
    for (i, (tmp, to)) in outside.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, to) {
            // Undo in reverse: the files already replaced get their earlier content back (or
            // are removed when there was none), the folder goes back to its staging name
            // (removed with the set) and the earlier set back into place.
            for ((_, to), keep) in outside.iter().zip(&kept).take(i).rev() {
                let _ = match keep {
                    Some(b) => std::fs::rename(b, to),
                    None => std::fs::remove_file(to),
                };
            }
            drop_kept(&kept);
            let _ = std::fs::rename(target, stage);
            if had_old {
                let _ = std::fs::rename(&old, target);
            }
            return Err(io_err(to)(e));
        }
    }
    drop_kept(&kept);
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Keeps the earlier content of an outside target during a commit, as a hidden sibling
/// `.NAME.old-PID` (a hard link, or a copy where links are not supported); `None` when there
/// is no earlier file.
fn keep_earlier(to: &Path) -> Result<Option<PathBuf>, Error> {
    if !to.is_file() {
        return Ok(None);
    }
    let name = file_name(to)?;
    let b = to.with_file_name(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_file(&b);
    if std::fs::hard_link(to, &b).is_err() {
        std::fs::copy(to, &b).map_err(io_err(&b))?;
    }
    Ok(Some(b))
}
impl Drop for OutputSet {
    fn drop(&mut self) {
        if !self.committed {
            remove_path(&self.stage);
            unregister(&self.stage);
        }
        for (tmp, _) in &self.outside {
            let _ = std::fs::remove_file(tmp);
            unregister(tmp);
        }
    }
}

/// Size and FNV-1a 64 checksum of a file.
fn checksum(p: &Path) -> Result<(u64, String), Error> {
    let mut f = File::open(p).map_err(io_err(p))?;
    let mut h = crate::hash::Fnv64::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err(p))?;
        if k == 0 {
            break;
        }
        h.update(buf.get(..k).unwrap_or_default());
        n += k as u64;
    }
    Ok((n, h.hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cartsim-oset-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn nothing_visible_until_commit_and_dropped_set_leaves_nothing() {
        let d = tmp("drop");
        let out = d.join("out");
        {
            let set = OutputSet::create(&out).unwrap();
            std::fs::write(set.path("summary.json").unwrap(), "{}").unwrap();
        }
        assert!(!out.exists());
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_second_set_into_the_same_folder_is_refused_and_old_files_never_mix() {
        let d = tmp("lock");
        let out = d.join("out");
        let set = OutputSet::create(&out).unwrap();
        let e = OutputSet::create(&out).unwrap_err().to_string();
        assert!(e.contains("another run"), "{e}");
        std::fs::write(set.path("patients.csv").unwrap(), "a").unwrap();
        set.commit().unwrap();
        let set = OutputSet::create(&out).unwrap();
        std::fs::write(set.path("summary.json").unwrap(), "{}").unwrap();
        set.commit().unwrap();
        assert!(
            !out.join("patients.csv").exists(),
            "files of two runs mixed"
        );
        assert!(out.join("summary.json").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn visible_and_hidden(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn outside_files_are_in_the_manifest_and_locked() {
        let d = tmp("outside");
        let out = d.join("out");
        let nonmem = d.join("data").join("nonmem.csv");
        let mut set = OutputSet::create(&out).unwrap();
        std::fs::write(set.path("summary.json").unwrap(), "{}").unwrap();
        let staged = set.file(&nonmem).unwrap();
        assert_ne!(staged, nonmem);
        // A second run writing the same outside file is refused, and so is the file twice.
        let mut other = OutputSet::create(&d.join("other")).unwrap();
        let e = other.file(&nonmem).unwrap_err().to_string();
        assert!(e.contains("another run") && e.contains("nonmem.csv"), "{e}");
        assert!(set.file(&nonmem).unwrap_err().to_string().contains("twice"));
        drop(other);
        std::fs::write(&staged, "ID,TIME\n1,0\n").unwrap();
        assert!(!nonmem.exists(), "visible before the commit");
        set.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&nonmem).unwrap(), "ID,TIME\n1,0\n");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(MANIFEST)).unwrap()).unwrap();
        let o = &m["outside"][0];
        assert_eq!(
            o["path"].as_str(),
            Some(absolute(&nonmem).unwrap().to_str().unwrap())
        );
        assert_eq!(o["bytes"].as_u64(), Some(12));
        assert_eq!(
            o["fnv1a64"].as_str(),
            Some(checksum(&nonmem).unwrap().1.as_str())
        );
        assert_eq!(visible_and_hidden(&d.join("data")), ["nonmem.csv"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A rename that fails after the folder was published (here: the second outside target
    /// became a folder during the run) undoes the whole commit: the earlier folder and the
    /// earlier first outside file are back, and nothing of the new set is left.
    #[test]
    fn a_failed_commit_leaves_the_earlier_set_and_outside_files_whole() {
        let d = tmp("undo");
        let out = d.join("out");
        let (a, b) = (d.join("a.csv"), d.join("b.csv"));
        let mut set = OutputSet::create(&out).unwrap();
        std::fs::write(set.path("summary.json").unwrap(), "old").unwrap();
        std::fs::write(set.file(&a).unwrap(), "old a").unwrap();
        set.commit().unwrap();

        let mut set = OutputSet::create(&out).unwrap();
        std::fs::write(set.path("summary.json").unwrap(), "new").unwrap();
        std::fs::write(set.file(&a).unwrap(), "new a").unwrap();
        std::fs::write(set.file(&b).unwrap(), "new b").unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("in the way"), "x").unwrap();
        let e = set.commit().unwrap_err().to_string();
        assert!(e.contains("b.csv"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "old"
        );
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(visible_and_hidden(&d), ["a.csv", "b.csv", "out"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_as_an_outside_file() {
        let d = tmp("device");
        let mut set = OutputSet::create(&d.join("out")).unwrap();
        let e = set.file(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(
            e.contains("/dev/null") && e.contains("not a regular file"),
            "{e}"
        );
        drop(set);
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null was replaced");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_folder_of_other_files_is_not_replaced() {
        let d = tmp("foreign");
        std::fs::write(d.join("thesis.tex"), "x").unwrap();
        let e = OutputSet::create(&d).unwrap_err().to_string();
        assert!(e.contains("thesis.tex"), "{e}");
        assert!(d.join("thesis.tex").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
