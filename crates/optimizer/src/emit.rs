//! Compiling a translated `ir::Function` and turning Cranelift's finished
//! buffer into a [`CompiledFunction`].
//!
//! **Invariants** (a violation is `CompileError::Internal`, never silently
//! dropped): the code has no relocations (it must run wherever the runtime
//! copies it); every trap Cranelift recorded maps to a rung [`TrapCode`]
//! (see `traps`); trap sites and offset-map entries are strictly sorted and
//! inside the code, as [`CompiledFunction::check`] demands.

use std::time::Duration;

use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::{CodegenError, Context, control::ControlPlane};
use rung_tiering::{CompileError, CompileStats, CompiledFunction, TrapSite};

use crate::traps::rung_trap;

/// Compiles `ctx.func` for `isa`.
pub(crate) fn emit(
    isa: &dyn TargetIsa,
    ctx: &mut Context,
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
    for t in buffer.traps() {
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
    // Consecutive ranges of one operator are one entry.
    offset_map.dedup_by_key(|&mut (_, w)| w);

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
        counts_budget: false,
    };
    f.check()?;
    Ok(f)
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
