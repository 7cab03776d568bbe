//! Compile-only tests per operator family: every function compiles, the
//! metadata keeps its invariants, traps and calls are where they should
//! be, and what the tier does not cover is `Unsupported`.

mod common;

use common::{Module, disassemble, tier};
use rung_baseline::{BaselineTier, Features};
use rung_decoder::{DecoderConfig, Event, ModuleEnv, decode_all};
use rung_testkit::TIERED;
use rung_tiering::{CompileError, Tier, TrapCode};
use rung_validator::ModuleValidator;

fn compiles(wat: &str) -> Vec<rung_tiering::CompiledFunction> {
    let m = Module::from_wat(wat);
    m.compile_all(&tier())
}

fn traps(f: &rung_tiering::CompiledFunction) -> Vec<TrapCode> {
    f.trap_sites.iter().map(|s| s.trap).collect()
}

#[test]
fn integer_arithmetic() {
    let fs = compiles(
        r#"(module
        (func (param i32 i32) (result i32)
          local.get 0 local.get 1 i32.add local.get 0 i32.sub local.get 1 i32.mul
          local.get 0 i32.and local.get 1 i32.or local.get 0 i32.xor
          local.get 1 i32.shl local.get 0 i32.shr_s local.get 1 i32.shr_u
          local.get 0 i32.rotl local.get 1 i32.rotr i32.clz i32.ctz i32.popcnt
          i32.const 7 i32.add i32.const 3 i32.shl i32.extend8_s i32.extend16_s)
        (func (param i64 i64) (result i64)
          local.get 0 local.get 1 i64.add i64.const 0x123456789 i64.mul
          local.get 1 i64.rotl i64.clz local.get 0 i64.popcnt i64.ctz i64.sub
          i64.extend32_s)
        (func (param i32 i32) (result i32)
          local.get 0 local.get 1 i32.div_s local.get 0 local.get 1 i32.rem_s
          local.get 0 local.get 1 i32.div_u local.get 0 local.get 1 i32.rem_u
          i32.add i32.add i32.add)
        (func (param i64) (result i64)
          local.get 0 i64.const -1 i64.div_s local.get 0 i64.const 0 i64.rem_u i64.add)
        (func (result i32) i32.const 6 i32.const 7 i32.mul i32.const 2 i32.shl))"#,
    );
    assert!(traps(&fs[2]).contains(&TrapCode::IntegerDivisionByZero));
    assert!(traps(&fs[2]).contains(&TrapCode::IntegerOverflow));
    assert!(traps(&fs[3]).contains(&TrapCode::IntegerOverflow));
    // Folded to a constant: no arithmetic instruction.
    let text = disassemble(&fs[4]);
    assert!(text.contains("mov     eax,0A8h"), "{text}");
}

#[test]
fn comparisons_fuse_with_branches() {
    let fs = compiles(
        r#"(module
        (func (param i32 i32) (result i32)
          local.get 0 local.get 1 i32.lt_s
          if (result i32) i32.const 1 else i32.const 2 end)
        (func (param i64 i64) (result i64)
          block local.get 0 local.get 1 i64.ge_u br_if 0 end
          local.get 0 local.get 1 i64.ne i32.eqz
          if (result i64) local.get 0 else local.get 1 end)
        (func (param i32) (result i32)
          local.get 0 i32.const 3 i32.eq))"#,
    );
    let text = disassemble(&fs[0]);
    assert!(text.contains("jge"), "{text}");
    assert!(!text.contains("setl"), "{text}");
    let text = disassemble(&fs[2]);
    assert!(text.contains("sete"), "{text}");
}

#[test]
fn floats_and_conversions() {
    compiles(
        r#"(module
        (func (param f32 f32) (result f32)
          local.get 0 local.get 1 f32.add local.get 1 f32.sub local.get 0 f32.mul
          local.get 1 f32.div f32.sqrt local.get 0 f32.min local.get 1 f32.max
          local.get 0 f32.copysign f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest)
        (func (param f64 f64) (result i32)
          local.get 0 local.get 1 f64.eq local.get 0 local.get 1 f64.ne i32.add
          local.get 0 local.get 1 f64.lt i32.add local.get 0 local.get 1 f64.gt i32.add
          local.get 0 local.get 1 f64.le i32.add local.get 0 local.get 1 f64.ge i32.add)
        (func (param f64) (result i64)
          local.get 0 i64.trunc_f64_s local.get 0 i64.trunc_f64_u i64.add
          local.get 0 i64.trunc_sat_f64_s i64.add local.get 0 i64.trunc_sat_f64_u i64.add
          local.get 0 i32.trunc_f64_s i64.extend_i32_s i64.add
          local.get 0 i32.trunc_f64_u i64.extend_i32_u i64.add
          local.get 0 f32.demote_f64 i32.trunc_sat_f32_u i64.extend_i32_u i64.add)
        (func (param i64 i32) (result f64)
          local.get 0 f64.convert_i64_u local.get 0 f64.convert_i64_s f64.add
          local.get 1 f64.convert_i32_u f64.add local.get 1 f64.convert_i32_s f64.add
          local.get 0 f32.convert_i64_u f64.promote_f32 f64.add
          local.get 0 f64.reinterpret_i64 f64.add i64.reinterpret_f64 f64.reinterpret_i64))"#,
    );
}

#[test]
fn rounding_needs_sse41() {
    let m = Module::from_wat("(module (func (param f64) (result f64) local.get 0 f64.floor))");
    let e = m
        .compile(&BaselineTier::with_features(Features::NONE), 0)
        .expect_err("no roundsd");
    assert!(e.is_unsupported(), "{e}");
    // The fallbacks for the bit counts compile.
    let m = Module::from_wat(
        "(module (func (param i64) (result i64) local.get 0 i64.clz local.get 0 i64.ctz i64.add local.get 0 i64.popcnt i64.add))",
    );
    let f = m
        .compile(&BaselineTier::with_features(Features::NONE), 0)
        .expect("compiles");
    let text = disassemble(&f);
    assert!(text.contains("bsr") && text.contains("bsf"), "{text}");
    assert!(!text.contains("popcnt"), "{text}");
}

#[test]
fn control_flow_and_multi_value() {
    compiles(
        r#"(module
        (func (param i32) (result i32 i64 f32)
          local.get 0 i64.const 2 f32.const 3
          block (param i32 i64 f32) (result i32 i64 f32)
            local.get 0 br_if 0
            drop drop drop i32.const 4 i64.const 5 f32.const 6
          end)
        (func (param i32) (result i32)
          block block block
            local.get 0 br_table 0 1 2 2
          end i32.const 1 return end i32.const 2 return end i32.const 3)
        (func (param i32) (result i32) (local i32)
          loop (result i32)
            local.get 1 i32.const 1 i32.add local.tee 1
            local.get 0 i32.lt_u br_if 0
            local.get 1
          end)
        (func (param i32 f64) (result f64)
          local.get 1 local.get 1 local.get 0 select
          local.get 1 f64.const 0 local.get 0 i32.const 3 i32.gt_s select f64.add)
        (func (param i32) (result i32)
          local.get 0 if (result i32) unreachable else i32.const 1 end)
        (func (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
          i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5
          i32.const 6 i32.const 7 i32.const 8 i32.const 9 i32.const 10
          block (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
            i32.const 0 br_if 0
          end))"#,
    );
}

#[test]
fn memory_and_globals() {
    let fs = compiles(
        r#"(module
        (memory 1) (memory $m2 2)
        (global $g (mut i64) (i64.const 5)) (global $f (mut f32) (f32.const 1))
        (func (param i32) (result i64)
          local.get 0 i64.load offset=8 local.get 0 i64.load32_s i64.add
          local.get 0 i64.load8_u i64.add local.get 0 i64.load16_s offset=0xffffffff i64.add
          i32.const 100 i64.load i64.add)
        (func (param i32 f64)
          local.get 0 local.get 1 f64.store local.get 0 i32.const 3 i32.store16
          i32.const 8 i64.const 0x1234567890 i64.store
          local.get 0 f32.const 1 f32.store $m2 offset=4)
        (func (result i32)
          global.get $g i64.const 1 i64.add global.set $g
          global.get $f f32.const 2 f32.mul global.set $f
          memory.size i32.const 1 memory.grow i32.add memory.size $m2 i32.add)
        (func (param i32 i32 i32)
          local.get 0 local.get 1 local.get 2 memory.fill
          local.get 0 local.get 1 local.get 2 memory.copy
          local.get 0 local.get 1 local.get 2 memory.init 0 data.drop 0)
        (data "abc"))"#,
    );
    assert!(traps(&fs[0]).contains(&TrapCode::MemoryOutOfBounds));
}

#[test]
fn imported_memory_table_and_globals() {
    compiles(
        r#"(module
        (import "m" "mem" (memory 1))
        (import "m" "tab" (table 2 funcref))
        (import "m" "g" (global $g (mut i32)))
        (import "m" "f" (func $f (param i32) (result i32)))
        (type $t (func (param i32) (result i32)))
        (func (param i32) (result i32)
          local.get 0 i32.load global.get $g i32.add global.set $g
          local.get 0 call $f
          local.get 0 i32.const 0 call_indirect (type $t) i32.add
          table.size i32.add))"#,
    );
}

#[test]
fn calls_tables_and_references() {
    let fs = compiles(
        r#"(module
        (type $t (func (param i32) (result i32)))
        (table $t0 4 funcref) (table $t1 4 externref)
        (elem declare func $f)
        (func $f (param i32) (result i32) local.get 0)
        (func (param i32) (result i32)
          local.get 0 call $f local.get 0 local.get 0 call_indirect $t0 (type $t) i32.add)
        (func (param i32 externref) (result i32)
          local.get 0 local.get 1 table.set $t1
          local.get 0 table.get $t1 ref.is_null
          ref.func $f i32.const 1 table.grow $t0 i32.add
          i32.const 0 ref.null func i32.const 1 table.fill $t0
          i32.const 0 i32.const 1 i32.const 1 table.copy $t0 $t0
          i32.const 0 i32.const 0 i32.const 0 table.init $t0 0 elem.drop 0
          table.size $t1 i32.add)
        (func (param i32) (result i32)
          local.get 0 ref.func $f call_ref $t)
        (func (param funcref) (result funcref)
          block local.get 0 br_on_null 0 drop end
          block (result funcref) local.get 0 br_on_non_null 0 ref.null func end
          ref.as_non_null)
        (elem $e func $f))"#,
    );
    assert!(traps(&fs[1]).contains(&TrapCode::UndefinedElement));
    assert!(traps(&fs[1]).contains(&TrapCode::IndirectCallToNull));
    assert!(traps(&fs[1]).contains(&TrapCode::BadSignature));
    assert!(traps(&fs[2]).contains(&TrapCode::TableOutOfBounds));
    assert!(traps(&fs[3]).contains(&TrapCode::NullFunctionReference));
}

#[test]
fn tail_calls() {
    compiles(
        r#"(module
        (type $t (func (param i32) (result i32)))
        (table 1 funcref)
        (func $few (param i32) (result i32) local.get 0)
        (func $many (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i32) i32.const 0)
        (func (param i32) (result i32) local.get 0 return_call $few)
        (func (param i32) (result i32)
          i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6
          i64.const 7 i64.const 8 i64.const 9 return_call $many)
        (func (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i32) i32.const 1 return_call $few)
        (func (param i32) (result i32) local.get 0 local.get 0 return_call_indirect (type $t)))"#,
    );
}

#[test]
fn many_locals_and_params() {
    compiles(
        r#"(module
        (func (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i64) (result i64)
          (local i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64)
          local.get 17 local.get 9 i64.add local.get 5 i64.add)
        (func (result f64 f64 f64 f64 f64 f64 f64 f64 f64 f64)
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 10))"#,
    );
}

#[test]
fn unsupported_operators_and_types() {
    // Every SIMD operator compiles (issue 9, part 2b).
    let m = Module::from_wat(
        "(module (memory 1) (func (param i32) (result i32) local.get 0 v128.load i8x16.popcnt i32x4.extract_lane 0))",
    );
    m.compile(&tier(), 0).expect("simd");
    // try_table, throw and throw_ref compile (issue 10): a call in a
    // handler's scope gets a landing pad; so do the legacy `try` and a
    // try_table in a function without memory 0 (which then saves r15).
    let m = Module::from_wat(
        "(module (memory 1) (tag $e (param i32)) (func $f (param i32) local.get 0 throw $e) \
         (func (result i32) block (result i32) try_table (catch $e 0) i32.const 3 call $f end \
         i32.const 0 end))",
    );
    m.compile(&tier(), 0).expect("throw");
    let f = m.compile(&tier(), 1).expect("try_table");
    assert_eq!(f.handlers.len(), 1, "{:?}", f.handlers);
    for wat in [
        "(module (memory 1) (tag $e) (func try call 0 catch $e rethrow 0 end))",
        "(module (tag $e) (func block try_table (catch_all 0) call 0 end end))",
        "(module (tag $e) (func try try call 0 delegate 0 catch_all end))",
    ] {
        let f = Module::from_wat(wat).compile(&tier(), 0).expect(wat);
        assert!(!f.handlers.is_empty(), "{wat}");
    }
    // GC operators do not compile: Unsupported at the operator's offset.
    let wat = "(module (type $s (struct)) (func (result anyref) struct.new $s))";
    let m = Module::from_wat(wat);
    match m.compile(&tier(), 0).expect_err(wat) {
        CompileError::Unsupported { offset, .. } => {
            assert!(offset > m.bodies[0].1, "{wat}: {offset}");
        }
        other => panic!("{wat}: {other}"),
    }
    // v128 parameters compile; SIMD without SSE4.1 does not.
    let m = Module::from_wat("(module (func (param v128)))");
    m.compile(&tier(), 0).expect("v128 parameter");
    let sse2 = BaselineTier::with_features(Features::NONE);
    let m = Module::from_wat("(module (func (param v128)))");
    assert!(m.compile(&sse2, 0).expect_err("sse2").is_unsupported());
    let m = Module::from_wat("(module (func (result i32) v128.const i64x2 0 0 v128.any_true))");
    assert!(m.compile(&sse2, 0).expect_err("sse2").is_unsupported());
    // Atomics compile (ARCHITECTURE.md, "Threads"), on 64-bit memories
    // too; so do 64-bit loads (ARCHITECTURE.md, "64-bit memories and
    // tables").
    for wat in [
        "(module (memory 1 1 shared) (func (param i32) (result i32) local.get 0 i32.atomic.load))",
        "(module (memory i64 1 1 shared) (func (param i64) (result i32) local.get 0 i32.atomic.load))",
        "(module (memory i64 1) (func (param i64) (result i32) local.get 0 i32.load))",
    ] {
        Module::from_wat(wat).compile(&tier(), 0).expect(wat);
    }
}

/// v128 values in 16-byte value-stack slots: across calls, at block
/// entries, under xmm pressure; blocks, loops and ifs with v128 types;
/// calls, tail calls, globals and `select` of v128 (issue 9, part 2b).
#[test]
fn v128_spills_blocks_and_calls() {
    let m = Module::from_wat(
        r#"(module
        (global $g (mut v128) (v128.const i64x2 1 2))
        (func $g (param v128 f64 v128) (result v128 i32 v128) local.get 0 i32.const 1 local.get 2)
        (func (param v128) (result v128)
          local.get 0 i32x4.neg local.get 0 f64.const 1 local.get 0 call $g drop drop i32x4.add)
        (func (param v128 i32) (result v128)
          local.get 0 i32x4.neg
          block (param v128) (result v128)
            loop (param v128) (result v128)
              i32x4.neg local.get 1 br_if 0
            end
          end
          local.get 0 local.get 1 if (param v128) (result v128) i32x4.neg else i32x4.abs end
          local.get 1 select
          global.get $g i32x4.add global.set $g global.get $g)
        (func (param v128) (result v128 i32 v128)
          local.get 0 f64.const 2 local.get 0 i32x4.neg return_call $g)
        (func (param v128 v128 v128 v128 v128 v128 v128 v128 v128 v128) (result v128)
          local.get 9 local.get 0 f64.const 3 local.get 8 call $g drop drop i32x4.sub))"#,
    );
    for f in 1..5 {
        m.compile(&tier(), f).expect("v128 values");
    }
    // Seventeen v128 values live at once: more than the allocator's xmm
    // registers, so one spills.
    let gets = "local.get 0 i32x4.neg ".repeat(17);
    let adds = "i32x4.add ".repeat(16);
    let m = Module::from_wat(&format!(
        "(module (func (param v128) (result v128) {gets} {adds}))"
    ));
    m.compile(&tier(), 0).expect("v128 pressure");
}

/// The compile jobs of every body, from stage 1.
fn jobs(
    bytes: &[u8],
) -> (
    ModuleEnv,
    Vec<(rung_decoder::FunctionBody<'static>, rung_validator::FuncJob)>,
) {
    let mut validator = ModuleValidator::default();
    let mut out = Vec::new();
    let mut sink = |_: &ModuleEnv, e: Event<'_>| {
        if let Some(job) = validator.event(&e).expect("stage 1") {
            let Event::FunctionBody(b) = e else {
                unreachable!()
            };
            let bytes: &'static [u8] = Box::leak(b.bytes.to_vec().into_boxed_slice());
            out.push((
                rung_decoder::FunctionBody {
                    index: b.index,
                    offset: b.offset,
                    bytes,
                },
                job,
            ));
        }
        Ok::<_, rung_decoder::DecodeError>(())
    };
    let env = decode_all(bytes, DecoderConfig::default(), &mut sink).expect("decodes");
    (env, out)
}

#[test]
fn validation_errors_are_invalid_with_the_offset() {
    // `i32.add` of an i32 and an i64, at a known offset.
    let bytes = wat::parse_str(
        "(module (func (param i32 i64) (result i32) local.get 0 local.get 1 i32.add))",
    )
    .expect("wat");
    let (env, jobs) = jobs(&bytes);
    let offsets = rung_tiering::VmOffsets::for_host(&env).expect("layout");
    let (body, job) = jobs.into_iter().next().expect("one body");
    let err = tier()
        .compile_validating(&env, body.index, body, &offsets, &TIERED, job)
        .expect_err("invalid");
    let add = bytes.iter().rposition(|&b| b == 0x6a).expect("i32.add") as u64;
    match err {
        CompileError::Invalid {
            message,
            offset,
            func,
        } => {
            assert_eq!(func, 0);
            assert_eq!(offset, add, "{message}");
            assert!(message.contains("type mismatch"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn validating_compile_matches_plain_compile() {
    let bytes = wat::parse_str(
        r#"(module (memory 1)
        (func (param i32) (result i32) (local i64 f64)
          local.get 0 i32.load local.get 0 i32.const 1 i32.add i32.mul
          block (result i32) i32.const 2 local.get 0 br_if 0 drop i32.const 3 end i32.add))"#,
    )
    .expect("wat");
    let (env, jobs) = jobs(&bytes);
    let offsets = rung_tiering::VmOffsets::for_host(&env).expect("layout");
    for (body, job) in jobs {
        let a = tier()
            .compile_validating(&env, body.index, body, &offsets, &TIERED, job)
            .expect("valid");
        let b = tier()
            .compile(&env, body.index, body, &offsets, &TIERED)
            .expect("compiles");
        assert_eq!(a.code, b.code);
        assert_eq!(a.trap_sites, b.trap_sites);
        assert_eq!(a.offset_map, b.offset_map);
    }
}

#[test]
fn offsets_map_traps_to_their_operator() {
    let wat = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=4))";
    let m = Module::from_wat(wat);
    let f = m.compile(&tier(), 0).expect("compiles");
    let load = m.bytes.iter().rposition(|&b| b == 0x28).expect("i32.load") as u32;
    let site = f
        .trap_sites
        .iter()
        .find(|s| s.trap == TrapCode::MemoryOutOfBounds)
        .expect("bounds check");
    assert_eq!(f.wasm_offset(site.code_offset), Some(load));
    let so = f
        .trap_sites
        .iter()
        .find(|s| s.trap == TrapCode::StackOverflow)
        .expect("stack check");
    assert_eq!(f.wasm_offset(so.code_offset), Some(m.bodies[0].1 as u32));
    assert_eq!(f.stats.tier, "baseline");
    assert!(
        f.frame_size >= 24 && f.frame_size % 16 == 8,
        "{}",
        f.frame_size
    );
}

#[test]
fn the_optimizer_snapshot_modules_compile() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../optimizer/tests/snapshots");
    let (mut n, mut simd, mut simd_ok) = (0, 0, 0);
    for family in std::fs::read_dir(&root).expect("snapshots") {
        let family = family.expect("entry").path();
        // The optimizer compiles SIMD (issue 9, part 1), and so does the
        // baseline, every function of it (part 2b).
        let is_simd = family.file_name().is_some_and(|n| n == "simd");
        for f in std::fs::read_dir(&family).expect("family") {
            let p = f.expect("entry").path();
            if p.extension().is_some_and(|e| e == "wat") {
                let m = Module::from_wat(&std::fs::read_to_string(&p).expect("read"));
                if !is_simd {
                    n += m.compile_all(&tier()).len();
                    continue;
                }
                for i in 0..m.bodies.len() {
                    match m.compile(&tier(), i) {
                        Ok(_) => simd_ok += 1,
                        other => panic!("{}: {i}: {other:?}", p.display()),
                    }
                    simd += 1;
                }
            }
        }
    }
    assert!(n > 10, "{n}");
    assert!(simd > 10, "{simd}");
    assert_eq!(simd_ok, simd);
}

#[test]
fn interrupt_checks_at_entry_and_back_edges_only_when_asked() {
    // The entry and the back-edge; the leaf only its entry.
    assert_eq!(rung_testkit::interrupt_checks(&tier(), true), [2, 1]);
    assert_eq!(rung_testkit::interrupt_checks(&tier(), false), [0, 0]);
}
