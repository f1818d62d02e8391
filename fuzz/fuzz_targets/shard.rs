//! `cargo +nightly fuzz run shard fuzz/corpus/shard` (see fuzz/README.md).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::shard(data));
