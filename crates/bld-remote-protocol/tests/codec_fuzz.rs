//! The cargo-fuzz properties of `fuzz/` at CI size: CI has neither nightly nor cargo-fuzz, so
//! this runs the same checks over the committed seeds and a fixed set of mutations of them.
//! Inputs come from a seeded xorshift, so a failure reproduces on every machine; the failing
//! input is saved where `cargo fuzz run <target> <file>` can replay it.

#[path = "support/codec_properties.rs"]
mod properties;

use properties::{STREAM_HEADER, check_frame, check_framing, check_stream};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Enough to find again what fuzzing found near the seeds (without serde_json's
/// float_roundtrip, input 2,769 fails) while staying a few seconds in a debug build.
const GENERATED: u64 = 200_000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the seed corpus {} ({err})", dir.display()))
        .map(|entry| entry.expect("a seed").path())
        .collect();
    // Directory order differs between file systems; inputs must not.
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|path| std::fs::read(path).expect("a readable seed"))
        .collect();
    assert!(seeds.len() >= 5, "the {target} seeds are missing");
    seeds
}

#[test]
fn every_seed_holds_the_properties() {
    for seed in seeds("frame") {
        run(0, &seed, check_frame);
    }
    for seed in seeds("stream") {
        run(0, &seed, check_stream);
    }
}

#[test]
fn generated_inputs_hold_the_properties() {
    let frames = seeds("frame");
    let streams = seeds("stream");
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bytes: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                let (frames, streams) = (&frames, &streams);
                // Debug builds use far more stack per JSON nesting level than the 2 MiB a
                // spawned thread gets by default.
                std::thread::Builder::new()
                    .stack_size(16 << 20)
                    .spawn_scoped(scope, move || {
                        let mut bytes = 0;
                        // Most lines of generated streams are seed frames left intact: the
                        // frame checks, the costly part, see each distinct line once.
                        let hasher = RandomState::new();
                        let mut seen = HashSet::new();
                        for index in (first..GENERATED).step_by(threads as usize) {
                            // Input i depends on i alone, not on how many threads there are.
                            let mut rng = XorShift::new(index);
                            let input = generate(&mut rng, frames, streams);
                            run(index, &input, |data| {
                                check_frame(data);
                                for line in check_framing(data) {
                                    if seen.insert(hasher.hash_one(&line)) {
                                        check_frame(&line);
                                    }
                                }
                            });
                            bytes += input.len() as u64;
                        }
                        bytes
                    })
                    .expect("a worker thread")
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!(
        "codec_fuzz: {GENERATED} generated inputs ({} MiB) on {threads} threads in {:.1?}",
        bytes >> 20,
        started.elapsed()
    );
}

/// Runs one check; on a panic, saves the input before passing the panic on.
fn run(index: u64, input: &[u8], mut check: impl FnMut(&[u8])) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("codec_fuzz-{index}.bin"));
        let saved = std::fs::write(&path, input).map_or_else(
            |err| format!("could not be saved ({err})"),
            |()| format!("saved to {}", path.display()),
        );
        let shown = &input[..input.len().min(2000)];
        eprintln!(
            "input #{index} failed ({} bytes, {saved}): {}",
            input.len(),
            shown.escape_ascii()
        );
        resume_unwind(panic);
    }
}

/// xorshift64*: tiny, and plenty for picking mutations.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so neighbouring indices start far apart (and never at 0).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Fragments a JSON-aware mutator splices in (libFuzzer learns these; xorshift does not).
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\n",
    b"\r\n",
    b" ",
    b"\x0c",
    b"null",
    b"true",
    b"false",
    b"0",
    b"-0",
    b"-1",
    b"1.5",
    b"1e308",
    b"1e309",
    b"-1e-400",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"\"\\u0000\"",
    b"\"\\ud83d\\ude00\"",
    b"\"\\udc00\"",
    b"\"\xc3\xbc\"",
    b"\xff",
    b"\"id\":",
    b"\"id\":null,",
    b"\"token\":\"t\",",
    b"\"type\":\"ping\",",
    b"\"type\":",
    b"\"params\":",
    b"\"params\":null",
    b"\"params\":{}",
    b"\"status\":\"success\",",
    b"\"status\":\"error\",",
    b"\"error\":{\"code\":\"busy\",\"message\":\"m\"}",
    b"\"output\":{}",
    b"\"result\":",
    b"\"envelope\":null,",
    b"\"code\":",
    b"\"details\":",
    b"\"message\":",
    b"\"wait\":",
    b"\"timeout\":",
    b"\"duration\":",
    b"\"execution_mode\":\"async\",",
    b"\"format\":\"png\"",
];

fn generate(rng: &mut XorShift, frames: &[Vec<u8>], streams: &[Vec<u8>]) -> Vec<u8> {
    let mut data = match rng.below(4) {
        0 => rng.pick(streams).clone(),
        1 => {
            // A fresh stream: random limit and reads, then a few frames on their own lines.
            let mut data: Vec<u8> = (0..STREAM_HEADER).map(|_| rng.next() as u8).collect();
            for _ in 0..1 + rng.below(6) {
                data.extend_from_slice(rng.pick(frames).as_slice());
                data.extend_from_slice(if rng.one_in(4) { b"\r\n" } else { b"\n" });
            }
            data
        }
        _ => rng.pick(frames).clone(),
    };
    for _ in 0..1 + rng.below(4) {
        mutate(rng, &mut data, frames);
    }
    data
}

fn mutate(rng: &mut XorShift, data: &mut Vec<u8>, frames: &[Vec<u8>]) {
    let at = rng.below(data.len() + 1);
    match rng.below(10) {
        0 if at < data.len() => data[at] ^= 1 << rng.below(8),
        1 if at < data.len() => data[at] = rng.next() as u8,
        2 => {
            let end = (at + 1 + rng.below(16)).min(data.len());
            data.drain(at.min(end)..end);
        }
        3 => data.truncate(at),
        4 => {
            let end = (at + rng.below(32)).min(data.len());
            let copy = data[at..end].to_vec();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, copy);
        }
        5 => {
            // Splice: the head of this input, the tail of another.
            let other = rng.pick(frames);
            data.truncate(at);
            data.extend_from_slice(&other[rng.below(other.len() + 1)..]);
        }
        6 | 7 => {
            let token = rng.pick(TOKENS);
            data.splice(at..at, token.iter().copied());
        }
        8 => {
            // A float with all its digits (and a random exponent): where parsers lose a bit.
            let digits = rng.next() % 100_000_000_000_000_000;
            let exponent = rng.below(640) as i64 - 330;
            let number = match rng.below(3) {
                0 => format!("{digits}e{exponent}"),
                1 => format!("0.{digits:017}"),
                _ => format!("{}.{}", rng.below(1000), digits),
            };
            data.splice(at..at, number.bytes());
        }
        _ if rng.one_in(50) => {
            // Rare, as they cost: a string far over any limit, or nesting far past serde_json's.
            let filler: Vec<u8> = if rng.one_in(2) {
                let mut text = vec![b'"'];
                text.resize(1 + rng.below(100_000), b'a');
                text.push(b'"');
                text
            } else {
                let open = *rng.pick(b"[{");
                let mut nest = vec![open; 1 + rng.below(10_000)];
                if open == b'{' {
                    nest = nest.iter().flat_map(|_| *b"{\"a\":").collect();
                }
                nest
            };
            data.splice(at..at, filler);
        }
        _ => {
            if at < data.len() {
                data[at] = *rng.pick(b"{}[]\",:\n\\ 0-.eE\xff\x00");
            }
        }
    }
}
