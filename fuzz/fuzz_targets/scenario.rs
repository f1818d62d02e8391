//! `cargo +nightly fuzz run scenario fuzz/corpus/scenario` (see fuzz/README.md).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::scenario(data));
