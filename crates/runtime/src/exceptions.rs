//! Exceptions: the `ExnNew` and `ThrowRef` libcalls, and the unwinder that
//! finds a landing pad (ARCHITECTURE.md, "Exception handling").
//!
//! ```text
//!  wasm frame H (call site with a landing pad)      ◄── resume: rsp = fp_H - sp_to_fp,
//!  wasm frame (no landing pad at its call)               rbp = fp_H, rax = exn,
//!  wasm frame T ── call ThrowRef(vmctx, exn) ──► stub    jmp landing
//!                                                 │ fp = rbp, pc = [rsp]
//!                                                 └► throw_search: frame by frame
//!                                                    (pc = [fp + 8], fp = [fp])
//! ```
//!
//! An exception object is a `Box<[u128]>` in the store: cell 0 holds the
//! tag word (`EXN_TAG`) and the payload count, cell `1 + i` payload value
//! `i` (`EXN_VALUES + 16 i`). The `exnref` is its address.
//!
//! **Invariant:** the walk reads only frames of wasm code (both tiers keep
//! `rbp` frame chains); it stops at the first return address outside wasm
//! functions (the entry trampoline, a host-call trampoline), which is where
//! this `catch_traps` level began, and raises the exception there as a
//! trap. It allocates nothing and holds nothing that needs a drop when it
//! raises.

use rung_tiering::{EXN_TAG, EXN_VALUE_SIZE, EXN_VALUES, TrapCode};

use crate::code_memory::{FrameAt, call_site, frame_at};
use crate::libcalls::context;
use crate::traps::{Trap, TrapReason, raise};

// The object layout below is the one the tiers compile against.
const _: () = assert!(EXN_TAG == 0 && EXN_VALUES == 16 && EXN_VALUE_SIZE == 16);

/// `ExnNew(vmctx, tag) -> exn`: a new exception object of the instance's
/// tag `tag`, payload zeroed; the code stores the payload next.
pub(crate) unsafe extern "sysv64" fn exn_new(vmctx: *mut u8, tag: u32) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let env = inst.module.env();
    let count = env
        .tags
        .get(tag as usize)
        .and_then(|t| env.types.get(t.func_type_idx as usize))
        .and_then(|ty| match &ty.composite_type.inner {
            wasmparser::CompositeInnerType::Func(f) => Some(f.params().len()),
            _ => None,
        });
    let Some(count) = count else {
        // The tiers compile `throw` only for tags with function types.
        // SAFETY: below `catch_traps`, owning nothing.
        unsafe {
            raise(Trap::host(format!(
                "exn_new: tag {tag} has no function type"
            )))
        }
    };
    let identity = inst.tags.get(tag as usize).copied().unwrap_or(u32::MAX);
    let mut object = vec![0u128; 1 + count].into_boxed_slice();
    object[0] = u128::from(identity) | (count as u128) << 64;
    let address = object.as_ptr() as usize;
    store.exns.push(object);
    address
}

/// A new exception object of the store's tag `tag` with `payload`
/// (checked against the tag's type): the `exnref`.
pub(crate) fn new_exception(
    store: &mut crate::store::StoreInner,
    tag: u32,
    payload: &[crate::Val],
) -> Result<usize, String> {
    let ty = store
        .tag_types
        .get(tag as usize)
        .ok_or_else(|| format!("no tag {tag} in this store"))?;
    if ty.params().len() != payload.len()
        || !payload
            .iter()
            .zip(ty.params())
            .all(|(v, t)| crate::values::val_matches(v, *t))
    {
        return Err(format!(
            "exception payload {payload:?} does not match the tag's type {ty}"
        ));
    }
    let mut object = vec![0u128; 1 + payload.len()].into_boxed_slice();
    object[0] = u128::from(tag) | (payload.len() as u128) << 64;
    for (i, (v, t)) in payload.iter().zip(ty.params()).enumerate() {
        // SAFETY: cell `1 + i` is 16 writable bytes of `object`.
        unsafe { crate::instance::write_val(store, (&raw mut object[1 + i]).cast(), v, *t) };
    }
    let address = object.as_ptr() as usize;
    store.exns.push(object);
    Ok(address)
}

/// Where `throw_search` found a handler, for the stub to jump to.
#[repr(C)]
struct Resume {
    sp: usize,
    fp: usize,
    pc: usize,
    exn: usize,
}

/// `ThrowRef(vmctx, exn) -> !`. Called by wasm code (System V or `Tail`:
/// the same two registers): throws from its caller's frame (`throw_from`
/// with the frame pointer and the return address).
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn throw_ref(_vmctx: *mut u8, _exn: usize) {
    core::arch::naked_asm!(
        "mov rdx, rbp",
        "mov rcx, [rsp]",
        "jmp {throw_from}",
        throw_from = sym throw_from,
    )
}

/// Throws `exn` from the wasm frame whose frame pointer is `fp` and whose
/// call returns to `pc` (a host function's import call site: see
/// `func::host_entry`), as if that call had been to `ThrowRef`.
///
/// Entered by a jump with `rsp` ≡ 8 (mod 16) (a return address at
/// `[rsp]`, never used); 40 bytes keep the call aligned and hold the
/// `Resume`, then it resumes where `throw_search` says.
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn throw_from(
    _vmctx: *mut u8,
    _exn: usize,
    _fp: usize,
    _pc: usize,
) {
    core::arch::naked_asm!(
        "sub rsp, 40",
        "mov r8, rsp",
        "call {search}",
        "mov r11, [rsp + 16]",
        "mov rax, [rsp + 24]",
        "mov rbp, [rsp + 8]",
        "mov rsp, [rsp]",
        "jmp r11",
        search = sym throw_search,
    )
}

/// Walks the frames from the one whose frame pointer is `fp` and whose
/// code returns to `pc`, for a call site with a landing pad; fills `out`,
/// or raises the exception (or a null `exn`'s trap) to the host.
///
/// # Safety
///
/// Called only by `throw_ref`, from wasm code below a `catch_traps`.
unsafe extern "sysv64" fn throw_search(
    _vmctx: *mut u8,
    exn: usize,
    fp: usize,
    pc: usize,
    out: *mut Resume,
) {
    if exn == 0 {
        let mut trap = Trap::wasm(TrapCode::NullExceptionReference);
        if let Some((func, offset)) = call_site(pc) {
            trap.func = Some(func);
            trap.wasm_offset = offset;
        }
        trap.wasm_backtrace = crate::backtrace::capture(fp, pc, false);
        // SAFETY: below `catch_traps`, owning nothing (see the module docs).
        unsafe { raise(trap) }
    }
    let (thrower_fp, thrower_pc) = (fp, pc);
    let (mut fp, mut pc) = (fp, pc);
    loop {
        match frame_at(pc) {
            FrameAt::Handler { landing, sp_to_fp } => {
                // SAFETY: `out` is the stub's buffer.
                unsafe {
                    out.write(Resume {
                        sp: fp - sp_to_fp as usize,
                        fp,
                        pc: landing,
                        exn,
                    })
                };
                return;
            }
            FrameAt::Wasm => {
                // SAFETY: a wasm frame: `fp` points at the saved caller
                // frame pointer, with the return address above it.
                unsafe {
                    pc = *((fp + 8) as *const usize);
                    fp = *(fp as *const usize);
                }
            }
            FrameAt::Other => {
                // SAFETY: `exn` is an object of this store (made by
                // `exn_new`); cell 0's low word is the tag.
                let tag = unsafe { *(exn as *const u64) } as u32;
                let mut trap = Trap::new(TrapReason::Exception { tag, exn });
                trap.wasm_backtrace = crate::backtrace::capture(thrower_fp, thrower_pc, false);
                // SAFETY: as above.
                unsafe { raise(trap) }
            }
        }
    }
}
