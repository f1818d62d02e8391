//! The fuzz targets' bodies, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/*.rs`,
//! nightly) and the stable test `tests/fuzz_corpus.rs`, which runs them over the committed
//! corpus and over proptest-generated inputs. A target passes when it returns: every input,
//! however malformed, must give a typed error, never a panic, abort or hang.
#![allow(dead_code)]

use std::io::Write;

/// A scenario file's text: parse, build everything it describes (cohort, regimen, NONMEM
/// options, arms) and write it back; a scenario that parses must round-trip.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = cartsim::io::scenario::Scenario::from_toml_str(text) else {
        return;
    };
    let _ = s.regimen();
    let _ = s.cohort();
    let _ = s.nonmem_options();
    let _ = s.arms();
    if let Ok(back) = s.to_toml_string() {
        let again = cartsim::io::scenario::Scenario::from_toml_str(&back);
        assert!(
            again.is_ok(),
            "a written scenario does not read back: {back}"
        );
    }
}

/// A shard file's bytes: open it, read its summary and copy its rows, as a merge does.
pub fn shard(data: &[u8]) {
    let path = std::env::temp_dir().join(format!(
        "cartsim-fuzz-shard-{}-{:?}.bin",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .is_err()
    {
        return;
    }
    if let Ok(f) = cartsim::shard::ShardFile::open(&path) {
        let _ = f.read_summary();
        let _ = f.copy_rows(&mut std::io::sink());
        let _ = cartsim::shard::ShardSet::open(std::slice::from_ref(&path)).map(|s| s.merge());
    }
    let _ = std::fs::remove_file(&path);
}
