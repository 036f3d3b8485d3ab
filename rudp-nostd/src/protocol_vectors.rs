//! Every test vector of `PROTOCOL.md` (§13), checked against the code.
//!
//! The vectors are fenced code blocks with the info string `vector`, one `key: value` per line
//! (PROTOCOL.md §13 describes the format). This test extracts them all, fails on any format slip
//! (an unknown kind or key, a near-miss info string, a duplicate name) and on too few vectors,
//! and checks each: frames through the header codec both ways, option lists through the generic
//! iterator, the writers and the typed readers, digests (features `crc32c` and `sha256`),
//! sequence arithmetic and trace lines.
//!
//! Run: `cargo test -p rudp-nostd --all-features protocol_vectors`. A unit test of the crate,
//! since it checks the option codec, which is not public.

use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{assert, assert_eq, panic, println, vec};

use crate::digest::{DigestAlgorithm, Hasher};
use crate::frame::{self, DecodeError, Flags, HEADER_LEN, MAX_FRAME, Packet, Repr};
use crate::options::{
    self, DIGEST, DIGEST_VALUE, Grants, Options, RESULT, RawOption, SACK, SynOptions, TRANSFER_SIZE, WINDOW,
};
use crate::trace::{DropReason, Trace};
use crate::{MAX_SEQ, SeqNum};

/// Option types that the crate has no constant for yet (PROTOCOL.md §9.4 and §9.5, issues 16
/// and 17).
const NAME: u8 = 7;
const REFUSE: u8 = 8;
const OBJECT_ID: u8 = 9;
const RESUME_FROM: u8 = 10;

/// At least this many vectors of each kind: fewer means that some went missing or that a
/// format slip hid them.
const AT_LEAST: [(&str, usize); 6] =
    [("frame", 15), ("reject", 7), ("seq", 3), ("options", 9), ("digest", 3), ("trace", 5)];

/// The vectors of SPEC §9 and §10.3, which must always be there.
const REQUIRED: [&str; 9] = [
    "header-ack-43-555-7",
    "reference-syn",
    "crc32c-123456789",
    "syn-offer-size-window-crc32c",
    "syn-ack-grant-window-crc32c",
    "ack-sack-k2-k3",
    "syn-name-object-id",
    "refusal-busy",
    "syn-ack-sha256-resume-4096",
];

/// The keys an option list's options are written with, by type.
const OPTION_KEYS: [(&str, u8); 10] = [
    ("transfer-size", TRANSFER_SIZE),
    ("window", WINDOW),
    ("digest", DIGEST),
    ("sack", SACK),
    ("digest-value", DIGEST_VALUE),
    ("result", RESULT),
    ("name", NAME),
    ("refuse", REFUSE),
    ("object-id", OBJECT_ID),
    ("resume-from", RESUME_FROM),
];

/// One vector: its fields in the order written.
struct Vector {
    name: String,
    kind: String,
    /// The line of PROTOCOL.md its block starts on, for messages.
    line: usize,
    fields: Vec<(String, String)>,
}

impl Vector {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn req(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| panic!("{self}: no `{key}`"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str) -> T {
        let text = self.req(key);
        text.parse().unwrap_or_else(|_| panic!("{self}: `{key}: {text}` is not a number of the right size"))
    }

    fn bytes(&self, key: &str) -> Vec<u8> {
        hex(self.req(key)).unwrap_or_else(|e| panic!("{self}: `{key}`: {e}"))
    }

    /// The option fields, in order, with their types.
    fn option_fields(&self) -> Vec<(u8, &str, &str)> {
        self.fields
            .iter()
            .filter_map(|(k, v)| {
                OPTION_KEYS.iter().find(|(key, _)| key == k).map(|&(key, t)| (t, key, v.as_str()))
            })
            .collect()
    }
}

impl std::fmt::Display for Vector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vector `{}` (PROTOCOL.md line {})", self.name, self.line)
    }
}

/// Hexadecimal bytes separated by white space; `00*509` is 509 zero bytes.
fn hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let (byte, count) = match token.split_once('*') {
            Some((byte, count)) => {
                (byte, count.parse::<usize>().map_err(|_| format!("bad count in `{token}`"))?)
            }
            None => (token, 1),
        };
        if byte.len() != 2 {
            return Err(format!("`{token}` is not one hex byte"));
        }
        let byte = u8::from_str_radix(byte, 16).map_err(|_| format!("`{token}` is not hex"))?;
        out.extend(std::iter::repeat_n(byte, count));
    }
    Ok(out)
}

/// Every ```vector block of `doc`.
fn extract(doc: &str) -> Vec<Vector> {
    let mut vectors = Vec::new();
    // Inside a fence: Some(true) for a vector block, Some(false) for any other.
    let mut fence: Option<bool> = None;
    let mut current: Vec<(String, String)> = Vec::new();
    let mut start = 0;
    for (index, raw) in doc.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = raw.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match fence {
                None => {
                    let info = info.trim();
                    let is_vector = info == "vector";
                    assert!(
                        is_vector || !info.to_ascii_lowercase().contains("vector"),
                        "PROTOCOL.md line {line_no}: `{trimmed}` looks like a vector block but is not `vector`"
                    );
                    fence = Some(is_vector);
                    start = line_no;
                    current.clear();
                }
                Some(is_vector) => {
                    assert!(
                        info.trim().is_empty(),
                        "PROTOCOL.md line {line_no}: a fence opens inside a block"
                    );
                    if is_vector {
                        vectors.push(finish(start, std::mem::take(&mut current)));
                    }
                    fence = None;
                }
            }
            continue;
        }
        if fence != Some(true) || raw.trim().is_empty() {
            continue;
        }
        if raw.starts_with(char::is_whitespace) {
            let (_, value) = current.last_mut().unwrap_or_else(|| {
                panic!("PROTOCOL.md line {line_no}: a continuation line with nothing before it")
            });
            value.push(' ');
            value.push_str(raw.trim());
        } else {
            let (key, value) = raw
                .split_once(':')
                .unwrap_or_else(|| panic!("PROTOCOL.md line {line_no}: `{raw}` is not `key: value`"));
            current.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    assert!(fence.is_none(), "PROTOCOL.md line {start}: a code block is never closed");
    vectors
}

fn finish(line: usize, fields: Vec<(String, String)>) -> Vector {
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("PROTOCOL.md line {line}: a vector without `{key}`"))
    };
    let vector = Vector { name: field("id"), kind: field("kind"), line, fields };
    let mut allowed: Vec<&str> = vec!["id", "kind"];
    allowed.extend(match vector.kind.as_str() {
        "frame" => &["seq", "ack", "conn", "flags", "payload", "bytes"][..],
        "options" => &["in", "payload"][..],
        "reject" => &["error", "bytes"][..],
        "digest" => &["algorithm", "text", "data", "value"][..],
        "seq" => &["start", "add", "result"][..],
        "trace" => &["bytes", "line"][..],
        other => panic!("{vector}: unknown kind `{other}`"),
    });
    if matches!(vector.kind.as_str(), "frame" | "options") {
        allowed.extend(OPTION_KEYS.iter().map(|(key, _)| *key));
    }
    let mut seen = Vec::new();
    for (key, _) in &vector.fields {
        assert!(allowed.contains(&key.as_str()), "{vector}: unknown key `{key}` for kind `{}`", vector.kind);
        assert!(!seen.contains(key), "{vector}: `{key}` given twice");
        seen.push(key.clone());
    }
    vector
}

fn seq_num(v: &Vector, key: &str) -> SeqNum {
    let n: u32 = v.num(key);
    SeqNum::new(n).unwrap_or_else(|| panic!("{v}: `{key}` {n} is not below MAX_SEQ"))
}

/// `ACK SYN`, `FIN`, ..., or `none`, in the order of trace lines.
fn flags(v: &Vector) -> Flags {
    let text = v.req("flags");
    if text == "none" {
        return Flags::NONE;
    }
    let flags = text.split_whitespace().fold(Flags::NONE, |all, name| {
        all | match name {
            "ACK" => Flags::ACK,
            "SYN" => Flags::SYN,
            "FIN" => Flags::FIN,
            other => panic!("{v}: unknown flag `{other}`"),
        }
    });
    assert_eq!(flags.to_string(), text, "{v}: flags are written in trace order");
    flags
}

fn algorithm(v: &Vector, text: &str) -> DigestAlgorithm {
    match text {
        "crc32c" => DigestAlgorithm::Crc32c,
        "sha256" => DigestAlgorithm::Sha256,
        other => panic!("{v}: unknown digest `{other}`"),
    }
}

fn frame_check(v: &Vector, counts: &mut Counts) {
    let bytes = v.bytes("bytes");
    let payload = v.get("payload").map(|_| v.bytes("payload")).unwrap_or_default();
    let repr = Repr { seq: seq_num(v, "seq"), ack: seq_num(v, "ack"), conn: v.num("conn"), flags: flags(v) };

    // Decoding.
    let decoded = frame::decode(&bytes).unwrap_or_else(|e| panic!("{v}: does not decode: {e}"));
    assert_eq!(decoded.repr, repr, "{v}: decoded header");
    assert_eq!(decoded.payload, &payload[..], "{v}: decoded payload");

    // Encoding: the whole frame, and the header alone through a packet view.
    let mut buf = [0xa5u8; MAX_FRAME];
    let len = repr.emit_with_payload(&mut buf, &payload).unwrap_or_else(|| panic!("{v}: payload too long"));
    assert_eq!(&buf[..len], &bytes[..], "{v}: encoded frame");
    let mut header = [0x5au8; HEADER_LEN];
    repr.emit(&mut Packet::new_unchecked(&mut header[..]));
    assert_eq!(header[..], bytes[..HEADER_LEN], "{v}: encoded header");

    // The payload of every frame that is not data is an option list.
    let place = if repr.flags.contains(Flags::SYN) {
        Some(if repr.flags.contains(Flags::ACK) { "SYN|ACK" } else { "SYN" })
    } else if repr.flags.contains(Flags::FIN) {
        Some(if repr.flags.contains(Flags::ACK) { "FIN|ACK" } else { "FIN" })
    } else if !v.option_fields().is_empty() {
        Some("ACK")
    } else {
        None
    };
    if let Some(place) = place {
        options_check(v, place, &payload);
        counts.option_lists += 1;
    }
}

/// The options a vector lists, as (type, value) in order, each value encoded from its field.
fn listed_options(v: &Vector) -> Vec<(u8, Vec<u8>)> {
    v.option_fields()
        .into_iter()
        .map(|(kind, key, text)| {
            let value = match kind {
                TRANSFER_SIZE | RESUME_FROM => v.num::<u64>(key).to_le_bytes().to_vec(),
                WINDOW | RESULT | REFUSE => vec![v.num::<u8>(key)],
                DIGEST => vec![algorithm(v, text).code()],
                SACK => {
                    let (value, len) = options::sack_value(sack_bitmap(v));
                    value[..len].to_vec()
                }
                DIGEST_VALUE | OBJECT_ID => v.bytes(key),
                NAME => text.as_bytes().to_vec(),
                _ => unreachable!(),
            };
            (kind, value)
        })
        .collect()
}

/// `sack: 2 3` is the frames at k = 2 and 3: bits 1 and 2.
fn sack_bitmap(v: &Vector) -> u64 {
    v.req("sack").split_whitespace().fold(0, |bitmap, k| {
        let k: u32 = k.parse().unwrap_or_else(|_| panic!("{v}: bad sack frame `{k}`"));
        assert!((1..=64).contains(&k), "{v}: sack frame k = {k} is not in 1..=64");
        bitmap | 1 << (k - 1)
    })
}

/// Where each option type may appear (PROTOCOL.md §4).
fn allowed_in(kind: u8) -> &'static [&'static str] {
    match kind {
        TRANSFER_SIZE | NAME | OBJECT_ID => &["SYN"],
        WINDOW | DIGEST => &["SYN", "SYN|ACK"],
        SACK => &["ACK"],
        DIGEST_VALUE => &["FIN"],
        RESULT => &["FIN|ACK"],
        REFUSE => &["SYN|ACK", "ACK", "FIN|ACK", "FIN"],
        RESUME_FROM => &["SYN|ACK"],
        _ => &[],
    }
}

fn options_check(v: &Vector, place: &str, payload: &[u8]) {
    let listed = listed_options(v);

    // The values are in the ranges of PROTOCOL.md §4, and each type where it may appear.
    for (kind, value) in &listed {
        assert!(allowed_in(*kind).contains(&place), "{v}: option type {kind} in a {place}");
        let ok = match *kind {
            WINDOW if place == "SYN" => (1..=64).contains(&value[0]),
            WINDOW => (2..=64).contains(&value[0]),
            DIGEST => DigestAlgorithm::from_code(value[0]).is_some(),
            SACK => (1..=8).contains(&value.len()),
            DIGEST_VALUE => value.len() == 4 || value.len() == 32,
            RESULT => value[0] <= 1,
            NAME => !value.is_empty() && value.len() <= 255,
            REFUSE => (1..=6).contains(&value[0]),
            OBJECT_ID => (8..=32).contains(&value.len()),
            _ => true,
        };
        assert!(ok, "{v}: option type {kind} has a value out of range: {value:02x?}");
    }
    if place == "SYN|ACK" {
        assert!(
            listed.windows(2).all(|w| w[0].0 < w[1].0),
            "{v}: a SYN|ACK's options go in ascending type order"
        );
    }

    // The writers produce the payload: the options, then nothing or zeros.
    let mut encoded = vec![0u8; 600];
    let mut at = 0;
    for (kind, value) in &listed {
        let written = options::write_option(&mut encoded[at..], *kind, value).expect("room");
        if *kind == TRANSFER_SIZE {
            let mut other = [0u8; 16];
            let size = u64::from_le_bytes(value[..].try_into().unwrap());
            let n = options::write_transfer_size(&mut other, size).expect("room");
            assert_eq!(&other[..n], &encoded[at..at + written], "{v}: write_transfer_size");
        }
        at += written;
    }
    assert!(payload.len() >= at, "{v}: the payload is shorter than its options");
    assert_eq!(&payload[..at], &encoded[..at], "{v}: the payload is not its options, encoded");
    assert!(payload[at..].iter().all(|&b| b == 0), "{v}: after its options the payload has more than zeros");

    // The generic iterator reads back exactly these options.
    let read: Vec<_> = Options::new(payload).collect();
    let expected: Vec<_> = listed.iter().map(|(kind, value)| Ok(RawOption { kind: *kind, value })).collect();
    assert_eq!(read, expected, "{v}: Options");
    assert!(Options::new(payload).is_well_formed(), "{v}: well formed");

    let value_of = |kind: u8| listed.iter().find(|(k, _)| *k == kind).map(|(_, value)| value.clone());
    let window = value_of(WINDOW).map(|w| w[0]);
    let digest = value_of(DIGEST).map(|d| DigestAlgorithm::from_code(d[0]).unwrap());
    // The readers of `name`, `refuse` and `object-id` (types 7 to 9), wherever they appear.
    assert_eq!(options::name(payload), value_of(NAME).as_deref(), "{v}: name");
    assert_eq!(options::refuse(payload), value_of(REFUSE).map(|r| r[0]), "{v}: refuse");
    assert_eq!(options::object_id(payload), value_of(OBJECT_ID).as_deref(), "{v}: object-id");
    let resume_from = value_of(RESUME_FROM).map(|r| u64::from_le_bytes(r[..].try_into().unwrap()));
    match place {
        "SYN" => {
            let offers = SynOptions::parse(payload);
            assert_eq!(
                offers.transfer_size,
                value_of(TRANSFER_SIZE).map(|s| u64::from_le_bytes(s[..].try_into().unwrap()))
            );
            assert_eq!(offers.window, window, "{v}: SynOptions window");
            assert_eq!(offers.digest, digest, "{v}: SynOptions digest");
            let extension = listed.iter().any(|(kind, _)| *kind >= WINDOW);
            assert_eq!(offers.extension, extension, "{v}: SynOptions extension");
        }
        "SYN|ACK" => {
            // Offered exactly what is granted (a grant may equal the offer); a resume point
            // answers an object id offered with a size it fits in.
            let offer = SynOptions {
                transfer_size: resume_from.map(|r| r + 512),
                window,
                digest,
                extension: true,
                resume: resume_from.is_some(),
            };
            assert_eq!(
                Grants::parse(payload, &offer),
                Ok(Grants { window, digest, resume_from }),
                "{v}: Grants"
            );
            if let Some(w) = window {
                let smaller = SynOptions { window: Some(w - 1), ..offer };
                assert!(
                    Grants::parse(payload, &smaller).is_err(),
                    "{v}: a window above the offer is an error"
                );
            }
        }
        "ACK" => {
            let bitmap = value_of(SACK).map(|_| sack_bitmap(v));
            assert_eq!(options::sack(payload), bitmap, "{v}: sack");
        }
        "FIN" => match value_of(DIGEST_VALUE) {
            Some(value) => assert_eq!(options::digest_value(payload, value.len()), Some(&value[..]), "{v}"),
            None => {
                assert_eq!(options::digest_value(payload, 4), None, "{v}");
                assert_eq!(options::digest_value(payload, 32), None, "{v}");
            }
        },
        "FIN|ACK" => {
            let result = value_of(RESULT).map(|r| r[0] == 0);
            assert_eq!(options::result(payload), result, "{v}: result");
        }
        _ => {}
    }
}

fn reject_check(v: &Vector) {
    let bytes = v.bytes("bytes");
    let error = frame::decode(&bytes).map(|f| f.repr).expect_err(&format!("{v}: decodes"));
    let len = bytes.len();
    let expected = match v.req("error") {
        "truncated" => DecodeError::Truncated { len },
        "oversized" => DecodeError::Oversized { len },
        "reserved-flags" => DecodeError::ReservedFlags { flags: u16::from_le_bytes([bytes[10], bytes[11]]) },
        "syn-and-fin" => DecodeError::SynAndFin,
        "seq-out-of-range" => {
            DecodeError::SeqOutOfRange { seq: u32::from_le_bytes(bytes[0..4].try_into().unwrap()) }
        }
        "ack-out-of-range" => {
            DecodeError::AckOutOfRange { ack: u32::from_le_bytes(bytes[4..8].try_into().unwrap()) }
        }
        other => panic!("{v}: unknown error `{other}`"),
    };
    assert_eq!(error, expected, "{v}");
}

/// Returns whether the digest was computed (its feature is on).
fn digest_check(v: &Vector) -> bool {
    let algorithm = algorithm(v, v.req("algorithm"));
    let input = match (v.get("text"), v.get("data")) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(_)) => v.bytes("data"),
        _ => panic!("{v}: give `text` or `data`"),
    };
    let value = v.bytes("value");
    assert_eq!(value.len(), algorithm.value_len(), "{v}: value length");
    let computed: Option<Vec<u8>> = match algorithm {
        #[cfg(feature = "crc32c")]
        DigestAlgorithm::Crc32c => Some(digest_of(algorithm, &input)),
        #[cfg(feature = "sha256")]
        DigestAlgorithm::Sha256 => Some(digest_of(algorithm, &input)),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = &input;
            assert!(Hasher::new(algorithm).is_none(), "{v}: the feature is off but the hasher exists");
            None
        }
    };
    if let Some(computed) = &computed {
        assert_eq!(computed, &value, "{v}: digest");
    }
    computed.is_some()
}

/// The digest of `input`, fed in two pieces.
#[cfg(any(feature = "crc32c", feature = "sha256"))]
fn digest_of(algorithm: DigestAlgorithm, input: &[u8]) -> Vec<u8> {
    let mut hasher = Hasher::new(algorithm).expect("the feature is on");
    let (a, b) = input.split_at(input.len() / 3);
    hasher.update(a);
    hasher.update(b);
    hasher.value().as_bytes().to_vec()
}

fn seq_check(v: &Vector) {
    let start = seq_num(v, "start");
    let add: u32 = v.num("add");
    let result = seq_num(v, "result");
    assert_eq!(start + add, result, "{v}: start + add");
    assert_eq!(result - start, add % MAX_SEQ, "{v}: the distance from start to result");
}

fn trace_check(v: &Vector) {
    let repr = frame::decode(&v.bytes("bytes")).unwrap_or_else(|e| panic!("{v}: does not decode: {e}")).repr;
    let line = v.req("line");
    let dup = line.ends_with(" DUP");
    let trace = match line.split_whitespace().next() {
        Some("SEND") => Trace::send(repr, dup),
        Some("RECV") => Trace::recv(repr, dup),
        Some("DROP") => Trace::drop(repr, DropReason::Unexpected),
        _ => panic!("{v}: a line starts with SEND, RECV or DROP"),
    };
    assert_eq!(trace.to_string(), line, "{v}: trace line");
}

/// The frames of §13.6 are one coherent transfer.
fn whole_transfer_check(by_name: &BTreeMap<&str, &Vector>) {
    let frame = |name: &str| {
        let v = by_name.get(name).unwrap_or_else(|| panic!("no vector `{name}`"));
        (
            frame::decode(&v.bytes("bytes")).unwrap().repr,
            v.get("payload").map(|_| v.bytes("payload")).unwrap_or_default(),
        )
    };
    let (syn, _) = frame("example-1-syn");
    let (syn_ack, _) = frame("example-2-syn-ack");
    let (third, data) = frame("example-3-third-frame");
    let (ack, _) = frame("example-4-ack");
    let (fin, fin_payload) = frame("example-5-fin");
    let (fin_ack, _) = frame("example-6-fin-ack");
    let (last, _) = frame("example-7-final-ack");
    let (isn, risn, conn) = (syn.seq, syn_ack.seq, syn_ack.conn);
    assert_eq!((syn.ack.get(), syn.conn), (0, 0));
    assert_eq!(syn_ack.ack, isn + 1);
    assert_eq!((third.seq, third.ack, third.conn), (isn + 1, risn + 1, conn));
    let end = isn + 1 + data.len() as u32;
    assert_eq!((ack.seq, ack.ack, ack.conn), (risn + 1, end, conn));
    assert_eq!((fin.seq, fin.ack, fin.conn, fin.flags), (end, risn + 1, conn, Flags::FIN));
    assert_eq!((fin_ack.seq, fin_ack.ack, fin_ack.conn), (risn + 1, end + 1, conn));
    assert_eq!((last.seq, last.ack, last.conn, last.flags), (end + 1, risn + 2, conn, Flags::ACK));
    #[cfg(feature = "crc32c")]
    assert_eq!(
        options::digest_value(&fin_payload, 4),
        Some(&digest_of(DigestAlgorithm::Crc32c, &data)[..]),
        "the FIN's digest-value is the CRC-32C of the data"
    );
    let _ = fin_payload;
}

#[derive(Default)]
struct Counts {
    option_lists: usize,
    digests_skipped: usize,
}

#[test]
fn every_vector_of_protocol_md_holds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../PROTOCOL.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors = extract(&doc);

    let mut by_name = BTreeMap::new();
    for v in &vectors {
        assert!(by_name.insert(v.name.as_str(), v).is_none(), "{v}: the name is used twice");
    }
    for name in REQUIRED {
        assert!(by_name.contains_key(name), "PROTOCOL.md has no vector `{name}` (SPEC §9, §10.3)");
    }
    for (kind, least) in AT_LEAST {
        let found = vectors.iter().filter(|v| v.kind == kind).count();
        assert!(
            found >= least,
            "PROTOCOL.md has {found} vectors of kind `{kind}`, expected at least {least}"
        );
    }

    let mut counts = Counts::default();
    for v in &vectors {
        match v.kind.as_str() {
            "frame" => frame_check(v, &mut counts),
            "options" => {
                options_check(v, v.req("in"), &v.bytes("payload"));
                counts.option_lists += 1;
            }
            "reject" => reject_check(v),
            "digest" => {
                if !digest_check(v) {
                    counts.digests_skipped += 1;
                }
            }
            "seq" => seq_check(v),
            "trace" => trace_check(v),
            _ => unreachable!("checked by extract"),
        }
    }
    whole_transfer_check(&by_name);
    println!(
        "{} vectors checked ({} option lists); {} digest vectors skipped (feature off)",
        vectors.len(),
        counts.option_lists,
        counts.digests_skipped
    );
}

/// The extractor itself: near misses are errors, not silently skipped blocks.
#[test]
fn format_slips_fail() {
    let ok = "text\n```vector\nid: a\nkind: seq\nstart: 1\nadd: 1\nresult: 2\n```\n```\nname: b\n```\n";
    assert_eq!(extract(ok).len(), 1);
    for bad in [
        "```vectors\nid: a\nkind: seq\n```\n",
        "```Vector\nid: a\nkind: seq\n```\n",
        "```vector\nid: a\nkind: seq\nstrat: 1\n```\n",
        "```vector\nid: a\nkind: sequence\n```\n",
        "```vector\nkind: seq\n```\n",
        "```vector\nid: a\nkind: seq\nadd 1\n```\n",
        "```vector\nid: a\nkind: seq\n",
    ] {
        assert!(std::panic::catch_unwind(|| extract(bad)).is_err(), "accepted: {bad:?}");
    }
    assert_eq!(hex("00*3 ff").unwrap(), [0, 0, 0, 0xff]);
    assert!(hex("0").is_err() && hex("zz").is_err() && hex("00*x").is_err());
}
