//! `StreamingDecoder`: the one implementation of [`Decoder`], wasmparser's
//! `Parser` driven over chunks, with custom sections skipped as they stream.
//!
//! Buffering: when nothing is buffered, a pushed chunk is parsed in place and
//! only its unconsumed tail is copied; otherwise the chunk is appended and
//! parsing is retried only once the buffer holds as many bytes as the parser
//! last asked for (`need`), so one-byte pushes cost O(1) each.
//!
//! Skipping: `Parser` hands out a custom section only when all of it is in
//! memory. To skip one without holding it, the decoder reads the section's
//! header itself, lets the bytes stream past, and then restarts the parser
//! at the end of the section. A fresh `Parser` has forgotten which section
//! came last and the counts it checks at the end (function vs. code entries,
//! data count vs. data entries), so the restart replays a synthetic prefix —
//! a header and one tiny section per remembered fact — ending exactly at the
//! real offset. The replayed payloads are discarded; no sink sees them.
//!
//! **Invariant:** `consumed` is the absolute offset of the first byte not yet
//! consumed, and equals `parser.offset()` whenever no section is being skipped.

use wasmparser::{BinaryReader, Chunk, Encoding, Parser, Payload};

use crate::{
    DecodeError, Decoder, DecoderConfig, Event, EventSink, FunctionBody, ModuleEnv, SectionId,
    SectionInfo,
};

/// The streaming decoder. See the crate docs for the events and the memory bound.
pub struct StreamingDecoder {
    config: DecoderConfig,
    parser: Parser,
    env: ModuleEnv,
    /// Unconsumed bytes; `buf[0]` is at absolute offset `consumed`.
    buf: Vec<u8>,
    /// Do not retry parsing until `buf` holds this many bytes.
    need: usize,
    /// Bytes of a skipped custom section that have not streamed past yet.
    skipping: u64,
    consumed: u64,
    header_done: bool,
    /// End of the code section's contents (0 before it): sections start only
    /// at or after it.
    code_end: u64,
    next_body: u32,
    done: bool,
    failed: Option<DecodeError>,
    replay: ReplayState,
    /// The size of the last pushed chunk, to size the buffer for the next.
    last_chunk: usize,
}

/// What a fresh `Parser` must be told again after a skipped section.
#[derive(Debug, Default, Clone, Copy)]
struct ReplayState {
    /// The last non-custom section, by its rank in the required order.
    last_rank: u8,
    function_entries: Option<u32>,
    code_entries: Option<u32>,
    data_count: Option<u32>,
    data_entries: Option<u32>,
}

/// Module sections in the order the binary format requires them.
const ORDER: [SectionId; 13] = [
    SectionId::Type,
    SectionId::Import,
    SectionId::Function,
    SectionId::Table,
    SectionId::Memory,
    SectionId::Tag,
    SectionId::Global,
    SectionId::Export,
    SectionId::Start,
    SectionId::Element,
    SectionId::DataCount,
    SectionId::Code,
    SectionId::Data,
];

fn rank(id: SectionId) -> u8 {
    ORDER
        .iter()
        .position(|&s| s == id)
        .map_or(0, |p| p as u8 + 1)
}

enum Peek<'a> {
    /// Not a skippable custom section: hand the bytes to the parser.
    Parse,
    /// The section header is incomplete.
    NeedMore,
    /// A custom section to skip: `total` bytes from its id byte on.
    Skip {
        name: &'a str,
        contents: std::ops::Range<u64>,
        total: u64,
    },
}

impl StreamingDecoder {
    pub fn new(config: DecoderConfig) -> Self {
        let mut parser = Parser::new(0);
        parser.set_features(config.features);
        let env = ModuleEnv {
            features: config.features,
            ..ModuleEnv::default()
        };
        StreamingDecoder {
            config,
            parser,
            env,
            buf: Vec::new(),
            need: 0,
            skipping: 0,
            consumed: 0,
            header_done: false,
            code_end: 0,
            next_body: 0,
            done: false,
            failed: None,
            replay: ReplayState::default(),
            last_chunk: 0,
        }
    }

    /// Gives up the decoder, keeping what it decoded.
    pub fn into_env(self) -> ModuleEnv {
        self.env
    }

    fn fail<E: From<DecodeError>>(&mut self, e: DecodeError) -> E {
        self.failed = Some(e.clone());
        e.into()
    }

    fn check_usable<E: From<DecodeError>>(&self) -> Result<(), E> {
        match &self.failed {
            Some(e) => Err(e.clone().into()),
            None => Ok(()),
        }
    }

    /// Parses as much of `data` (which starts at `consumed`) as it can and
    /// returns how many bytes it consumed.
    fn run<S: EventSink>(
        &mut self,
        data: &[u8],
        eof: bool,
        sink: &mut S,
    ) -> Result<usize, S::Error> {
        let mut pos = 0;
        self.need = 0;
        loop {
            if self.skipping > 0 {
                let n = self.skipping.min((data.len() - pos) as u64);
                pos += n as usize;
                self.skipping -= n;
                self.consumed += n;
                if self.skipping > 0 {
                    break;
                }
                if let Err(e) = self.restart_parser() {
                    return Err(self.fail(e));
                }
                continue;
            }
            let rest = &data[pos..];
            if self.done {
                if !rest.is_empty() {
                    let e =
                        DecodeError::new(self.consumed, "unexpected content after last section");
                    return Err(self.fail(e));
                }
                break;
            }
            if self.at_section_start() && !rest.is_empty() {
                match self.peek_custom(rest) {
                    Peek::Parse => {}
                    Peek::NeedMore if !eof => {
                        self.need = rest.len() + 1;
                        break;
                    }
                    Peek::NeedMore => {}
                    Peek::Skip {
                        name,
                        contents,
                        total,
                    } => {
                        self.env.sections.push(SectionInfo {
                            id: SectionId::Custom,
                            range: contents.clone(),
                            name: Some(name.to_string()),
                        });
                        let event = Event::CustomSection {
                            name,
                            range: contents,
                            data: None,
                        };
                        if let Err(e) = sink.event(&self.env, event) {
                            self.failed = Some(DecodeError::new(self.consumed, "decoding stopped"));
                            return Err(e);
                        }
                        self.skipping = total;
                        continue;
                    }
                }
            }
            // Checked before parsing, whatever the bytes at hand: else a
            // body that fits in them would fail at its size field
            // (wasmparser's offset) and one cut off by a chunk's end at its
            // start, and the offset would depend on how the bytes arrived.
            if let Some(e) = self.body_past_code_end(rest) {
                return Err(self.fail(e));
            }
            match self.parser.parse(rest, eof) {
                Err(e) => return Err(self.fail(e.into())),
                Ok(Chunk::NeedMoreData(hint)) => {
                    self.need = rest.len().saturating_add(hint);
                    break;
                }
                Ok(Chunk::Parsed { consumed, payload }) => {
                    pos += consumed;
                    self.consumed += consumed as u64;
                    if let Err(e) = self.handle(&payload, sink) {
                        if self.failed.is_none() {
                            self.failed = Some(DecodeError::new(self.consumed, "decoding stopped"));
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(pos)
    }

    /// Inside the code section, `rest` starts at a body's size field: a
    /// size that runs past the section's end is "unexpected end-of-file"
    /// where the body would start, as soon as the size is read (not after
    /// the rest of the module has been held in the buffer waiting for a
    /// body that cannot fit), however the bytes are split.
    fn body_past_code_end(&self, rest: &[u8]) -> Option<DecodeError> {
        // Only where a body is due: after the last one the section's
        // leftover bytes are wasmparser's to report ("trailing bytes").
        let due = self.replay.code_entries.unwrap_or(0);
        if self.code_end == 0 || self.consumed >= self.code_end || self.next_body >= due {
            return None;
        }
        let mut r = BinaryReader::new(rest, self.consumed);
        let size = r.read_var_u32().ok()?;
        let body_start = self.consumed + r.current_position() as u64;
        (body_start + u64::from(size) > self.code_end)
            .then(|| DecodeError::new(body_start, "unexpected end-of-file"))
    }

    fn at_section_start(&self) -> bool {
        self.header_done && self.consumed >= self.code_end
    }

    /// Reads a section header at the start of `rest`; says whether it is a
    /// custom section to skip.
    fn peek_custom<'a>(&self, rest: &'a [u8]) -> Peek<'a> {
        if rest[0] != 0 || self.config.retain_custom_sections {
            return Peek::Parse;
        }
        let mut r = BinaryReader::new(rest, self.consumed);
        let incomplete =
            |e: &wasmparser::BinaryReaderError| e.message() == "unexpected end-of-file";
        if r.read_u8().is_err() {
            return Peek::Parse;
        }
        let size = match r.read_var_u32() {
            Ok(size) => u64::from(size),
            Err(e) if incomplete(&e) => return Peek::NeedMore,
            Err(_) => return Peek::Parse,
        };
        let header = r.current_position() as u64;
        let name = match r.read_string() {
            Ok(name) => name,
            // The name is cut off by the end of the bytes so far, and the
            // section may still hold it whole: wait for more.
            Err(e) if incomplete(&e) && (rest.len() as u64) < header + size => {
                return Peek::NeedMore;
            }
            Err(_) => return Peek::Parse,
        };
        if r.current_position() as u64 > header + size
            || (name == "name" && (self.config.decode_names || self.config.deliver_names))
        {
            return Peek::Parse;
        }
        let start = self.consumed + header;
        Peek::Skip {
            name,
            contents: start..start + size,
            total: header + size,
        }
    }

    /// Starts a new `Parser` at `consumed`, in the state the old one would be
    /// in after the skipped section (see the module docs).
    fn restart_parser(&mut self) -> Result<(), DecodeError> {
        let r = self.replay;
        let mut prefix = b"\0asm\x01\0\0\0".to_vec();
        let mut section = |id: SectionId, count: u32| {
            let mut leb = Vec::new();
            let mut v = count;
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    leb.push(byte);
                    break;
                }
                leb.push(byte | 0x80);
            }
            prefix.push(id.id());
            prefix.push(leb.len() as u8);
            prefix.extend_from_slice(&leb);
        };
        for (i, &id) in ORDER.iter().enumerate() {
            let here = i as u8 + 1;
            if here > r.last_rank {
                break;
            }
            let count = match id {
                SectionId::Function => r.function_entries,
                SectionId::DataCount => r.data_count,
                SectionId::Code => r.code_entries,
                SectionId::Data => r.data_entries,
                _ => None,
            };
            match count {
                Some(n) => section(id, n),
                None if here == r.last_rank => section(id, 0),
                None => {}
            }
        }
        let broken = || DecodeError::new(0, "internal error: could not restart the parser");
        let start = self
            .consumed
            .checked_sub(prefix.len() as u64)
            .ok_or_else(broken)?;
        let mut parser = Parser::new(start);
        parser.set_features(self.config.features);
        let mut data = &prefix[..];
        while !data.is_empty() {
            match parser.parse(data, false).map_err(|_| broken())? {
                Chunk::Parsed { consumed, payload } => {
                    data = &data[consumed..];
                    if let Payload::CodeSectionStart { .. } = payload {
                        parser.skip_section();
                    }
                }
                Chunk::NeedMoreData(_) => return Err(broken()),
            }
        }
        debug_assert_eq!(parser.offset(), self.consumed);
        self.parser = parser;
        Ok(())
    }

    fn handle<S: EventSink>(
        &mut self,
        payload: &Payload<'_>,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let id = match payload {
            Payload::Version {
                num,
                encoding,
                range,
            } => {
                if *encoding != Encoding::Module {
                    let e = DecodeError::new(range.start, "components are not supported");
                    return Err(self.fail(e));
                }
                self.header_done = true;
                let event = Event::Header {
                    version: *num,
                    range: range.clone(),
                };
                return sink.event(&self.env, event);
            }
            Payload::CustomSection(reader) => {
                let (data, offset) = (reader.data(), reader.data_offset());
                if reader.name() == "name" && self.config.decode_names {
                    self.env.add_name_section(data, offset);
                }
                let range = reader.range();
                self.env.sections.push(SectionInfo {
                    id: SectionId::Custom,
                    range: range.clone(),
                    name: Some(reader.name().to_string()),
                });
                let event = Event::CustomSection {
                    name: reader.name(),
                    range,
                    data: Some(data),
                };
                return sink.event(&self.env, event);
            }
            Payload::CodeSectionStart {
                count,
                unchecked_range,
                ..
            } => {
                self.code_end = unchecked_range.end;
                self.replay.code_entries = Some(*count);
                self.replay.last_rank = rank(SectionId::Code);
                self.env.code_section = Some((*count, unchecked_range.clone()));
                self.env.sections.push(SectionInfo {
                    id: SectionId::Code,
                    range: unchecked_range.clone(),
                    name: None,
                });
                let event = Event::CodeSectionStart {
                    count: *count,
                    range: unchecked_range.clone(),
                };
                return sink.event(&self.env, event);
            }
            Payload::CodeSectionEntry(body) => {
                let index = self
                    .env
                    .counts
                    .imported_functions
                    .wrapping_add(self.next_body);
                self.next_body += 1;
                let body = FunctionBody {
                    index,
                    offset: body.range().start,
                    bytes: body.as_bytes(),
                };
                return sink.event(&self.env, Event::FunctionBody(body));
            }
            Payload::End(offset) => {
                self.done = true;
                return sink.event(&self.env, Event::End { offset: *offset });
            }
            Payload::UnknownSection { id, range, .. } => {
                let e = DecodeError::new(range.start, format!("malformed section id: {id}"));
                return Err(self.fail(e));
            }
            Payload::TypeSection(_) => SectionId::Type,
            Payload::ImportSection(_) => SectionId::Import,
            Payload::FunctionSection(s) => {
                self.replay.function_entries = Some(s.count());
                SectionId::Function
            }
            Payload::TableSection(_) => SectionId::Table,
            Payload::MemorySection(_) => SectionId::Memory,
            Payload::TagSection(_) => SectionId::Tag,
            Payload::GlobalSection(_) => SectionId::Global,
            Payload::ExportSection(_) => SectionId::Export,
            Payload::StartSection { .. } => SectionId::Start,
            Payload::ElementSection(_) => SectionId::Element,
            Payload::DataCountSection { count, .. } => {
                self.replay.data_count = Some(*count);
                SectionId::DataCount
            }
            Payload::DataSection(s) => {
                self.replay.data_entries = Some(s.count());
                SectionId::Data
            }
            #[allow(unreachable_patterns)]
            _ => {
                let e = DecodeError::new(self.consumed, "components are not supported");
                return Err(self.fail(e));
            }
        };
        self.replay.last_rank = rank(id);
        if let Err(e) = self.env.add_payload(payload) {
            return Err(self.fail(e));
        }
        let range = payload_range(payload);
        self.env.sections.push(SectionInfo {
            id,
            range: range.clone(),
            name: None,
        });
        sink.event(&self.env, Event::Section { id, range, payload })?;
        if let Payload::DataSection(s) = payload {
            for (index, data) in s.clone().into_iter().enumerate() {
                let data = match data {
                    Ok(data) => data,
                    Err(e) => return Err(self.fail(e.into())),
                };
                let event = Event::DataSegment {
                    index: index as u32,
                    data: &data,
                };
                sink.event(&self.env, event)?;
            }
        }
        Ok(())
    }
}

fn payload_range(payload: &Payload<'_>) -> std::ops::Range<u64> {
    match payload {
        Payload::StartSection { range, .. } | Payload::DataCountSection { range, .. } => {
            range.clone()
        }
        Payload::TypeSection(s) => s.range(),
        Payload::ImportSection(s) => s.range(),
        Payload::FunctionSection(s) => s.range(),
        Payload::TableSection(s) => s.range(),
        Payload::MemorySection(s) => s.range(),
        Payload::TagSection(s) => s.range(),
        Payload::GlobalSection(s) => s.range(),
        Payload::ExportSection(s) => s.range(),
        Payload::ElementSection(s) => s.range(),
        Payload::DataSection(s) => s.range(),
        _ => 0..0,
    }
}

/// How far beyond the bytes there a size field is believed when the buffer
/// is sized (see `reserve_for_item`).
const MAX_RESERVE_AHEAD: usize = 64 << 20;

impl StreamingDecoder {
    /// Gives back what the buffer has beyond the room `reserve_for_item`
    /// would make now (after a data section of megabytes, the next items
    /// are small): the buffer holds room for the unfinished item, not for
    /// the largest item so far (python's data section: 7 MB held to the
    /// end of the stream).
    fn release_spare(&self, buf: &mut Vec<u8>) {
        let slack = 2 * self.last_chunk.max(64 << 10);
        if buf.is_empty() {
            // The next chunk is parsed in place.
            if buf.capacity() > slack {
                *buf = Vec::new();
            }
            return;
        }
        let len = buf.len();
        let keep = len.max(self.need.min(len + MAX_RESERVE_AHEAD)) + self.last_chunk;
        if buf.capacity() > keep + slack {
            buf.shrink_to(keep);
        }
    }

    /// Makes room for `more` bytes. The buffer is sized once for the whole
    /// unfinished item (`need`) plus one chunk like the last, instead of
    /// doubling, so it stays within one item plus one chunk. A size field
    /// that promises more than has arrived is believed only up to
    /// `MAX_RESERVE_AHEAD` beyond what is there: a lying header cannot make
    /// the decoder allocate memory the input never fills.
    fn reserve_for_item(&mut self, more: usize) {
        let len = self.buf.len();
        let want = (len + more).max(self.need.min(len + MAX_RESERVE_AHEAD)) + self.last_chunk;
        if self.buf.capacity() < len + more {
            self.buf.reserve_exact(want - len);
        }
    }
}

impl Decoder for StreamingDecoder {
    fn push<S: EventSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), S::Error> {
        self.check_usable()?;
        self.last_chunk = chunk.len();
        if self.buf.is_empty() {
            let used = self.run(chunk, false, sink)?;
            let tail = &chunk[used..];
            if !tail.is_empty() {
                self.reserve_for_item(tail.len());
                self.buf.extend_from_slice(tail);
            }
        } else {
            self.reserve_for_item(chunk.len());
            self.buf.extend_from_slice(chunk);
            if self.buf.len() >= self.need {
                let mut buf = std::mem::take(&mut self.buf);
                let result = self.run(&buf, false, sink);
                if let Ok(used) = result {
                    buf.drain(..used);
                    self.release_spare(&mut buf);
                }
                self.buf = buf;
                result?;
            }
        }
        Ok(())
    }

    fn finish<S: EventSink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        self.check_usable()?;
        if self.done {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let used = self.run(&buf, true, sink)?;
        self.buf = buf;
        self.buf.drain(..used);
        if self.skipping > 0 {
            let e = DecodeError::new(self.consumed, "unexpected end-of-file");
            return Err(self.fail(e));
        }
        if !self.done {
            let e = DecodeError::new(self.consumed, "unexpected end-of-file");
            return Err(self.fail(e));
        }
        Ok(())
    }

    fn env(&self) -> &ModuleEnv {
        &self.env
    }

    fn offset(&self) -> u64 {
        self.consumed
    }

    fn buffered(&self) -> usize {
        self.buf.len()
    }
}
