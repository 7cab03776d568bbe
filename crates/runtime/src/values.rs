//! `Val`: a wasm value as the host sees it, and its 16-byte slot encoding in
//! trampoline value arrays and global storage.

use wasmparser::{RefType, ValType};

use crate::store::Func;

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// An `f32` by its bits, so that NaN payloads survive.
    F32(u32),
    /// An `f64` by its bits.
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    /// An external reference: the host's value, or null. (An `exnref`
    /// reaches the host as its exception object's address here too.)
    ExternRef(Option<u64>),
    /// A GC reference (`anyref` and its subtypes: a struct, an array, an
    /// `i31`, an internalized externref; or such a value externalized into
    /// an `externref`), or null.
    AnyRef(Option<AnyRef>),
}

/// A GC reference held by the host: rooted in its store, so the collector
/// keeps what it points at (ARCHITECTURE.md, "Garbage collection"). Two
/// handles to the same value compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnyRef {
    pub(crate) store: u64,
    pub(crate) root: u32,
}

/// What a GC reference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyRefKind {
    /// An unboxed 31-bit integer, sign-extended.
    I31(i32),
    /// A struct object.
    Struct,
    /// An array object, with its length.
    Array(u32),
    /// A host externref value made into an `anyref` (`any.convert_extern`).
    Extern(u64),
}

impl AnyRef {
    /// An `i31` reference to the low 31 bits of `value`.
    pub fn i31(store: &mut crate::Store, value: i32) -> AnyRef {
        let root = store.inner.gc.root(crate::gc::i31_word(value));
        AnyRef {
            store: store.inner.id,
            root,
        }
    }

    /// A host externref value as an `anyref` (what `any.convert_extern`
    /// makes of `Val::ExternRef(Some(value))`).
    pub fn from_extern(store: &mut crate::Store, value: u64) -> AnyRef {
        let word = store.inner.gc.extern_word(value);
        let root = store.inner.gc.root(word);
        AnyRef {
            store: store.inner.id,
            root,
        }
    }

    /// Field `index` of a struct (a packed `i8`/`i16` field zero-extended
    /// to `I32`); `None` if the reference is not a struct or has no such
    /// field.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn field(&self, store: &crate::Store, index: usize) -> Option<Val> {
        store.inner.owns(self.store, "an AnyRef");
        let word = store.inner.gc.root_word(self.root);
        if store.inner.any_kind(word) != AnyRefKind::Struct {
            return None;
        }
        // SAFETY: a struct object of this store.
        let info = store
            .inner
            .gc
            .type_info(unsafe { crate::gc::type_of(word) })?;
        let crate::gc::GcKind::Struct { fields, .. } = &info.kind else {
            return None;
        };
        let &(offset, ty) = fields.get(index)?;
        // SAFETY: the field lies inside the object.
        Some(unsafe { crate::gc::read_field(&store.inner, word + offset as usize, ty) })
    }

    /// Element `index` of an array (packed elements zero-extended);
    /// `None` if the reference is not an array or `index` is out of
    /// bounds.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn element(&self, store: &crate::Store, index: u32) -> Option<Val> {
        store.inner.owns(self.store, "an AnyRef");
        let word = store.inner.gc.root_word(self.root);
        let AnyRefKind::Array(len) = store.inner.any_kind(word) else {
            return None;
        };
        if index >= len {
            return None;
        }
        // SAFETY: an array object of this store.
        let info = store
            .inner
            .gc
            .type_info(unsafe { crate::gc::type_of(word) })?;
        let crate::gc::GcKind::Array {
            elem, elem_size, ..
        } = &info.kind
        else {
            return None;
        };
        let at =
            word + rung_tiering::gc::GC_ARRAY_ELEMS as usize + index as usize * *elem_size as usize;
        // SAFETY: element `index < len` lies inside the object.
        Some(unsafe { crate::gc::read_field(&store.inner, at, *elem) })
    }

    /// What the reference is.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn kind(&self, store: &crate::Store) -> AnyRefKind {
        store.inner.owns(self.store, "an AnyRef");
        store.inner.any_kind(store.inner.gc.root_word(self.root))
    }
}

impl Val {
    /// The default (zero) value of a type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::Ref(r) if is_func_ref(r) => Val::FuncRef(None),
            ValType::Ref(r) if is_any_ref(r) => Val::AnyRef(None),
            ValType::Ref(_) => Val::ExternRef(None),
        }
    }

    pub fn unwrap_i32(&self) -> i32 {
        match self {
            Val::I32(v) => *v,
            other => panic!("expected i32, found {other:?}"),
        }
    }
}

/// Whether a reference type is in the function hierarchy (funcref, typed
/// function references, nofunc). A concrete type index counts as a
/// function type here (without its module, its kind is unknown): where a
/// value of a concrete type is read, the word tells (`word_ref`).
pub fn is_func_ref(r: RefType) -> bool {
    r.is_func_ref() || r.type_index().is_some()
}

/// Whether a reference type is in the `any` hierarchy (abstract).
pub fn is_any_ref(r: RefType) -> bool {
    use wasmparser::{AbstractHeapType as A, HeapType};
    matches!(
        r.heap_type(),
        HeapType::Abstract {
            ty: A::Any | A::Eq | A::I31 | A::Struct | A::Array | A::None,
            ..
        }
    )
}

/// Whether a reference type is in the `extern` hierarchy.
pub fn is_extern_ref(r: RefType) -> bool {
    use wasmparser::{AbstractHeapType as A, HeapType};
    matches!(
        r.heap_type(),
        HeapType::Abstract {
            ty: A::Extern | A::NoExtern,
            ..
        }
    )
}

/// Whether a value matches a type (for host-provided arguments and globals).
pub fn val_matches(val: &Val, ty: ValType) -> bool {
    match (val, ty) {
        (Val::I32(_), ValType::I32)
        | (Val::I64(_), ValType::I64)
        | (Val::F32(_), ValType::F32)
        | (Val::F64(_), ValType::F64)
        | (Val::V128(_), ValType::V128) => true,
        (Val::FuncRef(f), ValType::Ref(r)) => is_func_ref(r) && (f.is_some() || r.is_nullable()),
        (Val::ExternRef(e), ValType::Ref(r)) => !is_func_ref(r) && (e.is_some() || r.is_nullable()),
        // A concrete type may be a struct or array type.
        (Val::AnyRef(a), ValType::Ref(r)) => {
            (is_any_ref(r) || is_extern_ref(r) || r.type_index().is_some())
                && (a.is_some() || r.is_nullable())
        }
        _ => false,
    }
}
