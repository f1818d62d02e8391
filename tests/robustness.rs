//! Faults as a user meets them (issue 16), through the examples' command lines: output sets
//! that are all or nothing (unwritable targets reported before simulating, a second run into
//! the same folder refused, an interrupted run leaving the earlier set intact and its
//! leftovers marked incomplete), failed patients reported (failures.csv, a line on stderr, a
//! non-zero exit past a threshold), and command-line errors that exit 1 with readable text.
//! The library doors are checked in `tests/doors.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The compiled example `name` (built by `cargo test` next to this test binary).
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("example `{name}` not built (run `cargo test --profile quick`); skipped");
        None
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cartsim-robust-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Staging folders or files of unfinished sets in `dir`.
fn partials(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| n.contains(".partial-") || n.contains(".old-"))
        .collect()
}

/// A scenario whose explicit solves hit the step limit for some patients (`max_steps`): 200
/// fails every patient, 300 a few of 20.
fn failing_scenario(dir: &Path, max_steps: u32) -> PathBuf {
    let p = dir.join(format!("failing-{max_steps}.toml"));
    std::fs::write(
        &p,
        format!(
            "patients = 20\non_failure = \"continue\"\n[regimen]\npreset = \"mackensen_2022\"\n\
             [solver]\nmax_steps = {max_steps}\nstiff_retry = false\n"
        ),
    )
    .unwrap();
    p
}

fn csv_rows(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn failed_in_summary(dir: &Path) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    v["failed"].as_u64().unwrap()
}

// --- Class 1: output sets -------------------------------------------------------------------

#[test]
fn unwritable_outputs_are_reported_before_simulating_and_nothing_is_written() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    // 10 million patients would take hours: the error must come at once.
    for (out, nonmem) in [
        (file.join("out"), None),
        (dir.join("out"), Some(file.join("nonmem.csv"))),
    ] {
        let t0 = Instant::now();
        let mut args = vec![
            "--patients".to_string(),
            "10000000".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        if let Some(n) = &nonmem {
            args.extend(["--nonmem".to_string(), n.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&bin, &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(20), "reported late");
        assert!(err.contains("a-file"), "{err}");
        assert!(!err.contains("Os {"), "Debug text: {err}");
        assert!(!out.exists(), "{} created", out.display());
        assert!(partials(&dir).is_empty(), "{:?}", entries(&dir));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_of_other_files_is_refused_and_kept() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("foreign");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = run(&bin, &["--patients", "5", "--out", dir.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
    assert_eq!(entries(&dir), ["notes.txt"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_set_replaces_the_old_one_whole_with_a_manifest() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("replace");
    let out = dir.join("out");
    let nonmem = out.join("nonmem.csv");
    let o = run(
        &bin,
        &[
            "--patients",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--nonmem",
            nonmem.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(nonmem.exists());
    let o = run(&bin, &["--patients", "4", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The second run wrote no NONMEM file: the first run's must not survive beside it.
    assert!(!nonmem.exists(), "files of two runs mixed");
    assert_eq!(csv_rows(&out.join("patients.csv")).len(), 4);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    for f in files {
        let name = f["name"].as_str().unwrap();
        let len = std::fs::metadata(out.join(name)).unwrap().len();
        assert_eq!(f["bytes"].as_u64(), Some(len), "{name}");
    }
    assert_eq!(files.len() + 1, entries(&out).len());
    assert!(partials(&dir).is_empty(), "{:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits until a staging folder for `out` with its `INCOMPLETE` marker appears in `dir` (the run
/// has started simulating).
fn wait_for_staging(dir: &Path, child: &mut std::process::Child) -> String {
    let t0 = Instant::now();
    loop {
        // The run creates its staging folder, then writes the marker into it: wait for both.
        if let Some(p) = partials(dir)
            .into_iter()
            .find(|p| dir.join(p).join("INCOMPLETE").exists())
        {
            return p;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the long run ended early: {status}");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no staging folder");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn a_second_run_is_refused_and_an_interrupted_run_leaves_the_earlier_set() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("concurrent");
    let out = dir.join("out");
    let out_s = out.to_str().unwrap();
    let o = run(&bin, &["--patients", "3", "--out", out_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(out.join("summary.json")).unwrap();

    // A long run into the same folder, interrupted with SIGINT once it simulates.
    let mut long = Command::new(&bin)
        .args(["--patients", "100000000", "--out", out_s])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let staging = wait_for_staging(&dir, &mut long);
    assert!(dir.join(&staging).join("INCOMPLETE").exists());
    let second = run(&bin, &["--patients", "3", "--out", out_s]);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another run"), "{err}");
    let k = Command::new("kill")
        .args(["-INT", &long.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let o = long.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(partials(&dir).is_empty(), "{:?}", entries(&dir));
    assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), before);

    // Killed outright, a run leaves a staging folder marked INCOMPLETE, which the next run
    // into the folder removes.
    let mut killed = Command::new(&bin)
        .args(["--patients", "100000000", "--out", out_s])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = wait_for_staging(&dir, &mut killed);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(dir.join(&staging).join("INCOMPLETE").exists());
    assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), before);
    let o = run(&bin, &["--patients", "3", "--out", out_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(partials(&dir).is_empty(), "{:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Hidden files beside an outside target: staging copies and set-aside earlier versions.
fn outside_partials(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && !n.ends_with(".lock"))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_nonmem_file_outside_the_folder_is_committed_with_the_set() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("outside");
    let out = dir.join("out");
    let data = dir.join("data");
    let nonmem = data.join("nonmem.csv");
    let (out_s, nonmem_s) = (out.to_str().unwrap(), nonmem.to_str().unwrap());
    let o = run(
        &bin,
        &["--patients", "3", "--out", out_s, "--nonmem", nonmem_s],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The manifest vouches for the outside file: path, size, checksum.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let listed = &manifest["outside"][0];
    let abs = std::path::absolute(&nonmem).unwrap();
    assert_eq!(listed["path"].as_str(), abs.to_str());
    let before = std::fs::read(&nonmem).unwrap();
    assert_eq!(listed["bytes"].as_u64(), Some(before.len() as u64));
    assert!(outside_partials(&data).is_empty(), "{:?}", entries(&data));

    // A long run writing the same file (into another folder) holds it: a second run is
    // refused; interrupted, the long run leaves the earlier file and nothing beside it.
    let mut long = Command::new(&bin)
        .args(["--patients", "100000000", "--out"])
        .arg(dir.join("other"))
        .args(["--nonmem", nonmem_s])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_staging(&dir, &mut long);
    // The NONMEM file is staged beside its target (just after the folder).
    let t0 = Instant::now();
    while outside_partials(&data).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no staging file beside the NONMEM file: {:?}",
            entries(&data)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = run(
        &bin,
        &["--patients", "3", "--out", out_s, "--nonmem", nonmem_s],
    );
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("another run") && err.contains("nonmem.csv"),
        "{err}"
    );
    let k = Command::new("kill")
        .args(["-INT", &long.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let o = long.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(std::fs::read(&nonmem).unwrap(), before);
    assert!(outside_partials(&data).is_empty(), "{:?}", entries(&data));
    assert!(!dir.join("other").exists());

    // A device cannot be replaced by a rename: refused before simulating, left alone.
    let t0 = Instant::now();
    let o = run(
        &bin,
        &[
            "--patients",
            "10000000",
            "--out",
            out_s,
            "--nonmem",
            "/dev/null",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/dev/null") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "reported late");
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The files of a set (contents by name) and the outside file, for before/after comparisons.
fn snapshot(out: &Path, outside: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = entries(out)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(out.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    v.push(("outside".into(), std::fs::read(outside).unwrap()));
    v
}

/// A write that fails part way (the disk fills): the run exits 1 naming the file and the
/// operating system's reason, the earlier set and NONMEM file stay as they were, and no
/// staging file is left. The failure is injected with a file-size limit (`ulimit -f`, writes
/// past it fail with EFBIG), which needs no privileges; a real full disk (ENOSPC on a 1 MiB
/// tmpfs, mounted in a user namespace) is tried too where `unshare -rm` is allowed.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_the_run_and_leaves_the_earlier_set() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("full");
    let out = dir.join("out");
    let nonmem = dir.join("data").join("nonmem.csv");
    let (out_s, nonmem_s) = (out.to_str().unwrap(), nonmem.to_str().unwrap());
    let o = run(
        &bin,
        &["--patients", "3", "--out", out_s, "--nonmem", nonmem_s],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(&out, &nonmem);
    // Files larger than 64 KiB cannot be written (bands.csv alone is about 150 KiB).
    let o = Command::new("sh")
        .args(["-c", "ulimit -f 128 && trap '' XFSZ && exec \"$@\"", "sh"])
        .arg(&bin)
        .args(["--patients", "300", "--out", out_s, "--nonmem", nonmem_s])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.starts_with("error: i/o error on `"), "{err}");
    assert!(!err.contains("Os {"), "Debug text: {err}");
    assert_eq!(snapshot(&out, &nonmem), before, "the earlier set changed");
    assert!(partials(&dir).is_empty(), "{:?}", entries(&dir));
    assert!(outside_partials(&dir.join("data")).is_empty());

    // ENOSPC on a real (tiny) file system, where user namespaces allow mounting one.
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let err_file = dir.join("enospc.err");
    let script = r#"
        mount -t tmpfs -o size=1m cartsim-full "$1" || { echo no-mount; exit 0; }
        "$2" --patients 3 --out "$1/out" --nonmem "$1/data/nonmem.csv" >/dev/null || exit 3
        before=$(cat "$1"/out/* "$1/data/nonmem.csv" | cksum)
        "$2" --patients 300 --out "$1/out" --nonmem "$1/data/nonmem.csv" >/dev/null 2>"$3"
        echo "exit $?"
        after=$(cat "$1"/out/* "$1/data/nonmem.csv" | cksum)
        [ "$before" = "$after" ] && echo unchanged
        ls -A "$1" "$1/data" | grep -e partial -e '\.old-' || echo no-leftovers
    "#;
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(&bin)
        .arg(&err_file)
        .output();
    match o {
        Ok(o) if o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("no-mount") => {
            let report = String::from_utf8_lossy(&o.stdout).into_owned();
            let err = std::fs::read_to_string(&err_file).unwrap_or_default();
            assert!(report.contains("exit 1"), "{report}\n{err}");
            assert!(err.contains("No space left on device"), "{err}");
            assert!(!err.contains(" { "), "Debug text: {err}");
            assert!(report.contains("unchanged"), "{report}");
            assert!(report.contains("no-leftovers"), "{report}");
        }
        other => {
            eprintln!("no user namespace to mount a tiny tmpfs in; ENOSPC part skipped: {other:?}")
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- Class 5: failures reported ---------------------------------------------------------------

#[test]
fn failed_patients_are_listed_reported_and_change_the_exit_status() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("failures");
    let some = failing_scenario(&dir, 300);
    let out = dir.join("some");
    let nonmem = out.join("nonmem.csv");
    let args = [
        "--scenario",
        some.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--nonmem",
        nonmem.to_str().unwrap(),
    ];
    // Default threshold (1%): a few failures of 20 fail the run, after writing its files.
    let o = run(&bin, &args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let failed = failed_in_summary(&out);
    assert!(failed > 0 && failed < 20, "{failed}");
    let failures = csv_rows(&out.join("failures.csv"));
    assert_eq!(failures.len() as u64, failed);
    assert!(
        err.contains(&format!("{failed} of 20 patients failed")),
        "{err}"
    );
    let header = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    assert!(
        header.starts_with("id,stage,error,effector_proliferation_per_day"),
        "{header}"
    );
    assert!(
        failures[0].contains(",solve,step limit of 300"),
        "{}",
        failures[0]
    );
    // Every patient is in patients.csv or failures.csv, and failed ones are not in the
    // dataset.
    let ok = csv_rows(&out.join("patients.csv"));
    assert_eq!(ok.len() as u64 + failed, 20);
    let failed_ids: Vec<&str> = failures
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    for r in csv_rows(&nonmem) {
        let id = r.split(',').next().unwrap();
        assert!(
            !failed_ids.contains(&id),
            "failed patient {id} in the dataset"
        );
    }
    // A threshold above the failed fraction: exit 0, still reported.
    let mut lenient: Vec<&str> = args.to_vec();
    lenient.extend(["--max-failed-fraction", "0.9"]);
    let o = run(&bin, &lenient);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("patients failed"), "{}", stderr(&o));

    // Every patient failed: exit 1 whatever the threshold.
    let all = failing_scenario(&dir, 200);
    let out_all = dir.join("all");
    let o = run(
        &bin,
        &[
            "--scenario",
            all.to_str().unwrap(),
            "--out",
            out_all.to_str().unwrap(),
            "--max-failed-fraction",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(csv_rows(&out_all.join("failures.csv")).len(), 20);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Column `name` of a CSV file's rows.
fn csv_column(path: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let k = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {}", path.display()));
    r.records().map(|row| row.unwrap()[k].to_string()).collect()
}

#[test]
fn failed_patients_of_a_dose_exploration_are_listed_by_arm_and_change_the_exit_status() {
    let Some(bin) = example("dose_exploration") else {
        return;
    };
    let dir = temp_dir("explore-failures");
    let some = failing_scenario(&dir, 300);
    let out = dir.join("some");
    let args = [
        "--scenario",
        some.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // Default threshold (1%): failures fail the run, after writing its files.
    let o = run(&bin, &args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let table = out.join("dose_exploration.csv");
    let labels = csv_column(&table, "label");
    let failed: Vec<u64> = csv_column(&table, "failed")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let total: u64 = failed.iter().sum();
    assert!(total > 0 && total < 20 * labels.len() as u64, "{failed:?}");
    // failures.csv: one row per failed patient and arm, with the arm's label.
    let failures = out.join("failures.csv");
    let header = std::fs::read_to_string(&failures).unwrap();
    assert!(
        header.starts_with("id,arm,stage,error,effector_proliferation_per_day"),
        "{header}"
    );
    let arms = csv_column(&failures, "arm");
    assert_eq!(arms.len() as u64, total);
    for (label, n) in labels.iter().zip(&failed) {
        assert_eq!(
            arms.iter().filter(|a| *a == label).count() as u64,
            *n,
            "arm {label}"
        );
    }
    assert!(
        csv_column(&failures, "error")[0].contains("step limit of 300"),
        "{header}"
    );
    // stderr: the count over all arms, the first ids with their arm, the file.
    assert!(
        err.contains(&format!("{total} of {} patients failed", 20 * labels.len())),
        "{err}"
    );
    let first_id = csv_column(&failures, "id")[0].clone();
    assert!(
        err.contains(&format!("{first_id} in `{}`", arms[0])),
        "{err}"
    );
    assert!(err.contains("failures.csv"), "{err}");
    assert!(
        err.contains("arm `"),
        "the arm past the limit is named: {err}"
    );

    // A lenient threshold: exit 0 exactly when no arm failed whole or past it.
    let mut lenient: Vec<&str> = args.to_vec();
    lenient.extend(["--max-failed-fraction", "0.9"]);
    let o = run(&bin, &lenient);
    let past = failed.iter().any(|&f| f == 20 || f as f64 > 0.9 * 20.0);
    assert_eq!(o.status.success(), !past, "{failed:?}: {}", stderr(&o));
    assert!(stderr(&o).contains("patients failed"), "{}", stderr(&o));

    // An arm in which every patient failed: exit 1 whatever the threshold, naming the arm.
    let all = failing_scenario(&dir, 200);
    let out_all = dir.join("all");
    let o = run(
        &bin,
        &[
            "--scenario",
            all.to_str().unwrap(),
            "--out",
            out_all.to_str().unwrap(),
            "--max-failed-fraction",
            "1",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let table = out_all.join("dose_exploration.csv");
    let failed: Vec<u64> = csv_column(&table, "failed")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let whole = failed
        .iter()
        .position(|&f| f == 20)
        .expect("an arm failed whole");
    let label = &csv_column(&table, "label")[whole];
    assert!(
        err.contains(&format!("arm `{label}`: 20 of 20 patients failed")),
        "{err}"
    );
    assert_eq!(
        csv_rows(&out_all.join("failures.csv")).len() as u64,
        failed.iter().sum::<u64>()
    );
    // No failure: no failures.csv, exit 0.
    let ok = dir.join("ok.toml");
    std::fs::write(
        &ok,
        "patients = 4\n[regimen]\npreset = \"mackensen_2022\"\n",
    )
    .unwrap();
    let out_ok = dir.join("ok");
    let o = run(
        &bin,
        &[
            "--scenario",
            ok.to_str().unwrap(),
            "--out",
            out_ok.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out_ok.join("failures.csv").exists());
    assert!(!stderr(&o).contains("failed"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- Class 3: extreme values ---------------------------------------------------------------------

#[test]
fn extreme_grid_and_sketch_values_are_refused_at_once_naming_the_key() {
    let Some(bin) = example("cohort") else { return };
    let dir = temp_dir("extreme");
    for (table, key) in [
        ("[solver]\noutput_step_day = 1e-12\n", "output_step_day"),
        ("[solver]\noutput_step_day = 5e-324\n", "output_step_day"),
        ("[summary]\nmode = \"streaming\"\nalpha = 1e-12\n", "alpha"),
    ] {
        let p = dir.join("extreme.toml");
        std::fs::write(
            &p,
            format!("patients = 5\n[regimen]\npreset = \"mackensen_2022\"\n{table}"),
        )
        .unwrap();
        let out = dir.join("out");
        let t0 = Instant::now();
        let o = run(
            &bin,
            &[
                "--scenario",
                p.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{table}: {err}");
        assert!(err.contains(key), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(20));
        assert!(!out.exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- Class 6: messages ------------------------------------------------------------------------

#[test]
fn command_line_errors_exit_1_with_text_naming_the_flag() {
    let Some(bin) = example("cohort") else { return };
    for (args, needle) in [
        (&["--patients", "many"][..], "--patients"),
        (&["--no-such-flag"][..], "--no-such-flag"),
        (&["--max-failed-fraction", "2"][..], "--max-failed-fraction"),
    ] {
        let o = run(&bin, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{err}");
    }
    let o = run(&bin, &["--help"]);
    assert!(o.status.success());
}

#[test]
fn every_example_prints_display_text_and_exits_1_on_bad_arguments() {
    for name in [
        "single_patient",
        "custom_model",
        "calibrate",
        "shard",
        "dose_exploration",
    ] {
        let Some(bin) = example(name) else { continue };
        let o = run(&bin, &["--no-such-flag", "x"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("--no-such-flag"), "{name}: {err}");
        assert!(
            !err.contains("Input(") && !err.contains("Error: "),
            "{name}: Debug text {err}"
        );
    }
}
