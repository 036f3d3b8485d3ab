//! The fuzz targets' bodies on stable (issue 6), so that CI guards against regressions
//! without nightly or cargo-fuzz:
//!
//! - every committed input under `fuzz/corpus/<target>/` (files named `seed-*` and
//!   `regress-*`; what a local `cargo fuzz run` adds there is neither committed nor replayed);
//! - the seed corpus as generated now, each seed checked to reach the state it is for;
//! - 10,000 inputs per target from a seeded SplitMix64 (`RUDP_FUZZ_CASES` and
//!   `RUDP_FUZZ_SEED` change the number and the seed).
//!
//! A failing input is printed in hex: save it as `fuzz/corpus/<target>/regress-<name>` to keep
//! it. `RUDP_WRITE_SEEDS=1 cargo test -p rudp-nostd --test fuzz_replay -- --ignored` rewrites
//! the `seed-*` files.

// A file loaded by `#[path]` resolves its own `mod` declarations from its directory (as a
// `mod.rs` does), so the fuzz crate's modules come from `fuzz/src/` here too.
#[path = "../../fuzz/src/lib.rs"]
mod bodies;

use std::path::PathBuf;
use std::{env, fs, panic};

use bodies::{Outcome, TARGETS};

/// Generated inputs per target, unless `RUDP_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: u64 = 10_000;
/// The PRNG's seed, unless `RUDP_FUZZ_SEED` says otherwise.
const DEFAULT_SEED: u64 = 0x5eed_0006;
/// The prefixes of the committed corpus files.
const COMMITTED: [&str; 2] = ["seed-", "regress-"];

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// Runs `target` on `input`; on a panic prints the input so that it can be kept.
fn run(target: &str, label: &str, input: &[u8]) -> Outcome {
    match panic::catch_unwind(|| bodies::run(target, input)) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            eprintln!("fuzz target {target} failed on {label} ({} bytes): {hex}", input.len());
            eprintln!("keep it: echo {hex} | xxd -r -p > fuzz/corpus/{target}/regress-<name>");
            panic::resume_unwind(panic)
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn committed_corpus_replays() {
    for target in TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                COMMITTED.iter().any(|prefix| name.starts_with(prefix))
            })
            .collect();
        files.sort();
        assert!(files.len() >= 5, "{}: only {} seed files", dir.display(), files.len());
        for path in files {
            let input = fs::read(&path).expect("a corpus file");
            run(target, &path.display().to_string(), &input);
        }
    }
}

#[test]
fn generated_seeds_pass_and_reach_their_state() {
    for seed in bodies::seed_corpus() {
        let outcome = run(seed.target, &seed.name, &seed.bytes);
        assert_eq!(outcome, seed.reaches, "seed {}/{} does not reach what it is for", seed.target, seed.name);
    }
}

/// Writes the seed corpus: run after changing `seed_corpus` or the input formats, then
/// commit the files.
#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run with RUDP_WRITE_SEEDS=1"]
fn write_seed_corpus() {
    if env::var_os("RUDP_WRITE_SEEDS").is_none() {
        eprintln!("set RUDP_WRITE_SEEDS=1 to write the seed corpus");
        return;
    }
    for target in TARGETS {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).expect("create the corpus folder");
        for entry in fs::read_dir(&dir).expect("the corpus folder") {
            let path = entry.expect("a directory entry").path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")) {
                fs::remove_file(&path).expect("remove an old seed");
            }
        }
    }
    for seed in bodies::seed_corpus() {
        let path = corpus_dir(seed.target).join(format!("seed-{}", seed.name));
        fs::write(&path, &seed.bytes).expect("write a seed");
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): the generated inputs' PRNG.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), near enough.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// How many inputs reached a connection and a completed transfer.
#[derive(Default, Debug)]
struct Reached {
    connected: u64,
    completed: u64,
    /// The same, with a window granted (SPEC §10.1).
    windowed_connected: u64,
    windowed_completed: u64,
}

/// Runs `cases` generated inputs through `target`.
fn generated(target: &str, generate: impl Fn(&mut SplitMix64) -> Vec<u8>) -> Reached {
    let cases = env_u64("RUDP_FUZZ_CASES", DEFAULT_CASES);
    let seed = env_u64("RUDP_FUZZ_SEED", DEFAULT_SEED);
    let mut rng = SplitMix64(seed ^ target.len() as u64);
    let mut reached = Reached::default();
    for case in 0..cases {
        let input = generate(&mut rng);
        let outcome = run(target, &format!("generated case {case} (RUDP_FUZZ_SEED={seed})"), &input);
        reached.connected += u64::from(outcome.connected);
        reached.completed += u64::from(outcome.completed);
        reached.windowed_connected += u64::from(outcome.connected && outcome.windowed);
        reached.windowed_completed += u64::from(outcome.completed && outcome.windowed);
    }
    println!("{target}: {cases} generated inputs, {reached:?}");
    reached
}

/// A SPEC §1 header near the interesting values, then a payload.
fn frame_like(rng: &mut SplitMix64) -> Vec<u8> {
    let near = |rng: &mut SplitMix64| -> u32 {
        let max = rudp_nostd::MAX_SEQ;
        match rng.below(4) {
            0 => rng.next_u64() as u32,
            1 => max - 2 + rng.below(4) as u32,
            _ => rng.below(max as usize) as u32,
        }
    };
    let flags: u16 = match rng.below(4) {
        0 => rng.next_u64() as u16,
        1 => 1 << rng.below(16),
        _ => rng.below(8) as u16,
    };
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&near(rng).to_le_bytes());
    bytes.extend_from_slice(&near(rng).to_le_bytes());
    bytes.extend_from_slice(&(rng.next_u64() as u16).to_le_bytes());
    bytes.extend_from_slice(&flags.to_le_bytes());
    let len = match rng.below(3) {
        0 => rudp_nostd::MAX_PAYLOAD + rng.below(3),
        _ => rng.below(rudp_nostd::MAX_PAYLOAD + 1),
    };
    bytes.extend(rng.bytes(len));
    bytes
}

#[test]
fn decode_frame_generated() {
    generated("decode_frame", |rng| match rng.below(4) {
        0 => {
            let len = rng.below(rudp_nostd::HEADER_LEN + 4);
            rng.bytes(len)
        }
        1 => {
            let len = rng.below(600);
            rng.bytes(len)
        }
        _ => frame_like(rng),
    });
}

#[test]
fn frame_roundtrip_generated() {
    generated("frame_roundtrip", |rng| {
        let len = rng.below(11 + rudp_nostd::MAX_PAYLOAD + 4);
        rng.bytes(len)
    });
}

/// A data length: short ones likelier, so that more inputs complete a transfer.
fn data_len(rng: &mut SplitMix64) -> u16 {
    match rng.below(4) {
        0 => rng.below(bodies::MAX_PATTERN + 1) as u16,
        1 => rng.below(3) as u16,
        _ => rng.below(1100) as u16,
    }
}

/// A sequence number: near the wrap now and then.
fn isn(rng: &mut SplitMix64) -> u32 {
    match rng.below(4) {
        0 => rudp_nostd::MAX_SEQ - 1 - rng.below(2000) as u32,
        _ => rng.next_u64() as u32,
    }
}

/// A receiver program: the set-up of `bodies::receiver`, then ops drawn with weights that
/// favour the scripted sender and near-miss forgeries over raw junk. One input in five is
/// plain random bytes instead.
fn receiver_program(rng: &mut SplitMix64) -> Vec<u8> {
    use bodies::rx_op;
    if rng.below(5) == 0 {
        let len = rng.below(400);
        return rng.bytes(len);
    }
    let mut p = rng.bytes(1);
    p.extend(data_len(rng).to_le_bytes());
    p.extend(isn(rng).to_le_bytes());
    p.extend(rng.bytes(6));
    for _ in 0..rng.below(120) {
        // Half the ops from the peer's endpoint.
        let endpoint = (if rng.below(2) == 0 { 0 } else { rng.below(4) as u8 }) << 3;
        match rng.below(100) {
            0..40 => {
                // With a window, bits 3-6 pick the frame (0: the next new one) a third of the time.
                let pick = if rng.below(3) == 0 { (rng.below(16) as u8) << 3 } else { 0 };
                p.push(rx_op::SEND | pick | if rng.below(4) == 0 { rx_op::LOST_REPLY } else { 0 })
            }
            // Now and then the application stops the transfer instead (SPEC §10.4).
            40..45 if rng.below(40) == 0 => p.extend([rx_op::STOP, rng.next_u64() as u8]),
            40..45 => p.extend([rx_op::DUPLICATE, rng.next_u64() as u8]),
            45..50 => {
                p.push(rx_op::RAW | endpoint);
                let len = if rng.below(2) == 0 { rng.below(12) } else { 12 + rng.below(20) };
                p.push(len as u8);
                p.extend(rng.bytes(len));
            }
            50..82 => {
                // Selector bits 4-5: the connection's own conn half the time.
                let select = rng.next_u64() as u8 & if rng.below(2) == 0 { 0xcf } else { 0xff };
                p.push(rx_op::FORGED | endpoint);
                p.push(select & if rng.below(4) == 0 { 0xff } else { 0xbf });
                p.extend(rng.bytes(4));
                p.push([0, 1, 2, 4, 4, 5, 6][rng.below(7)]);
                p.push(rng.below(40) as u8);
                p.push(rng.next_u64() as u8);
            }
            82..97 => p.extend([rx_op::WAIT, rng.next_u64() as u8]),
            _ => p.extend([rx_op::WAIT_LONG, rng.below(200) as u8]),
        }
    }
    p
}

/// A sender program: the set-up of `bodies::sender`, then weighted ops, as above.
fn sender_program(rng: &mut SplitMix64) -> Vec<u8> {
    use bodies::tx_op;
    if rng.below(5) == 0 {
        let len = rng.below(400);
        return rng.bytes(len);
    }
    let mut p = rng.bytes(1);
    p.extend(data_len(rng).to_le_bytes());
    p.extend(rng.bytes(6));
    p.extend(isn(rng).to_le_bytes());
    for _ in 0..rng.below(80) {
        match rng.below(100) {
            0..45 => {
                let mut op = tx_op::GOOD;
                // With a window, bits 3-5 pick the frame the receiver takes, a third of the time.
                if rng.below(3) == 0 {
                    op |= (rng.below(8) as u8) << 3;
                }
                if rng.below(10) == 0 {
                    op |= tx_op::WRONG_PEER | (rng.below(4) as u8) << 3;
                }
                if rng.below(2) == 0 {
                    op |= tx_op::ORIGINAL_FIN_ACK;
                }
                p.push(op);
            }
            45..70 => {
                // `what` picks a mutation (tx_op::MUTATED): with a window, 8..16 is a sack
                // mutation and 16..20 a refusal, which ends the transfer; without one, 8..12 is
                // a refusal that the sender must ignore. Refusals one time in eight.
                let what = if rng.below(8) == 0 { 16 + rng.below(4) as u8 } else { rng.below(16) as u8 };
                p.extend([tx_op::MUTATED, what]);
                p.extend(rng.bytes(2));
            }
            70..75 => {
                p.push(tx_op::RAW | (rng.below(4) as u8) << 3);
                let len = rng.below(20);
                p.push(len as u8);
                p.extend(rng.bytes(len));
            }
            75..90 => p.extend([tx_op::WAIT, rng.next_u64() as u8]),
            90..93 => p.extend([tx_op::WAIT_LONG, rng.below(200) as u8]),
            // Now and then the application stops the transfer instead (SPEC §10.4).
            _ if rng.below(40) == 0 => p.extend([tx_op::STOP, rng.next_u64() as u8]),
            _ => p.extend([tx_op::REPLAY, rng.next_u64() as u8]),
        }
    }
    p
}

#[test]
fn receiver_generated() {
    // The set-up byte's bits 4-7 choose the window (SPEC §10.1).
    assert_both_kinds_go_deep(generated("receiver", receiver_program));
}

#[test]
fn sender_generated() {
    // The set-up byte's bits 2-6 choose the window and the grant (SPEC §10.1).
    assert_both_kinds_go_deep(generated("sender", sender_program));
}

/// Enough generated inputs connect and complete a transfer, both stop-and-wait and with a
/// window.
fn assert_both_kinds_go_deep(reached: Reached) {
    assert!(reached.connected > 1000, "too few generated inputs connect: {reached:?}");
    assert!(reached.completed > 100, "too few generated inputs complete a transfer: {reached:?}");
    assert!(
        reached.connected - reached.windowed_connected > 1000,
        "too few stop-and-wait connections: {reached:?}"
    );
    assert!(
        reached.completed - reached.windowed_completed > 100,
        "too few stop-and-wait transfers: {reached:?}"
    );
    assert!(reached.windowed_connected > 1000, "too few generated inputs connect with a window: {reached:?}");
    assert!(reached.windowed_completed > 100, "too few windowed transfers complete: {reached:?}");
}

/// A listener-world program: take-leaning decisions, then mostly sending, time, and the
/// application reading and committing, with some attacks.
fn listener_program(rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..8 {
        // Decisions: mostly take (3 to 7), sometimes refuse (0) or resume (1, 2).
        out.push(if rng.below(4) == 0 { rng.next_u64() as u8 } else { 3 + rng.below(5) as u8 });
    }
    out.extend(rng.bytes(1 + 4 + 2 * (2 + 1 + 4)));
    for _ in 0..rng.below(300) {
        match rng.below(10) {
            0..=3 => out.push(0),
            4 => {
                out.push(4);
                out.extend((rng.below(400) as u16).to_le_bytes());
            }
            5..=7 => {
                out.push(5);
                out.push(rng.next_u64() as u8);
                out.push([0, 1, 3, 3][rng.below(4)]);
            }
            8 => {
                out.push(2 + rng.below(2) as u8);
                out.extend(rng.bytes(12));
            }
            _ => out.push(rng.next_u64() as u8),
        }
    }
    out
}

#[test]
fn listener_generated() {
    let reached = generated("listener", listener_program);
    assert!(reached.connected > 1000, "too few generated inputs connect: {reached:?}");
    // A sender succeeds only when the program happened to commit at the right moment: about
    // 64 in the default 10,000.
    assert!(reached.completed > 30, "too few generated inputs complete a transfer: {reached:?}");
}
