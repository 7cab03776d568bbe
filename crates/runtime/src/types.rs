//! Canonical types: what makes two types from different modules "the same".
//!
//! WebAssembly 3.0 compares types iso-recursively: a type is identified by
//! its rec group's structure and its position in the group, where references
//! inside the group are relative and references outside it are to other
//! canonical types. The registry turns each rec group into a key with exactly
//! that information and hands out one id per (group, position), engine-wide,
//! so `call_indirect`'s signature check is one integer compare and import
//! checks compare ids.
//!
//! Value types of globals and tables are kept as [`CanonVal`] (concrete
//! indices replaced by canonical ids), so imports can be checked with
//! subtyping across modules.

use std::collections::HashMap;
use std::fmt::Write;

use wasmparser::{
    AbstractHeapType, CompositeInnerType, FuncType, HeapType, RefType, StorageType, SubType,
    UnpackedIndex, ValType,
};

/// What kind of composite type a concrete reference points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Func,
    Struct,
    Array,
    Other,
}

/// A heap type with module-independent identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CanonHeap {
    Abstract(AbstractHeapType),
    Concrete { id: u32, kind: Kind },
}

/// A value type with module-independent identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CanonVal {
    Num(ValType),
    Ref { nullable: bool, heap: CanonHeap },
}

/// Engine-wide canonical type ids.
#[derive(Default)]
pub(crate) struct TypeRegistry {
    groups: HashMap<String, u32>,
    next: u32,
}

/// A module's types as the registry sees them.
pub(crate) struct ModuleTypes<'a> {
    pub types: &'a [SubType],
    pub ids: &'a [u32],
}

impl ModuleTypes<'_> {
    fn kind(&self, index: u32) -> Kind {
        match self
            .types
            .get(index as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(CompositeInnerType::Func(_)) => Kind::Func,
            Some(CompositeInnerType::Struct(_)) => Kind::Struct,
            Some(CompositeInnerType::Array(_)) => Kind::Array,
            _ => Kind::Other,
        }
    }

    /// The canonical form of a value type of this module.
    pub fn canon(&self, ty: ValType) -> CanonVal {
        match ty {
            ValType::Ref(r) => CanonVal::Ref {
                nullable: r.is_nullable(),
                heap: match r.heap_type() {
                    HeapType::Abstract { ty, .. } => CanonHeap::Abstract(ty),
                    HeapType::Concrete(UnpackedIndex::Module(i))
                    | HeapType::Exact(UnpackedIndex::Module(i)) => CanonHeap::Concrete {
                        id: self.ids.get(i as usize).copied().unwrap_or(u32::MAX),
                        kind: self.kind(i),
                    },
                    _ => CanonHeap::Abstract(AbstractHeapType::Func),
                },
            },
            other => CanonVal::Num(other),
        }
    }
}

impl TypeRegistry {
    /// Canonical ids of a module's types, in type-index order.
    pub fn canonicalize_module(&mut self, types: &[SubType], rec_group_starts: &[u32]) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::with_capacity(types.len());
        let total = types.len() as u32;
        for (g, &start) in rec_group_starts.iter().enumerate() {
            let end = rec_group_starts
                .get(g + 1)
                .copied()
                .unwrap_or(total)
                .min(total);
            let mut key = String::new();
            for t in &types[start as usize..end as usize] {
                encode_sub(&mut key, t, start..end, &ids);
                key.push('|');
            }
            let base = self.group(key, end - start);
            ids.extend(base..base + (end - start));
        }
        ids.resize(types.len(), u32::MAX);
        ids
    }

    /// The canonical id of a function type standing alone (a host function's).
    pub fn canonicalize_func(&mut self, ty: &FuncType) -> u32 {
        let mut key = String::from("final;");
        encode_func(&mut key, ty, 0..0, &[]);
        key.push('|');
        self.group(key, 1)
    }

    fn group(&mut self, key: String, len: u32) -> u32 {
        let next = &mut self.next;
        *self.groups.entry(key).or_insert_with(|| {
            let base = *next;
            *next += len;
            base
        })
    }
}

fn encode_index(out: &mut String, i: UnpackedIndex, group: std::ops::Range<u32>, ids: &[u32]) {
    let _ = match i {
        UnpackedIndex::Module(i) if group.contains(&i) => write!(out, "r{}", i - group.start),
        UnpackedIndex::Module(i) => {
            write!(out, "c{}", ids.get(i as usize).copied().unwrap_or(u32::MAX))
        }
        UnpackedIndex::RecGroup(i) => write!(out, "r{i}"),
        _ => write!(out, "?"),
    };
}

fn encode_ref(out: &mut String, r: RefType, group: std::ops::Range<u32>, ids: &[u32]) {
    out.push_str(if r.is_nullable() {
        "(ref null "
    } else {
        "(ref "
    });
    match r.heap_type() {
        HeapType::Abstract { shared, ty } => {
            let _ = write!(out, "{ty:?}{}", if shared { " shared" } else { "" });
        }
        HeapType::Concrete(i) => encode_index(out, i, group, ids),
        HeapType::Exact(i) => {
            out.push_str("exact ");
            encode_index(out, i, group, ids)
        }
    }
    out.push(')');
}

fn encode_val(out: &mut String, v: ValType, group: std::ops::Range<u32>, ids: &[u32]) {
    match v {
        ValType::Ref(r) => encode_ref(out, r, group, ids),
        other => {
            let _ = write!(out, "{other}");
        }
    }
    out.push(' ');
}

fn encode_func(out: &mut String, f: &FuncType, group: std::ops::Range<u32>, ids: &[u32]) {
    out.push_str("func(");
    for p in f.params() {
        encode_val(out, *p, group.clone(), ids);
    }
    out.push_str(")->(");
    for r in f.results() {
        encode_val(out, *r, group.clone(), ids);
    }
    out.push(')');
}

fn encode_storage(out: &mut String, s: StorageType, group: std::ops::Range<u32>, ids: &[u32]) {
    match s {
        StorageType::I8 => out.push_str("i8 "),
        StorageType::I16 => out.push_str("i16 "),
        StorageType::Val(v) => encode_val(out, v, group, ids),
    }
}

fn encode_sub(out: &mut String, t: &SubType, group: std::ops::Range<u32>, ids: &[u32]) {
    out.push_str(if t.is_final { "final;" } else { "open;" });
    for s in &t.supertype_idxs {
        out.push_str("super ");
        encode_index(out, s.unpack(), group.clone(), ids);
        out.push(';');
    }
    if t.composite_type.shared {
        out.push_str("shared ");
    }
    match &t.composite_type.inner {
        CompositeInnerType::Func(f) => encode_func(out, f, group, ids),
        CompositeInnerType::Array(a) => {
            let _ = write!(out, "array({}", if a.0.mutable { "mut " } else { "" });
            encode_storage(out, a.0.element_type, group, ids);
            out.push(')');
        }
        CompositeInnerType::Struct(s) => {
            out.push_str("struct(");
            for f in s.fields.iter() {
                out.push_str(if f.mutable { "mut " } else { "" });
                encode_storage(out, f.element_type, group.clone(), ids);
                out.push(',');
            }
            out.push(')');
        }
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}

/// Whether a value of type `a` may be used where `b` is expected.
pub(crate) fn val_subtype(a: CanonVal, b: CanonVal) -> bool {
    match (a, b) {
        (
            CanonVal::Ref {
                nullable: na,
                heap: ha,
            },
            CanonVal::Ref {
                nullable: nb,
                heap: hb,
            },
        ) => (!na || nb) && heap_subtype(ha, hb),
        _ => a == b,
    }
}

fn heap_subtype(a: CanonHeap, b: CanonHeap) -> bool {
    use AbstractHeapType as A;
    use CanonHeap::{Abstract, Concrete};
    if a == b {
        return true;
    }
    match a {
        Abstract(A::NoFunc) => {
            return matches!(
                b,
                Abstract(A::Func)
                    | Concrete {
                        kind: Kind::Func,
                        ..
                    }
            );
        }
        Abstract(A::None) => {
            return matches!(
                b,
                Abstract(A::Any | A::Eq | A::Struct | A::Array | A::I31)
                    | Concrete {
                        kind: Kind::Struct | Kind::Array,
                        ..
                    }
            );
        }
        _ => {}
    }
    // The abstract type a concrete type sits directly under.
    let a = match a {
        Abstract(t) => t,
        Concrete {
            kind: Kind::Func, ..
        } => A::Func,
        Concrete {
            kind: Kind::Struct, ..
        } => A::Struct,
        Concrete {
            kind: Kind::Array, ..
        } => A::Array,
        Concrete {
            kind: Kind::Other, ..
        } => return false,
    };
    let Abstract(b) = b else {
        return false;
    };
    a == b
        || matches!(
            (a, b),
            (A::NoExtern, A::Extern)
                | (A::NoExn, A::Exn)
                | (A::I31 | A::Struct | A::Array, A::Eq | A::Any)
                | (A::Eq, A::Any)
        )
}
