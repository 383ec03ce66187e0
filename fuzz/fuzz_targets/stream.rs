//! A byte stream cut into reads by its first bytes: the decoder must give the same lines
//! however it is cut, keep its buffer bounded, and every line must pass the frame checks.
#![no_main]

// The checks live with the CI test that runs them on stable (see the file's header).
#[allow(dead_code)] // each target uses part of them
#[path = "../../crates/bld-remote-protocol/tests/support/codec_properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::check_stream(data));
