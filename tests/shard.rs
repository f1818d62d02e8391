//! Shard files for batch systems: uneven shards merge to the single-process files byte for
//! byte; incomplete, duplicated, mismatched, truncated or corrupt sets are refused by name and
//! leave nothing behind.

mod common;

use std::path::{Path, PathBuf};

use cartsim::Error;
use cartsim::cohort::Cohort;
use cartsim::io;
use cartsim::model::sle::SLE_STATES;
use cartsim::prelude::*;
use cartsim::shard::{ShardFile, ShardSet, merge_shards, shard_range, write_shard};
use cartsim::summary::SummaryMode;

const FILES: [&str; 3] = ["summary.json", "bands.csv", "patients.csv"];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cartsim-shard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn cohort(n: u64, seed: u64) -> Cohort<SleModel, SLE_STATES> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(seed)
        .build()
        .unwrap()
}

/// The single-process run's files, written as the `cohort` example writes them.
fn single(c: &Cohort<SleModel, SLE_STATES>, dir: &Path) {
    let r = c.run().unwrap();
    io::write_summary_json(&dir.join("summary.json"), c, &r).unwrap();
    io::write_patients_csv(&dir.join("patients.csv"), c, &r).unwrap();
    io::write_bands_csv(&dir.join("bands.csv"), c, &r).unwrap();
}

fn shards(c: &Cohort<SleModel, SLE_STATES>, count: u64, dir: &Path) -> Vec<PathBuf> {
    (0..count)
        .map(|k| {
            let f = dir.join(format!("shard-{k}.bin"));
            write_shard(c, k, count, &f).unwrap();
            f
        })
        .collect()
}

fn assert_same_files(a: &Path, b: &Path) {
    for f in FILES {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(!x.is_empty(), "{f} is empty");
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn assert_no_outputs(dir: &Path) {
    for f in FILES {
        assert!(
            !dir.join(f).exists(),
            "{f} was written in {}",
            dir.display()
        );
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let left: Vec<_> = rd.map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

fn merge_err(files: &[PathBuf], out: &Path) -> String {
    let e = merge_shards(files, out).unwrap_err();
    assert_no_outputs(out);
    e.to_string()
}

#[test]
fn four_uneven_shards_merge_to_the_single_process_files() {
    let d = tmp("four");
    // 47 patients in 4 shards: 11, 12, 12, 12.
    let c = cohort(47, 5);
    assert_eq!(
        (0..4)
            .map(|k| shard_range(47, k, 4).unwrap())
            .collect::<Vec<_>>(),
        vec![0..11, 11..23, 23..35, 35..47]
    );
    single(&c, &d.join("single"));
    let mut files = shards(&c, 4, &d.join("shards"));
    files.reverse(); // any order
    let r = merge_shards(&files, &d.join("merged")).unwrap();
    assert_eq!(r.range, 0..47);
    assert_same_files(&d.join("single"), &d.join("merged"));
    // The header says what the shard holds.
    let h = ShardFile::open(&files[0]).unwrap().header;
    assert_eq!(
        (h.shard, h.shards, h.start, h.end, h.seed),
        (3, 4, 35, 47, 5)
    );
    assert_eq!(h.fingerprint, c.fingerprint());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn streaming_summary_with_targets_merges_to_the_same_bytes() {
    let d = tmp("stream");
    let c = Cohort::builder(SleModel::default())
        .patients(30)
        .seed(2)
        .summary_mode(SummaryMode::Streaming { alpha: 0.01 })
        .target(common::b_below_1_day14())
        .build()
        .unwrap();
    single(&c, &d.join("single"));
    let files = shards(&c, 7, &d.join("shards"));
    merge_shards(&files, &d.join("merged")).unwrap();
    assert_same_files(&d.join("single"), &d.join("merged"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn incomplete_duplicated_and_mismatched_sets_are_refused_by_name() {
    let d = tmp("bad");
    let c = cohort(20, 1);
    let files = shards(&c, 4, &d.join("a"));
    let out = d.join("out");

    // Missing shard 2/4: named by index and ids.
    let e = merge_err(
        &[files[0].clone(), files[1].clone(), files[3].clone()],
        &out,
    );
    assert!(
        e.contains("shard 2/4 (ids 10..15)") && e.contains("missing"),
        "{e}"
    );

    // Duplicated shard: the same file twice, or a copy.
    let copy = d.join("a/copy-of-1.bin");
    std::fs::copy(&files[1], &copy).unwrap();
    let mut dup = files.clone();
    dup.push(copy.clone());
    let e = merge_err(&dup, &out);
    assert!(
        e.contains("copy-of-1.bin") && e.contains("duplicates shard 1/4"),
        "{e}"
    );

    // Another seed.
    let other = d.join("b/seed2.bin");
    write_shard(&cohort(20, 2), 2, 4, &other).unwrap();
    let e = merge_err(
        &[
            files[0].clone(),
            files[1].clone(),
            other.clone(),
            files[3].clone(),
        ],
        &out,
    );
    assert!(
        e.contains("seed2.bin") && e.contains("seed 2 differs from seed 1"),
        "{e}"
    );
    // The odd one out is named even when it comes first (not the intact file after it).
    let first_other = d.join("b/seed2-first.bin");
    write_shard(&cohort(20, 2), 0, 4, &first_other).unwrap();
    let e = merge_err(
        &[
            first_other.clone(),
            files[1].clone(),
            files[2].clone(),
            files[3].clone(),
        ],
        &out,
    );
    assert!(
        e.contains("seed2-first.bin") && e.contains("seed 2 differs from seed 1"),
        "{e}"
    );

    // Another cohort size, shard count, scenario (regimen) and summary mode.
    let size = d.join("b/size.bin");
    write_shard(&cohort(21, 1), 2, 4, &size).unwrap();
    let e = merge_err(&[files[0].clone(), size.clone()], &out);
    assert!(
        e.contains("size.bin") && e.contains("cohort size 21"),
        "{e}"
    );
    let count = d.join("b/count.bin");
    write_shard(&c, 2, 5, &count).unwrap();
    let e = merge_err(&[files[0].clone(), count.clone()], &out);
    assert!(
        e.contains("count.bin") && e.contains("shard count 5"),
        "{e}"
    );
    let regimen = Regimen::flu_cy(5e5, 25.0, 1000.0);
    let other_spec = c.with_regimen(regimen).unwrap();
    assert_ne!(other_spec.fingerprint(), c.fingerprint());
    let spec = d.join("b/spec.bin");
    write_shard(&other_spec, 2, 4, &spec).unwrap();
    let e = merge_err(
        &[files[0].clone(), files[1].clone(), spec, files[3].clone()],
        &out,
    );
    assert!(e.contains("spec.bin") && e.contains("fingerprint"), "{e}");
    let streaming = Cohort::builder(SleModel::default())
        .patients(20)
        .seed(1)
        .summary_mode(SummaryMode::Streaming { alpha: 0.01 })
        .build()
        .unwrap();
    let mode = d.join("b/mode.bin");
    write_shard(&streaming, 2, 4, &mode).unwrap();
    let e = merge_err(
        &[files[0].clone(), files[1].clone(), mode, files[3].clone()],
        &out,
    );
    assert!(e.contains("mode.bin") && e.contains("fingerprint"), "{e}");

    // No files at all.
    assert!(merge_shards(&[], &out).is_err());
    assert_no_outputs(&out);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn truncated_corrupt_and_unreadable_shards_are_refused_by_name() {
    let d = tmp("corrupt");
    let c = cohort(20, 1);
    let files = shards(&c, 2, &d.join("a"));
    let out = d.join("out");
    let bytes = std::fs::read(&files[1]).unwrap();
    let with = |name: &str, content: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        vec![files[0].clone(), p]
    };

    // Truncated anywhere: in the rows, in the summary, in the header; empty.
    for (name, cut) in [
        ("cut-rows.bin", bytes.len() - 10),
        ("cut-summary.bin", bytes.len() / 2),
        ("cut-header.bin", 40),
        ("empty.bin", 0),
    ] {
        let e = merge_err(&with(name, &bytes[..cut]), &out);
        assert!(e.contains(name), "{e}");
        assert!(
            e.contains("truncated") || e.contains("not a cartsim shard file"),
            "{name}: {e}"
        );
    }
    // Trailing bytes.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"x\n");
    let e = merge_err(&with("longer.bin", &longer), &out);
    assert!(e.contains("longer.bin") && e.contains("corrupt"), "{e}");

    // A flipped byte in the last row: detected by checksum while patients.csv is written, and
    // nothing is left behind.
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 3] ^= 0x01;
    let e = merge_err(&with("flipped-row.bin", &flipped), &out);
    assert!(
        e.contains("flipped-row.bin") && e.contains("checksum"),
        "{e}"
    );
    // A flipped byte in the summary.
    let h = ShardFile::open(&files[1]).unwrap().header;
    let mut flipped = bytes.clone();
    let at = bytes.len() - h.rows_bytes as usize - 5;
    flipped[at] ^= 0x01;
    let e = merge_err(&with("flipped-summary.bin", &flipped), &out);
    assert!(
        e.contains("flipped-summary.bin") && e.contains("checksum"),
        "{e}"
    );

    // Not a shard file; a missing file.
    let e = merge_err(&with("other.bin", b"id,sex\n1,F\n"), &out);
    assert!(
        e.contains("other.bin") && e.contains("not a cartsim shard file"),
        "{e}"
    );
    let e = merge_shards(&[files[0].clone(), d.join("nope.bin")], &out).unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("nope.bin"),
        "{e}"
    );
    assert_no_outputs(&out);

    // The good set still merges.
    merge_shards(&files, &out).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_shard_requests_write_nothing() {
    let d = tmp("req");
    let f = d.join("s.bin");
    for (n, k, count) in [(2u64, 0u64, 3u64), (5, 5, 5), (5, 0, 0)] {
        let e = write_shard(&cohort(n, 1), k, count, &f).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
        assert!(!f.exists());
    }
    if let Ok(rd) = std::fs::read_dir(&d) {
        assert_eq!(rd.count(), 0, "temporary files left behind");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_shard_set_reports_its_shards_in_order() {
    let d = tmp("order");
    let c = cohort(9, 4);
    let mut files = shards(&c, 3, &d);
    files.rotate_left(1);
    let set = ShardSet::open(&files).unwrap();
    let idx: Vec<u64> = set.shards().iter().map(|s| s.header.shard).collect();
    assert_eq!(idx, vec![0, 1, 2]);
    assert_eq!(set.layout(), &io::OutputLayout::of(&c));
    let r = set.merge().unwrap();
    assert_eq!(r.summary.patients + r.summary.failed, 9);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_edited_header_is_refused_by_its_checksum() {
    let d = std::env::temp_dir().join(format!("cartsim-shard-hdr-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("edited.bin");
    write_shard(&cohort(6, 1), 0, 2, &f).unwrap();
    let text = std::fs::read(&f).unwrap();
    let needle = b"\"stiff_retries\":0";
    let at = text
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut edited = text.clone();
    edited[at + needle.len() - 1] = b'7'; // same length, still valid JSON
    std::fs::write(&f, &edited).unwrap();
    let e = ShardFile::open(&f).unwrap_err().to_string();
    assert!(
        e.contains("edited.bin") && e.contains("corrupt header"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
