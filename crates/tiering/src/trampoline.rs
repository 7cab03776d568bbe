//! The two trampoline conventions between the host (System V) and wasm code
//! (the [`abi`](crate::abi) `Tail` convention). Whoever generates
//! trampolines (the optimizer crate does, with Cranelift) and the runtime that
//! calls them agree on exactly this.
//!
//! Values cross in an array of [`VALUE_SLOT_SIZE`]-byte slots, each value in
//! the low bytes of its slot (little-endian; a reference is one word; a
//! `v128` fills the slot).
//!
//! **Host to wasm** (array call), one trampoline per signature:
//!
//! ```text
//! extern "sysv64" fn(callee_vmctx: *mut u8, code: *const u8, values: *mut [u8; 16])
//! ```
//! loads the parameters from `values[0..params]`, calls `code` with the
//! `Tail` convention as `code(callee_vmctx, params...)`, and stores the
//! results into `values[0..results]` (the caller sizes the array for
//! `max(params, results)`).
//!
//! **Wasm to host**, one trampoline per signature: a `Tail` function called
//! like any wasm function, `(vmctx, params...) -> results`, whose `vmctx` is a
//! host-function context (below). It stores the parameters into a stack array
//! of `max(params, results)` slots, calls
//!
//! ```text
//! extern "sysv64" fn(host_ctx: *mut u8, values: *mut [u8; 16])
//! ```
//! loaded from `host_ctx + HOST_CONTEXT_ENTRY`, and returns the results it
//! finds in the array. A host function that traps does not return (it
//! unwinds to the host entry), so the trampoline checks nothing.
//!
//! **Host-function context**: the first word is reserved to the runtime
//! (its first four bytes are [`HOST_CONTEXT_MAGIC`]); the entry point is the
//! word at [`HOST_CONTEXT_ENTRY`]; the rest is the runtime's.

/// Bytes per value in a trampoline's value array.
pub const VALUE_SLOT_SIZE: u32 = 16;

/// The first four bytes of a host-function context ("host", little-endian).
pub const HOST_CONTEXT_MAGIC: u32 = u32::from_le_bytes(*b"host");

/// Offset of the host entry point in a host-function context (x86-64).
pub const HOST_CONTEXT_ENTRY: u32 = 8;
