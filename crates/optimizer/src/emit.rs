//! Compiling a translated `ir::Function` and turning Cranelift's finished
//! buffer into a [`CompiledFunction`].
//!
//! **Invariants** (a violation is `CompileError::Internal`, never silently
//! dropped): the code has no relocations (it must run wherever the runtime
//! copies it); every trap Cranelift recorded maps to a rung [`TrapCode`]
//! (see `traps`); trap sites and offset-map entries are strictly sorted and
//! inside the code, as [`CompiledFunction::check`] demands.

use std::time::Duration;

use cranelift_codegen::FinalizedMachExceptionHandler;
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::{CodegenError, Context, control::ControlPlane};
use rung_tiering::{CompileError, CompileStats, CompiledFunction, HandlerSite, TrapCode, TrapSite};

use crate::traps::{HEAP_TAGS, heap_tag, rung_trap};

/// Compiles `ctx.func` for `isa`. `wasm` is the absolute offset of the
/// body it was translated from and the offset of each of its linear-memory
/// accesses in order (`None` for a trampoline).
pub(crate) fn emit(
    isa: &dyn TargetIsa,
    ctx: &mut Context,
    wasm: Option<(u32, &[u32])>,
) -> Result<CompiledFunction, CompileError> {
    let code = ctx
        .compile(isa, &mut ControlPlane::default())
        .map_err(|e| codegen_error(e.inner, &e.func.display().to_string()))?;
    let buffer = &code.buffer;
    if let Some(reloc) = buffer.relocs().first() {
        return Err(CompileError::Internal(format!(
            "code is not position independent: relocation {reloc:?} ({} in all)",
            buffer.relocs().len()
        )));
    }
    let bytes = buffer.data().to_vec();

    let mut trap_sites = Vec::with_capacity(buffer.traps().len());
    // Faults of tagged linear-memory accesses: (code offset, tag).
    let mut tagged = Vec::new();
    for t in buffer.traps() {
        if let Some(tag) = heap_tag(t.code) {
            tagged.push((t.offset, tag));
        }
        let trap = rung_trap(t.code).ok_or_else(|| {
            CompileError::Internal(format!(
                "trap code {} at code offset {:#x} has no rung TrapCode",
                t.code, t.offset
            ))
        })?;
        trap_sites.push(TrapSite {
            code_offset: t.offset,
            trap,
        });
    }
    trap_sites.sort_by_key(|s| s.code_offset);
    trap_sites.dedup();
    if let Some(w) = trap_sites
        .windows(2)
        .find(|w| w[0].code_offset == w[1].code_offset)
    {
        return Err(CompileError::Internal(format!(
            "two trap codes at code offset {:#x}: {:?} and {:?}",
            w[0].code_offset, w[0].trap, w[1].trap
        )));
    }

    let mut offset_map: Vec<(u32, u32)> = buffer
        .get_srclocs_sorted()
        .iter()
        .filter(|s| s.start < s.end && !s.loc.is_default())
        .map(|s| (s.start, s.loc.bits()))
        .collect();
    offset_map.sort_by_key(|&(c, _)| c);
    offset_map.dedup_by_key(|&mut (c, _)| c);
    // The prologue (Cranelift's, with no source location) and the stack
    // check's trap belong to the function's start, as in the baseline: a
    // "call stack exhausted" trap reports the same offset from either tier.
    if let Some((start, accesses)) = wasm {
        if offset_map.first().is_none_or(|&(c, _)| c > 0) {
            offset_map.insert(0, (0, start));
        }
        for site in trap_sites
            .iter()
            .filter(|s| s.trap == TrapCode::StackOverflow)
        {
            pin(&mut offset_map, site.code_offset, UD2_LEN, start);
        }
        // A load Cranelift merged into the instruction that uses its value
        // carries that instruction's source location; its tag finds the
        // access itself: the last one at or before that location with the
        // tag (no other access can lie between a load and the instruction
        // it is merged into: Cranelift merges across no trapping
        // instruction, and there are fewer than `HEAP_TAGS` of them).
        //
        // With at most `HEAP_TAGS` accesses the tag is the access's number
        // and names it whatever source location the instruction carries
        // (an instruction the e-graph rewrote, e.g. `popcnt(splat(load))`
        // into `splat(popcnt(load))`, carries none, and would take the
        // previous operator's).
        let exact = accesses.len() <= HEAP_TAGS as usize;
        for (at, tag) in tagged {
            let Some(here) = wasm_offset_in(&offset_map, at) else {
                continue;
            };
            let own = if exact {
                tag as usize
            } else {
                let upto = accesses.partition_point(|&a| a <= here);
                let Some(last) = upto.checked_sub(1) else {
                    continue;
                };
                let back = (last as u32 + HEAP_TAGS - tag) % HEAP_TAGS;
                let Some(own) = last.checked_sub(back as usize) else {
                    continue;
                };
                own
            };
            let Some(&access) = accesses.get(own) else {
                continue;
            };
            if access != here {
                pin(&mut offset_map, at, 1, access);
            }
        }
    }
    // A range that would start at the end of the code has nothing in it.
    offset_map.retain(|&(c, _)| (c as usize) < bytes.len());
    // Consecutive ranges of one operator are one entry.
    offset_map.dedup_by_key(|&mut (_, w)| w);

    // Call sites with a landing pad (every `try_call` has exactly one
    // handler, `default`).
    let mut handlers = Vec::new();
    for site in buffer.call_sites() {
        let mut pads = site.exception_handlers.iter().filter_map(|h| match h {
            FinalizedMachExceptionHandler::Default(off) => Some(*off),
            _ => None,
        });
        let Some(landing) = pads.next() else {
            continue;
        };
        let sp_to_fp = site.frame_offset.ok_or_else(|| {
            CompileError::Internal(format!(
                "call site returning to {:#x} has a landing pad but no frame offset",
                site.ret_addr
            ))
        })?;
        handlers.push(HandlerSite {
            ret_offset: site.ret_addr,
            landing,
            sp_to_fp,
        });
    }
    handlers.sort_by_key(|h| h.ret_offset);

    let frame_size = buffer
        .frame_layout()
        .map_or(0, |l| l.frame_to_fp_offset + 8);
    let f = CompiledFunction {
        stats: CompileStats {
            wasm_bytes: 0,
            code_bytes: bytes.len(),
            compile_time: Duration::ZERO,
            tier: "optimizer",
        },
        code: bytes,
        trap_sites,
        offset_map,
        frame_size,
        handlers,
        counts_budget: false,
        osr: Default::default(),
    };
    f.check()?;
    Ok(f)
}

/// The wasm offset a sorted offset map gives code offset `at`.
fn wasm_offset_in(map: &[(u32, u32)], at: u32) -> Option<u32> {
    let i = map.partition_point(|&(c, _)| c <= at);
    i.checked_sub(1).map(|k| map[k].1)
}

/// The length of the `ud2` a trap site is.
const UD2_LEN: u32 = 2;

/// Makes the `len` bytes at `at` belong to wasm offset `wasm` in a sorted
/// offset map, and the code after them to what it belonged to before.
fn pin(map: &mut Vec<(u32, u32)>, at: u32, len: u32, wasm: u32) {
    let i = map.partition_point(|&(c, _)| c <= at);
    let before = i.checked_sub(1).map(|k| map[k].1);
    let end = at + len;
    let resumes = map.get(i).is_some_and(|&(c, _)| c <= end);
    // `next`: where the entry after the pinned one goes.
    let next = if i > 0 && map[i - 1].0 == at {
        map[i - 1].1 = wasm;
        i
    } else {
        map.insert(i, (at, wasm));
        i + 1
    };
    if !resumes && let Some(prev) = before {
        map.insert(next, (end, prev));
    }
}

fn codegen_error(e: CodegenError, clif: &str) -> CompileError {
    match e {
        CodegenError::ImplLimitExceeded | CodegenError::CodeTooLarge => CompileError::ImplLimit {
            message: format!("cranelift: {e}"),
            offset: 0,
        },
        CodegenError::Verifier(errors) => {
            CompileError::Internal(format!("cranelift verifier: {errors}\n{clif}"))
        }
        other => CompileError::Internal(format!("cranelift: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::pin;

    #[test]
    fn pinning_keeps_the_map_sorted_and_resumes_after() {
        let mut m = vec![(0, 10), (8, 20), (16, 30)];
        pin(&mut m, 4, 1, 99);
        assert_eq!(m, [(0, 10), (4, 99), (5, 10), (8, 20), (16, 30)]);
        // At an entry's own offset: replaced, then resumed.
        let mut m = vec![(0, 10), (8, 20), (16, 30)];
        pin(&mut m, 8, 2, 99);
        assert_eq!(m, [(0, 10), (8, 99), (10, 20), (16, 30)]);
        // Right before the next entry: nothing to resume.
        let mut m = vec![(0, 10), (8, 20)];
        pin(&mut m, 6, 2, 99);
        assert_eq!(m, [(0, 10), (6, 99), (8, 20)]);
    }
}
