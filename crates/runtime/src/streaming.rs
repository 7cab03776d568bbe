//! Streaming compilation: a module compiles while its bytes are still
//! arriving.
//!
//! ```text
//! push(chunk) ─► StreamingDecoder ─► stage 1 (sections, on this thread)
//!                      │ FunctionBody, the moment its last byte arrives
//!                      ▼
//!               bounded channel ─► the engine's compile threads (a
//!                                  `scheduler::Stream`): stage 2 + compile
//!                                  (the baseline validates while it compiles)
//!                                  + copy into the `CodeArena` (a chunk turns
//!                                  read-execute once all its code is written)
//! finish() ─► end of stream checked ─► last chunk flipped, slots linked ─► Module
//! ```
//!
//! **Invariant:** beyond the function bodies kept for later compilation
//! (lazy or tier-up), the pipeline holds the decoder's one unfinished item and
//! one chunk, plus the bodies waiting (at most `32 × compile_threads` of
//! them and 1 MiB of their bytes, or one larger body) and one per thread
//! compiling (the pushing thread among them): the queue is bounded by
//! count and by bytes, and when it is full `push` compiles the oldest
//! waiting body itself, so
//! a fast source gets one compiler more instead of a blocked thread
//! (cc1 unthrottled: 650 ms against 870–985 ms blocking, batch 540–610).
//! What a compiled function leaves behind is what the module keeps: its
//! code and compact metadata in the arena (`code_memory::Sites`,
//! `OsrTable`) and a 32-byte `Compiled` record until `finish`; the
//! compile threads' scratch is bounded (the baseline's pool is not kept
//! after a body over 64 KiB) and the decoder's buffer shrinks back after
//! a big item. So peak RSS is the finished module's plus ~2 MiB (cc1
//! baseline: 93 MiB, of which code 61 MiB; batch 138 MiB, which also
//! holds the file and a copy of its code section).
//!
//! **Invariant:** nothing of a failed module stays observable: each body's
//! code goes into the module's [`CodeArena`] as it is compiled, but it is
//! registered and reachable only in `finish`, after every function
//! compiled; an error unmaps the arena.
//!
//! **Invariant (fail fast):** `push` returns an error as soon as it is
//! known, not at `finish`: a malformed or invalid section, or a body size
//! that runs past the code section, when the decoder reads it; a body that
//! does not validate or compile, at the first `push` after its compile
//! thread reports it. Bodies after a failed one are dropped unrun, bodies
//! before it finish (one of them may have failed too: the first in binary
//! order is the error), and before `push` returns, every compile of the
//! stream has ended and what it produced is freed: the arena unmapped, the
//! kept code section and queued bodies dropped, the decoder and stage 1
//! started over empty (the process's heap and `code_bytes_mapped` are
//! where they were before the first push, but for the error the stream
//! keeps; `tests/streaming_errors.rs`). The stream then stays failed:
//! `push` and `finish` return the same error, the one `Module::new`
//! reports: the first in binary order (a malformed section after a bad
//! body waits for the bodies sent before it, and the body's error wins,
//! as in a one-pass reader; `tests/robustness.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rung_decoder::{Decoder, DecoderConfig, Event, EventSink, ModuleEnv, StreamingDecoder};
use rung_tiering::VmOffsets;
use rung_validator::{FuncJob, ModuleValidator, ValidateError};

use crate::Error;
use crate::code_memory::CodeArena;
use crate::engine::Engine;
use crate::module::{
    Compiled, DataSegment, Module, Parts, arena_region_size, compile_one, keeps_bodies,
};
use crate::scheduler::Stream;

/// How many bodies may wait for the compile threads, per thread, and how
/// many of their bytes in all (a larger body waits alone): enough that the
/// compile threads rarely find the queue empty while the pushing thread
/// compiles a body itself (with 4 waiting, cc1's stream spent ~10% of its
/// CPU time on the pool's sleeps and wake-ups), few enough to be a small
/// part of memory.
const QUEUED_BODIES: usize = 32;
const QUEUED_BYTES: usize = 1 << 20;

/// One body on its way to a compile thread.
struct Job {
    /// Its position among the module's bodies.
    position: usize,
    job: FuncJob,
    offset: u64,
    bytes: Vec<u8>,
}

/// What the compile threads produced: each body's small record by
/// position, and the first error in binary order.
#[derive(Default)]
struct Results {
    compiled: Vec<Option<Compiled>>,
    error: Option<(usize, Error)>,
}

type Done = Arc<parking_lot::Mutex<Results>>;

/// How far a streaming compile has got ([`StreamingCompiler::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamProgress {
    /// Bytes pushed so far.
    pub bytes_pushed: u64,
    /// Bytes the decoder has read through (the rest wait in its buffer
    /// for the item they belong to).
    pub bytes_decoded: u64,
    /// Function bodies sent to the compile threads.
    pub bodies_queued: usize,
    /// Bodies compiled (validated only, for a lazy engine).
    pub bodies_compiled: usize,
    /// Wasm bytes of the compiled bodies.
    pub body_bytes_compiled: u64,
    /// Whether the whole code section has arrived (every body queued).
    pub code_section_received: bool,
    /// From the stream's start to the first body compiled.
    pub first_compiled: Option<Duration>,
}

/// A milestone of a streaming compile, as it happens
/// ([`StreamingCompiler::on_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The first body finished compiling (on a compile thread): `func`,
    /// `after` the stream's start.
    FirstFunctionCompiled { func: u32, after: Duration },
    /// The code section's last byte arrived: every body is queued (on the
    /// pushing thread).
    CodeSectionReceived { bodies: usize, after: Duration },
}

type Listener = Arc<dyn Fn(StreamEvent) + Send + Sync>;

/// The counters behind [`StreamProgress`], shared with the compile threads.
struct Progress {
    started: Instant,
    bytes_pushed: AtomicU64,
    bodies_compiled: AtomicUsize,
    body_bytes_compiled: AtomicU64,
    code_section_received: AtomicBool,
    first_compiled: OnceLock<Duration>,
    listener: OnceLock<Listener>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            bytes_pushed: AtomicU64::new(0),
            bodies_compiled: AtomicUsize::new(0),
            body_bytes_compiled: AtomicU64::new(0),
            code_section_received: AtomicBool::new(false),
            first_compiled: OnceLock::new(),
            listener: OnceLock::new(),
        }
    }

    fn event(&self, event: StreamEvent) {
        if let Some(listener) = self.listener.get() {
            listener(event);
        }
    }

    /// A body of `len` bytes compiled.
    fn compiled(&self, func: u32, len: usize) {
        self.body_bytes_compiled
            .fetch_add(len as u64, Ordering::Relaxed);
        self.bodies_compiled.fetch_add(1, Ordering::Release);
        let mut first = false;
        let after = *self.first_compiled.get_or_init(|| {
            first = true;
            self.started.elapsed()
        });
        if first {
            self.event(StreamEvent::FirstFunctionCompiled { func, after });
        }
    }
}

/// The module's compile jobs on the engine's compile threads, started when
/// the code section begins (the env is complete then: every section a body
/// refers to comes before it).
struct Workers {
    stream: Stream<Job>,
    done: Done,
    offsets: Arc<VmOffsets>,
    /// The position of the first body whose compile failed (`usize::MAX`:
    /// none yet): later bodies are dropped unrun.
    failed_at: Arc<AtomicUsize>,
    /// Where the compile threads put the code (`None`: validate only).
    arena: Option<Arc<CodeArena>>,
}

impl Workers {
    fn start(
        engine: &Engine,
        env: &ModuleEnv,
        arena: Option<Arc<CodeArena>>,
        progress: Arc<Progress>,
    ) -> Result<Workers, Error> {
        let offsets = Arc::new(
            VmOffsets::for_host(env).map_err(|error| Error::Compile { func: None, error })?,
        );
        let env = Arc::new(env.clone());
        let threads = engine.config().compile_threads.max(1);
        let done: Done = Arc::default();
        let failed_at = Arc::new(AtomicUsize::new(usize::MAX));
        let (e, o, d, f) = (
            engine.clone(),
            offsets.clone(),
            done.clone(),
            failed_at.clone(),
        );
        let a = arena.clone();
        let stream = Stream::new(
            &engine.inner.scheduler,
            threads,
            QUEUED_BODIES * threads,
            QUEUED_BYTES,
            move |j: Job| {
                if j.position > f.load(Ordering::Acquire) {
                    // An earlier body failed: the module is lost anyway.
                    return;
                }
                let body = rung_decoder::FunctionBody {
                    index: j.job.index(),
                    offset: j.offset,
                    bytes: &j.bytes,
                };
                let func = body.index;
                let result = compile_one(&e, &env, &o, body, j.job, a.as_deref());
                let mut done = d.lock();
                match result {
                    Ok(compiled) => {
                        progress.compiled(func, j.bytes.len());
                        if done.compiled.len() <= j.position {
                            done.compiled.resize_with(j.position + 1, || None);
                        }
                        done.compiled[j.position] = Some(compiled);
                    }
                    Err(e) => {
                        f.fetch_min(j.position, Ordering::AcqRel);
                        // Function order is offset order: the first wins.
                        if done.error.as_ref().is_none_or(|(at, _)| j.position < *at) {
                            done.error = Some((j.position, e));
                        }
                    }
                }
            },
        );
        Ok(Workers {
            stream,
            done,
            offsets,
            failed_at,
            arena,
        })
    }

    /// Whether a body's compile has failed.
    fn failed(&self) -> bool {
        self.failed_at.load(Ordering::Acquire) != usize::MAX
    }

    /// The stream failed elsewhere: drops the queued bodies unrun, waits
    /// for the running ones, and frees every result.
    fn abandon(self) {
        self.failed_at.store(0, Ordering::Release);
        self.stream.finish();
        *self.done.lock() = Results::default();
    }

    /// Waits for every body sent so far; returns the results by position,
    /// or the first error in binary order (every body before a failed one
    /// has run).
    fn finish(self, count: usize) -> Result<(Vec<Compiled>, Option<Arc<CodeArena>>), Error> {
        self.stream.finish();
        let Results { compiled, error } = std::mem::take(&mut *self.done.lock());
        if let Some((_, e)) = error {
            return Err(e);
        }
        if compiled.len() != count || compiled.iter().any(Option::is_none) {
            return Err(Error::Resource("a compile thread stopped".into()));
        }
        Ok((compiled.into_iter().flatten().collect(), self.arena))
    }
}

/// The code section kept for lazy compilation or tier-up, written body by
/// body by offset (the size fields between bodies are left as zeros). A
/// section of up to 1 GiB is written straight into the allocation the
/// module keeps (cc1: no 20 MiB copy at `finish`, and 20 MiB less peak
/// memory); a larger one, which its header may only claim, grows as it
/// arrives.
enum KeptCode {
    Exact {
        bytes: Arc<[std::mem::MaybeUninit<u8>]>,
        /// Bytes initialized so far, from the start.
        written: usize,
    },
    Growing(Vec<u8>),
}

impl KeptCode {
    fn new(len: usize) -> KeptCode {
        if len <= 1 << 30 {
            KeptCode::Exact {
                bytes: Arc::new_uninit_slice(len),
                written: 0,
            }
        } else {
            KeptCode::Growing(Vec::with_capacity(1 << 30))
        }
    }

    /// Writes `body` at `at` from the section's start.
    fn put(&mut self, at: usize, body: &[u8]) -> Result<(), Error> {
        match self {
            KeptCode::Growing(code) => {
                code.resize(at, 0);
                code.extend_from_slice(body);
            }
            KeptCode::Exact { bytes, written } => {
                let outside = || Error::Resource("a function body outside its code section".into());
                let end = at.checked_add(body.len()).ok_or_else(outside)?;
                let dst = Arc::get_mut(bytes).ok_or_else(outside)?;
                if at < *written || end > dst.len() {
                    return Err(outside());
                }
                for b in &mut dst[*written..at] {
                    b.write(0);
                }
                // SAFETY: `at..end` is inside `dst` (checked above), which
                // this writer holds alone, and does not overlap `body`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        body.as_ptr(),
                        dst[at..end].as_mut_ptr().cast::<u8>(),
                        body.len(),
                    );
                }
                *written = end;
            }
        }
        Ok(())
    }

    /// The whole section (a tail that never arrived is zeros).
    fn finish(self) -> Arc<[u8]> {
        match self {
            KeptCode::Growing(code) => Arc::from(code),
            KeptCode::Exact { mut bytes, written } => {
                let dst = Arc::get_mut(&mut bytes)
                    .expect("the kept code section is never shared before finish");
                for b in &mut dst[written..] {
                    b.write(0);
                }
                // SAFETY: every byte is initialized: `..written` by `put`,
                // the rest just now.
                unsafe { bytes.assume_init() }
            }
        }
    }
}

/// The event sink of a streaming compile.
struct Sink {
    engine: Engine,
    progress: Arc<Progress>,
    stage1: ModuleValidator,
    workers: Option<Workers>,
    bodies: usize,
    locations: Vec<(u64, usize)>,
    /// The code section, kept for lazy compilation or tier-up.
    code_section: Option<(u64, KeptCode)>,
    data: Vec<DataSegment>,
    /// The name section's contents, undecoded (`LazyNames`).
    name_section: Option<Box<[u8]>>,
}

impl EventSink for Sink {
    type Error = Error;

    fn event(&mut self, env: &ModuleEnv, event: Event<'_>) -> Result<(), Error> {
        let job = self.stage1.event(&event).map_err(Error::Invalid)?;
        match event {
            Event::CodeSectionStart { range, .. } => {
                let code_len = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
                let arena = (!self.engine.config().lazy)
                    .then(|| Arc::new(CodeArena::new(arena_region_size(code_len))));
                self.workers = Some(Workers::start(
                    &self.engine,
                    env,
                    arena,
                    self.progress.clone(),
                )?);
                self.code_section_received_if_complete(env);
                if keeps_bodies(&self.engine) {
                    let len = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
                    self.code_section = Some((range.start, KeptCode::new(len)));
                }
            }
            Event::FunctionBody(body) => {
                let (Some(job), Some(workers)) = (job, &self.workers) else {
                    return Err(Error::Resource(
                        "a function body outside the code section".into(),
                    ));
                };
                if let Some((start, code)) = &mut self.code_section {
                    code.put((body.offset - *start) as usize, body.bytes)?;
                }
                self.locations.push((body.offset, body.bytes.len()));
                let sent = workers.stream.push(
                    Job {
                        position: self.bodies,
                        job,
                        offset: body.offset,
                        bytes: body.bytes.to_vec(),
                    },
                    body.bytes.len(),
                );
                if !sent {
                    return Err(Error::Resource("the compile threads stopped".into()));
                }
                self.bodies += 1;
                self.code_section_received_if_complete(env);
                self.check_workers()?;
            }
            Event::DataSegment { data, .. } => self.data.push(DataSegment::new(data)),
            Event::CustomSection {
                name: "name",
                data: Some(data),
                ..
            } if self.name_section.is_none() => self.name_section = Some(data.into()),
            _ => {}
        }
        Ok(())
    }
}

impl Sink {
    /// Marks the code section received once every body is queued.
    fn code_section_received_if_complete(&self, env: &ModuleEnv) {
        let all = env.code_section.as_ref().map(|(count, _)| *count as usize);
        if all == Some(self.bodies) {
            self.progress
                .code_section_received
                .store(true, Ordering::Release);
            self.progress.event(StreamEvent::CodeSectionReceived {
                bodies: self.bodies,
                after: self.progress.started.elapsed(),
            });
        }
    }

    /// Fails the stream if a compile thread has reported an error: waits
    /// for the bodies before it and returns the first error.
    fn check_workers(&mut self) -> Result<(), Error> {
        if !self.workers.as_ref().is_some_and(Workers::failed) {
            return Ok(());
        }
        let workers = self.workers.take().expect("checked above");
        match workers.finish(self.bodies) {
            Err(e) => Err(e),
            Ok(_) => Err(Error::Resource(
                "a compile failed, then its result was lost".into(),
            )),
        }
    }

    /// The decoder stopped with `error`: a body before it that failed (its
    /// compile thread has it, or is on it) comes first in binary order, as
    /// `Module::new` and a one-pass reader report it. Waits for the bodies
    /// sent.
    fn first_error(&mut self, error: Error) -> Error {
        let Error::Invalid(decode) = &error else {
            return error;
        };
        let Some(workers) = self.workers.take() else {
            return error;
        };
        match workers.finish(self.bodies) {
            Err(Error::Invalid(body)) if body.offset < decode.offset => Error::Invalid(body),
            _ => error,
        }
    }

    /// Stops every compile of the stream and frees what it produced.
    fn abandon(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.abandon();
        }
        self.code_section = None;
        self.locations = Vec::new();
        self.data = Vec::new();
    }
}

impl From<rung_decoder::DecodeError> for Error {
    fn from(e: rung_decoder::DecodeError) -> Self {
        Error::Invalid(ValidateError::from(e))
    }
}

/// How the streaming compiler decodes.
fn decoder_config(engine: &Engine) -> DecoderConfig {
    DecoderConfig {
        decode_names: false,
        features: engine.config().features,
        // Kept undecoded for backtraces and profilers.
        deliver_names: true,
        ..DecoderConfig::default()
    }
}

/// A module being compiled while its bytes arrive: `push` chunks of any size
/// as they come, then `finish`.
pub struct StreamingCompiler {
    decoder: StreamingDecoder,
    sink: Sink,
    /// The error that ended the stream: every later call returns it.
    failed: Option<Error>,
}

impl StreamingCompiler {
    pub fn new(engine: &Engine) -> StreamingCompiler {
        tracing::info!(
            name: "StartStreamingCompilation",
            compile_threads = engine.config().compile_threads
        );
        StreamingCompiler {
            decoder: StreamingDecoder::new(decoder_config(engine)),
            sink: Sink {
                engine: engine.clone(),
                progress: Arc::new(Progress::new()),
                stage1: ModuleValidator::new(engine.config().features),
                workers: None,
                bodies: 0,
                locations: Vec::new(),
                code_section: None,
                data: Vec::new(),
                name_section: None,
            },
            failed: None,
        }
    }

    /// Feeds the next chunk; compiles every body it completes in the
    /// background. Returns the first error as soon as it is known (see the
    /// module docs): the decoder's at once, a body's once its compile
    /// thread has reported it. An error ends the stream: its compiles have
    /// stopped when `push` returns, and every later call returns the same
    /// error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.sink
            .progress
            .bytes_pushed
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let result = match self.decoder.push(chunk, &mut self.sink) {
            Ok(()) => self.sink.check_workers(),
            Err(e) => Err(self.sink.first_error(e)),
        };
        result.map_err(|e| self.fail(e))
    }

    /// How far the compile has got: callable between pushes (a thread
    /// that wants it while another pushes uses [`on_event`](Self::on_event)).
    pub fn progress(&self) -> StreamProgress {
        let p = &self.sink.progress;
        StreamProgress {
            bytes_pushed: p.bytes_pushed.load(Ordering::Relaxed),
            bytes_decoded: self.decoder.offset(),
            bodies_queued: self.sink.bodies,
            bodies_compiled: p.bodies_compiled.load(Ordering::Acquire),
            body_bytes_compiled: p.body_bytes_compiled.load(Ordering::Relaxed),
            code_section_received: p.code_section_received.load(Ordering::Acquire),
            first_compiled: p.first_compiled.get().copied(),
        }
    }

    /// Calls `listener` at each [`StreamEvent`], on the thread where it
    /// happens (a compile thread or the pushing one): keep it short. One
    /// listener per stream (a second call is ignored); set it before the
    /// first push to see every event.
    pub fn on_event(&mut self, listener: impl Fn(StreamEvent) + Send + Sync + 'static) {
        let _ = self.sink.progress.listener.set(Arc::new(listener));
    }

    /// Ends the stream with `error`: stops its compiles and frees all it
    /// holds (compiled code, queued bodies, the kept code section, and the
    /// decoder's and validator's state, which start over empty), so the
    /// process holds what it held when the stream began, plus the error.
    fn fail(&mut self, error: Error) -> Error {
        self.sink.abandon();
        self.decoder = StreamingDecoder::new(decoder_config(&self.sink.engine));
        self.sink.stage1 = ModuleValidator::new(self.sink.engine.config().features);
        self.sink.name_section = None;
        self.failed = Some(error.clone());
        error
    }

    /// Ends the stream: waits for the compile threads and builds the module.
    pub fn finish(mut self) -> Result<Module, Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if let Err(e) = self.decoder.finish(&mut self.sink) {
            let e = self.sink.first_error(e);
            return Err(self.fail(e));
        }
        let env = self.decoder.into_env();
        let sink = self.sink;
        let engine = sink.engine.clone();
        let (compiled, offsets) = match sink.workers {
            Some(workers) => {
                let offsets = (*workers.offsets).clone();
                (workers.finish(sink.bodies)?, offsets)
            }
            None => (
                (Vec::new(), None),
                VmOffsets::for_host(&env).map_err(|error| Error::Compile { func: None, error })?,
            ),
        };
        let (compiled, arena) = compiled;
        let arena = arena.unwrap_or_else(|| Arc::new(CodeArena::new(0)));
        let lazy = engine.config().lazy;
        Module::assemble(
            &engine,
            Parts {
                env,
                offsets,
                locations: sink.locations,
                compiled: (!lazy).then_some((compiled, arena)),
                code_section: sink
                    .code_section
                    .map(|(start, code)| (start, code.finish())),
                data: sink.data,
                name_section: sink.name_section,
            },
        )
    }
}

impl Module {
    /// Compiles a module from a reader, chunk by chunk as it reads: bodies
    /// compile while later bytes are still being read.
    pub fn from_reader(engine: &Engine, mut reader: impl std::io::Read) -> Result<Module, Error> {
        let mut compiler = StreamingCompiler::new(engine);
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Resource(format!("cannot read the module: {e}"))),
            };
            compiler.push(&chunk[..n])?;
        }
        compiler.finish()
    }
}
