//! The GC contract between the tiers and the runtime (ARCHITECTURE.md,
//! "Garbage collection"): how a reference word is tagged, where an object's
//! header, fields and elements are, and the allocation context code bumps.
//!
//! ```text
//! reference word (anyref, eqref, structref, arrayref, i31ref, externref):
//!   0                  null
//!   …xxx000 (≠ 0)      pointer to a GC object (8-aligned)
//!   …xxxxx1            i31: value << 1 | 1 (unboxed)
//!   …xxxx10            a host externref (the runtime's encoding)
//!
//! object:  +0 type: u32 (canonical id)   +4 bits: u32 (GC_BIT_*)
//! struct:  +8 fields, each at struct_layout(..).offsets[i]
//! array:   +8 len: u32, +12 pad, +16 elements (elem_size apart)
//!
//! GcCtx (vmctx.gc_heap points at it; one per store):
//!   +0 bump: usize    next free byte of the current block
//!   +8 limit: usize   end of the current block
//! ```
//!
//! Allocation of `size` bytes (a multiple of 8): `ptr = ctx.bump; end =
//! ptr + size; if end > ctx.limit { ptr = GcAlloc(vmctx, size) } else {
//! ctx.bump = end }`, then the header and every field are written. Any
//! size may take the inline path: an object that fits in the rest of the
//! current block is in one block (the size of an array is at most 2^36
//! bytes, so `ptr + size` does not wrap).
//!
//! **Invariants:** `any.convert_extern` and `extern.convert_any` are the
//! identity on words; a cast reads the tag before the header; a word in a
//! field of a reference type in the `any` or `extern` hierarchy is one of
//! the four forms above (the collector traces by field types, so a
//! funcref field is never taken for an object).

use rung_decoder::wasmparser::{StorageType, StructType, ValType};

/// Offset of the canonical type id (`u32`) in an object's header.
pub const GC_HEADER_TYPE: u32 = 0;
/// Offset of the GC bits (`u32`) in an object's header.
pub const GC_HEADER_BITS: u32 = 4;
/// The header's size: a struct's fields start here.
pub const GC_HEADER_SIZE: u32 = 8;
/// The collector's mark bit in the header's bits.
pub const GC_BIT_MARK: u32 = 1;
/// Set in the header's bits of an array (clear for a struct): abstract
/// casts to `struct` and `array` test it without a type table.
pub const GC_BIT_ARRAY: u32 = 2;
/// Offset of an array's length (`u32`).
pub const GC_ARRAY_LEN: u32 = 8;
/// Offset of an array's first element.
pub const GC_ARRAY_ELEMS: u32 = 16;
/// Objects are this aligned, and their sizes a multiple of it.
pub const GC_ALIGN: u32 = 8;

/// Offset of `bump` in the GC context.
pub const GC_CTX_BUMP: u32 = 0;
/// Offset of `limit` in the GC context.
pub const GC_CTX_LIMIT: u32 = 8;

/// The tag of an `i31` word (`value << 1 | I31_TAG`).
pub const I31_TAG: u64 = 1;
/// The low bits of a host externref word.
pub const EXTERN_TAG: u64 = 2;
/// Mask of the bits that tell an object pointer (all clear) from the rest.
pub const TAG_MASK: u64 = 7;

/// Bytes one value of a storage type takes in a struct or array.
pub fn storage_size(s: StorageType) -> u32 {
    match s {
        StorageType::I8 => 1,
        StorageType::I16 => 2,
        StorageType::Val(v) => val_size(v),
    }
}

/// Bytes of a value type in a field or element (references are words).
pub fn val_size(v: ValType) -> u32 {
    match v {
        ValType::I32 | ValType::F32 => 4,
        ValType::I64 | ValType::F64 | ValType::Ref(_) => 8,
        ValType::V128 => 16,
    }
}

/// Where a struct's fields are and how large it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// Each field's offset from the object's start.
    pub offsets: Vec<u32>,
    /// The object's size, header included, a multiple of [`GC_ALIGN`].
    pub size: u32,
}

/// The layout of a struct type: fields in order after the header, each
/// aligned to its size (a `v128` to 8: objects are 8-aligned, so code
/// accesses it unaligned).
pub fn struct_layout(ty: &StructType) -> StructLayout {
    let mut next = GC_HEADER_SIZE;
    let offsets = ty
        .fields
        .iter()
        .map(|f| {
            let size = storage_size(f.element_type);
            let align = size.min(GC_ALIGN);
            next = next.div_ceil(align) * align;
            let at = next;
            next += size;
            at
        })
        .collect();
    StructLayout {
        offsets,
        size: next.div_ceil(GC_ALIGN) * GC_ALIGN,
    }
}

/// The size of an array of `len` elements of `elem_size` bytes, header
/// included and rounded to [`GC_ALIGN`]; `None` beyond `u32` bytes.
pub fn array_size(elem_size: u32, len: u32) -> Option<u32> {
    let bytes = u64::from(GC_ARRAY_ELEMS) + u64::from(elem_size) * u64::from(len);
    let bytes = bytes.div_ceil(u64::from(GC_ALIGN)) * u64::from(GC_ALIGN);
    u32::try_from(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rung_decoder::wasmparser::FieldType;

    fn field(s: StorageType) -> FieldType {
        FieldType {
            element_type: s,
            mutable: true,
        }
    }

    #[test]
    fn fields_are_aligned_to_their_size() {
        let ty = StructType {
            fields: vec![
                field(StorageType::I8),
                field(StorageType::Val(ValType::I64)),
                field(StorageType::I16),
                field(StorageType::Val(ValType::I32)),
                field(StorageType::Val(ValType::V128)),
            ]
            .into(),
        };
        let l = struct_layout(&ty);
        assert_eq!(l.offsets, vec![8, 16, 24, 28, 32]);
        assert_eq!(l.size, 48);
        let empty = StructType {
            fields: Vec::new().into(),
        };
        assert_eq!(struct_layout(&empty).size, 8);
    }

    #[test]
    fn array_sizes_round_and_saturate() {
        assert_eq!(array_size(1, 0), Some(16));
        assert_eq!(array_size(1, 3), Some(24));
        assert_eq!(array_size(16, 2), Some(48));
        assert_eq!(array_size(16, u32::MAX), None);
    }
}
