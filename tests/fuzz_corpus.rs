//! The fuzz targets (`fuzz/targets.rs`, run by cargo-fuzz on nightly) on the stable toolchain:
//! every committed corpus file, then a fixed number of proptest mutations of them (bytes
//! flipped, cut, spliced). Each input must give a typed error or a result, never a panic.

#[path = "../fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let data: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(data.len() >= 5, "corpus {} is nearly empty", dir.display());
    data
}

#[test]
fn scenario_target_runs_over_its_corpus() {
    for d in corpus("scenario") {
        targets::scenario(&d);
    }
}

#[test]
fn shard_target_runs_over_its_corpus() {
    for d in corpus("shard") {
        targets::shard(&d);
    }
}

/// A corpus file with `edits` applied: (position fraction, byte) replacements, then a cut.
fn mutate(base: &[u8], edits: &[(f64, u8)], cut: f64) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(at, b) in edits {
        if !v.is_empty() {
            let i = ((at * v.len() as f64) as usize).min(v.len() - 1);
            v[i] = b;
        }
    }
    let keep = ((cut * v.len() as f64) as usize).min(v.len());
    v.truncate(keep.max(v.len() / 2));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scenario_target_survives_mutations(
        which in 0usize..64,
        edits in proptest::collection::vec((0.0f64..1.0, prop_oneof![
            Just(b'0'), Just(b'-'), Just(b'e'), Just(b'9'), Just(b'"'), Just(b'['), Just(b'.'),
            Just(b'\n'), Just(b' '), any::<u8>()
        ]), 0..6),
        cut in 0.0f64..1.5,
    ) {
        let c = corpus("scenario");
        let base = &c[which % c.len()];
        targets::scenario(&mutate(base, &edits, cut));
    }

    #[test]
    fn shard_target_survives_mutations(
        which in 0usize..64,
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..4),
        cut in 0.0f64..1.5,
    ) {
        let c = corpus("shard");
        let base = &c[which % c.len()];
        targets::shard(&mutate(base, &edits, cut));
    }
}
