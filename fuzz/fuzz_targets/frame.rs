//! One frame as read off the wire: whatever parses as a protocol type must round-trip.
#![no_main]

// The checks live with the CI test that runs them on stable (see the file's header).
#[allow(dead_code)] // each target uses part of them
#[path = "../../crates/bld-remote-protocol/tests/support/codec_properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::check_frame(data));
