//! Helpers shared by the root package's integration tests: a deterministic
//! PRNG, chunk plans, a comparable summary of decoder events, and drivers that
//! push a module through `StreamingDecoder` in a given plan of chunks.
//!
//! **Invariant:** nothing here decides a verdict on its own: every driver
//! returns exactly what `push`/`finish` (and the validator) said, so that the
//! tests can compare one split of the bytes against another.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use rung_decoder::{
    Decoder, DecoderConfig, Event, EventSink, ModuleEnv, StreamingDecoder, decode_all,
};
use rung_validator::{Discard, FEATURES, ValidateError, Validating};

/// How many cases a property test runs: `PROPTEST_CASES` (what `cargo
/// xtask fuzz --cases N` sets), else `default` (what CI runs).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: small, fast, deterministic; good enough to cut bytes into
/// chunks and to pick mutations.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // The state must never be zero.
        XorShift(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// FNV-1a of some bytes: a stable seed per module or test case.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How to cut a module into the chunks that are pushed.
#[derive(Debug, Clone)]
pub enum Chunking {
    /// One push of everything.
    Whole,
    /// Fixed-size chunks (the last one shorter).
    Fixed(usize),
    /// Chunk sizes drawn uniformly from `1..=max`.
    Random { seed: u64, max: usize },
    /// Cut at these offsets (any order, duplicates give empty pushes).
    At(Vec<usize>),
}

impl Chunking {
    /// The byte ranges pushed, in order; together they cover `0..len`.
    pub fn ranges(&self, len: usize) -> Vec<Range<usize>> {
        match self {
            Chunking::Whole => std::iter::once(0..len).collect(),
            Chunking::Fixed(n) => (0..len)
                .step_by((*n).max(1))
                .map(|s| s..(s + n).min(len))
                .collect(),
            Chunking::Random { seed, max } => {
                let mut rng = XorShift::new(*seed);
                let mut out = Vec::new();
                let mut pos = 0;
                while pos < len {
                    let end = (pos + rng.range(1, *max)).min(len);
                    out.push(pos..end);
                    pos = end;
                }
                out
            }
            Chunking::At(cuts) => {
                let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(len)).collect();
                cuts.sort_unstable();
                let mut out = Vec::new();
                let mut pos = 0;
                for c in cuts {
                    out.push(pos..c);
                    pos = c;
                }
                out.push(pos..len);
                out
            }
        }
    }
}

/// The verdict of a run: what matters of an error is where and what.
pub type Verdict = Result<(), (u64, String)>;

pub fn verdict<T>(r: &Result<T, ValidateError>) -> Verdict {
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err((e.offset, e.message.clone())),
    }
}

/// Decodes and validates `bytes` pushed in `chunking`'s chunks through
/// `StreamingDecoder` + `Validating::new(FEATURES, Discard)`.
pub fn stream_validate(bytes: &[u8], chunking: &Chunking) -> Result<(), ValidateError> {
    let mut decoder = StreamingDecoder::new(DecoderConfig::default());
    let mut sink = Validating::new(FEATURES, Discard);
    for r in chunking.ranges(bytes.len()) {
        decoder.push(&bytes[r], &mut sink)?;
    }
    decoder.finish(&mut sink)
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// An [`Event`] reduced to something comparable and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Header {
        version: u16,
        range: Range<u64>,
    },
    Section {
        id: u8,
        range: Range<u64>,
    },
    CodeSectionStart {
        count: u32,
        range: Range<u64>,
    },
    FunctionBody {
        index: u32,
        offset: u64,
        len: usize,
        hash: u64,
    },
    DataSegment {
        index: u32,
        range: Range<u64>,
        len: usize,
        hash: u64,
    },
    CustomSection {
        name: String,
        range: Range<u64>,
        /// Length and hash of the data, `None` when skipped.
        data: Option<(usize, u64)>,
    },
    End {
        offset: u64,
    },
}

impl Ev {
    pub fn of(event: &Event<'_>) -> Ev {
        match event {
            Event::Header { version, range } => Ev::Header {
                version: *version,
                range: range.clone(),
            },
            Event::Section { id, range, .. } => Ev::Section {
                id: id.id(),
                range: range.clone(),
            },
            Event::CodeSectionStart { count, range } => Ev::CodeSectionStart {
                count: *count,
                range: range.clone(),
            },
            Event::FunctionBody(body) => Ev::FunctionBody {
                index: body.index,
                offset: body.offset,
                len: body.bytes.len(),
                hash: hash_of(body.bytes),
            },
            Event::DataSegment { index, data } => Ev::DataSegment {
                index: *index,
                range: data.range.clone(),
                len: data.data.len(),
                hash: hash_of(data.data),
            },
            Event::CustomSection { name, range, data } => Ev::CustomSection {
                name: name.to_string(),
                range: range.clone(),
                data: data.map(|d| (d.len(), hash_of(d))),
            },
            Event::End { offset } => Ev::End { offset: *offset },
        }
    }
}

/// A sink that records every event it sees.
#[derive(Debug, Default)]
pub struct Recorder {
    pub events: Vec<Ev>,
}

impl EventSink for Recorder {
    type Error = ValidateError;
    fn event(&mut self, _: &ModuleEnv, event: Event<'_>) -> Result<(), ValidateError> {
        self.events.push(Ev::of(&event));
        Ok(())
    }
}

/// Everything one run observed: the events, the verdict, and (when the
/// decoder got that far) the env rendered comparably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub events: Vec<Ev>,
    pub verdict: Verdict,
    pub env: String,
}

/// `ModuleEnv` has no `PartialEq` and holds a `HashMap` whose `Debug` order
/// differs between instances: render it with the names sorted.
pub fn env_string(env: &ModuleEnv) -> String {
    let mut env = env.clone();
    let names: BTreeMap<u32, String> = std::mem::take(&mut env.function_names)
        .into_iter()
        .collect();
    format!("{env:?} names={names:?}")
}

/// Pushes `bytes` in `chunking`'s chunks, recording events; with `validate`,
/// the recorder sits behind `Validating` and sees only validated events.
pub fn run_chunked(
    bytes: &[u8],
    chunking: &Chunking,
    config: &DecoderConfig,
    validate: bool,
) -> Run {
    let mut decoder = StreamingDecoder::new(config.clone());
    let mut sink = Validating::new(FEATURES, Recorder::default());
    let mut plain = Recorder::default();
    let mut result = Ok(());
    for r in chunking.ranges(bytes.len()) {
        result = if validate {
            decoder.push(&bytes[r], &mut sink)
        } else {
            decoder.push(&bytes[r], &mut plain)
        };
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = if validate {
            decoder.finish(&mut sink)
        } else {
            decoder.finish(&mut plain)
        };
    }
    Run {
        events: if validate {
            sink.inner.events
        } else {
            plain.events
        },
        verdict: verdict(&result),
        env: env_string(decoder.env()),
    }
}

/// The reference: `decode_all` of the whole module (the env only when it
/// succeeds, as `decode_all` returns it only then).
pub fn run_decode_all(bytes: &[u8], config: &DecoderConfig, validate: bool) -> Run {
    let (events, result) = if validate {
        let mut sink = Validating::new(FEATURES, Recorder::default());
        let r = decode_all(bytes, config.clone(), &mut sink);
        (sink.inner.events, r)
    } else {
        let mut sink = Recorder::default();
        let r = decode_all(bytes, config.clone(), &mut sink);
        (sink.events, r)
    };
    Run {
        events,
        verdict: verdict(&result),
        env: result.as_ref().map(env_string).unwrap_or_default(),
    }
}

/// Builds a custom section: id 0, size, name, payload.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut contents = Vec::new();
    leb(&mut contents, name.len() as u32);
    contents.extend_from_slice(name.as_bytes());
    contents.extend_from_slice(payload);
    let mut out = vec![0];
    leb(&mut out, contents.len() as u32);
    out.extend_from_slice(&contents);
    out
}

pub fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The offsets of the section boundaries of a well-formed module: just after
/// the header, and after every section. `None` if the framing is broken.
pub fn section_boundaries(bytes: &[u8]) -> Option<Vec<usize>> {
    if bytes.len() < 8 {
        return None;
    }
    let mut out = vec![8];
    let mut pos = 8;
    while pos < bytes.len() {
        pos += 1;
        let mut size: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            size |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 28 {
                return None;
            }
        }
        pos = pos.checked_add(usize::try_from(size).ok()?)?;
        if pos > bytes.len() {
            return None;
        }
        out.push(pos);
    }
    Some(out)
}
