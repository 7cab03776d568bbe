//! On-stack replacement: what a frame of one tier hands to an entry of
//! another at a loop header (see ARCHITECTURE.md, "On-stack replacement").
//!
//! **The OSR layout** of a loop: every local of the function in index
//! order (parameters first), then the operand stack bottom to top as the
//! loop's header sees it (the values below the loop's height, then the
//! loop's parameters). Each value takes one [`OSR_SLOT`]-byte slot, the
//! bits of the value (an `i32` or `f32` in the low 32 bits, the rest
//! undefined; a reference as its pointer). Both sides derive the same
//! order from the body: the exiting tier describes where each value is
//! ([`OsrLoop::values`]), the entering tier reads them in that order
//! ([`Tier::compile_osr_entry`](crate::Tier::compile_osr_entry)).
//!
//! **Invariant:** a loop is named by the absolute wasm offset of its
//! `loop` operator; a function's OSR exits are sorted by code offset.

/// The bytes one value takes in an OSR buffer.
pub const OSR_SLOT: u32 = 8;

/// Where one value of the OSR layout is when a back-edge exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OsrSource {
    /// The 8 bytes at this offset from the frame pointer.
    Frame(i32),
    /// A constant, its bits.
    Const(u64),
    /// Register `n` of the tier-up routine's save area (8 bytes at
    /// `saved + 8 * n`; the tier defines the order).
    Saved(u8),
}

/// One loop of a function compiled with OSR exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsrLoop {
    /// The absolute wasm offset of the `loop` operator.
    pub loop_offset: u32,
    /// Where each value of the loop's OSR layout is at its back-edges.
    pub values: Vec<OsrSource>,
}

/// A function's OSR exits: its loops, and which back-edge belongs to which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsrExits {
    pub loops: Vec<OsrLoop>,
    /// `(code offset, loop)`: the back-edge whose call of the tier-up
    /// routine returns to this offset exits from `loops[loop]`; sorted by
    /// code offset.
    pub back_edges: Vec<(u32, u32)>,
}

impl OsrExits {
    /// The loop of the back-edge whose tier-up call returns to `offset`.
    pub fn at(&self, offset: u32) -> Option<&OsrLoop> {
        let i = self
            .back_edges
            .binary_search_by_key(&offset, |&(c, _)| c)
            .ok()?;
        self.loops.get(self.back_edges[i].1 as usize)
    }
}
