//! `ModuleEnv`: everything a module declares outside its function bodies and
//! data segments, decoded section by section as the bytes arrive.
//!
//! The env owns its data (no borrow of the input), so it outlives the chunks
//! it was decoded from and can be shared with compile threads. Index spaces
//! follow the spec: imported entities come first, then the defined ones.
//!
//! **Invariant:** the env holds what the binary *says*; it is not validated.
//! Stage 1 of `rung-validator` runs on the same payloads and rejects a module
//! before anyone may rely on an index being in range.

use std::collections::HashMap;
use std::ops::Range;

use wasmparser::{
    BinaryReader, ConstExpr, ElementItems, ElementKind, ExternalKind, FuncType, GlobalType,
    MemoryType, Payload, RefType, SubType, TableInit, TableType, TagType, TypeRef, WasmFeatures,
};

use crate::DecodeError;

/// Identifies a section by its binary id (0 = custom, 1 = type, ... 13 = tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionId {
    Custom,
    Type,
    Import,
    Function,
    Table,
    Memory,
    Global,
    Export,
    Start,
    Element,
    Code,
    Data,
    DataCount,
    Tag,
}

impl SectionId {
    pub fn from_id(id: u8) -> Option<SectionId> {
        use SectionId::*;
        Some(match id {
            0 => Custom,
            1 => Type,
            2 => Import,
            3 => Function,
            4 => Table,
            5 => Memory,
            6 => Global,
            7 => Export,
            8 => Start,
            9 => Element,
            10 => Code,
            11 => Data,
            12 => DataCount,
            13 => Tag,
            _ => return None,
        })
    }

    pub fn id(self) -> u8 {
        use SectionId::*;
        match self {
            Custom => 0,
            Type => 1,
            Import => 2,
            Function => 3,
            Table => 4,
            Memory => 5,
            Global => 6,
            Export => 7,
            Start => 8,
            Element => 9,
            Code => 10,
            Data => 11,
            DataCount => 12,
            Tag => 13,
        }
    }

    pub fn name(self) -> &'static str {
        use SectionId::*;
        match self {
            Custom => "custom",
            Type => "type",
            Import => "import",
            Function => "function",
            Table => "table",
            Memory => "memory",
            Global => "global",
            Export => "export",
            Start => "start",
            Element => "element",
            Code => "code",
            Data => "data",
            DataCount => "datacount",
            Tag => "tag",
        }
    }
}

/// One section as it appeared in the binary: its id, the range of its
/// contents (after the id and size), and for custom sections their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub id: SectionId,
    pub range: Range<u64>,
    pub name: Option<String>,
}

/// A constant expression, copied out of the input together with its offset so
/// that a `wasmparser::ConstExpr` reader can be rebuilt at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstExprBytes {
    pub offset: u64,
    pub bytes: Box<[u8]>,
}

impl ConstExprBytes {
    /// Copies an expression out of the input.
    pub fn copy(expr: &ConstExpr<'_>) -> Self {
        let mut reader = expr.get_binary_reader();
        let offset = reader.original_position();
        let bytes = reader
            .read_bytes(reader.bytes_remaining())
            .unwrap_or_default();
        ConstExprBytes {
            offset,
            bytes: bytes.into(),
        }
    }

    /// A reader over the expression, with offsets absolute in the module.
    pub fn expr(&self) -> ConstExpr<'_> {
        ConstExpr::new(BinaryReader::new(&self.bytes, self.offset))
    }
}

/// An import, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub ty: TypeRef,
}

/// An export, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub kind: ExternalKind,
    pub index: u32,
}

/// A table: its type and, for defined tables declared with one, the
/// expression every slot starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub ty: TableType,
    pub init: Option<ConstExprBytes>,
}

/// A global: its type and, for defined globals, its initializer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub ty: GlobalType,
    pub init: Option<ConstExprBytes>,
}

/// How an element segment is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementMode {
    Passive,
    Active { table: u32, offset: ConstExprBytes },
    Declared,
}

/// What an element segment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementItemsOwned {
    Functions(Vec<u32>),
    Expressions(RefType, Vec<ConstExprBytes>),
}

/// An element segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementSegment {
    pub mode: ElementMode,
    pub items: ElementItemsOwned,
    pub range: Range<u64>,
}

/// Counts of one kind of entity: how many are imported, how many in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub imported_functions: u32,
    pub imported_tables: u32,
    pub imported_memories: u32,
    pub imported_globals: u32,
    pub imported_tags: u32,
}

/// Everything a module declares outside function bodies and data segments.
#[derive(Debug, Clone, Default)]
pub struct ModuleEnv {
    /// Every type in the type index space; rec groups are flattened in order.
    pub types: Vec<SubType>,
    /// The index of the first type of each rec group, in order.
    pub rec_group_starts: Vec<u32>,
    pub imports: Vec<Import>,
    /// The type index of every function: imported ones first.
    pub functions: Vec<u32>,
    /// Every table: imported ones first.
    pub tables: Vec<Table>,
    /// Every memory: imported ones first.
    pub memories: Vec<MemoryType>,
    /// Every tag: imported ones first.
    pub tags: Vec<TagType>,
    /// Every global: imported ones first.
    pub globals: Vec<Global>,
    pub exports: Vec<Export>,
    pub start: Option<u32>,
    pub elements: Vec<ElementSegment>,
    pub data_count: Option<u32>,
    /// The number of data segments the data section declares.
    pub data_segments: u32,
    /// How many of each entity are imported.
    pub counts: Counts,
    /// The code section's declared function count and content range.
    pub code_section: Option<(u32, Range<u64>)>,
    /// Every section in binary order (custom ones included).
    pub sections: Vec<SectionInfo>,
    /// The module's name from the `name` section, if any.
    pub module_name: Option<String>,
    /// Function names from the `name` section, by function index.
    pub function_names: HashMap<u32, String>,
    /// The features the module was decoded with.
    pub features: WasmFeatures,
}

impl ModuleEnv {
    /// wasmparser's view of a body of this module, read with the module's
    /// features (so that, e.g., without multi-memory a memory index must
    /// be one zero byte).
    pub fn body_reader<'a>(&self, body: &crate::FunctionBody<'a>) -> wasmparser::FunctionBody<'a> {
        wasmparser::FunctionBody::new(BinaryReader::new_features(
            body.bytes,
            body.offset,
            self.features,
        ))
    }

    pub fn num_imported_functions(&self) -> u32 {
        self.counts.imported_functions
    }

    /// The number of functions the module defines (has bodies for).
    pub fn num_defined_functions(&self) -> u32 {
        self.functions.len() as u32 - self.counts.imported_functions
    }

    /// The type of function `index`, if both indices are in range and the
    /// type is a function type.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let ty = *self.functions.get(index as usize)?;
        match &self.types.get(ty as usize)?.composite_type.inner {
            wasmparser::CompositeInnerType::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The name of function `index` from the `name` section, if it has one.
    pub fn function_name(&self, index: u32) -> Option<&str> {
        self.function_names.get(&index).map(String::as_str)
    }

    /// Decodes one module section's payload into the env. Payloads that carry
    /// nothing for the env (header, code entries, end) are ignored.
    pub(crate) fn add_payload(&mut self, payload: &Payload<'_>) -> Result<(), DecodeError> {
        match payload {
            Payload::TypeSection(s) => {
                for group in s.clone() {
                    let group = group?;
                    self.rec_group_starts.push(self.types.len() as u32);
                    self.types.extend(group.into_types());
                }
            }
            Payload::ImportSection(s) => {
                for imports in s.clone() {
                    for item in imports? {
                        let (_, import) = item?;
                        self.add_import(import.module, import.name, import.ty);
                    }
                }
            }
            Payload::FunctionSection(s) => {
                for ty in s.clone() {
                    self.functions.push(ty?);
                }
            }
            Payload::TableSection(s) => {
                for table in s.clone() {
                    let table = table?;
                    let init = match &table.init {
                        TableInit::RefNull => None,
                        TableInit::Expr(e) => Some(ConstExprBytes::copy(e)),
                    };
                    self.tables.push(Table { ty: table.ty, init });
                }
            }
            Payload::MemorySection(s) => {
                for memory in s.clone() {
                    self.memories.push(memory?);
                }
            }
            Payload::TagSection(s) => {
                for tag in s.clone() {
                    self.tags.push(tag?);
                }
            }
            Payload::GlobalSection(s) => {
                for global in s.clone() {
                    let global = global?;
                    self.globals.push(Global {
                        ty: global.ty,
                        init: Some(ConstExprBytes::copy(&global.init_expr)),
                    });
                }
            }
            Payload::ExportSection(s) => {
                for export in s.clone() {
                    let export = export?;
                    self.exports.push(Export {
                        name: export.name.to_string(),
                        kind: export.kind,
                        index: export.index,
                    });
                }
            }
            Payload::StartSection { func, .. } => self.start = Some(*func),
            Payload::ElementSection(s) => {
                for element in s.clone() {
                    self.elements.push(element_segment(element?)?);
                }
            }
            Payload::DataCountSection { count, .. } => self.data_count = Some(*count),
            Payload::DataSection(s) => self.data_segments = s.count(),
            _ => {}
        }
        Ok(())
    }

    fn add_import(&mut self, module: &str, name: &str, ty: TypeRef) {
        match ty {
            TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                self.functions.push(t);
                self.counts.imported_functions += 1;
            }
            TypeRef::Table(t) => {
                self.tables.push(Table { ty: t, init: None });
                self.counts.imported_tables += 1;
            }
            TypeRef::Memory(m) => {
                self.memories.push(m);
                self.counts.imported_memories += 1;
            }
            TypeRef::Global(g) => {
                self.globals.push(Global { ty: g, init: None });
                self.counts.imported_globals += 1;
            }
            TypeRef::Tag(t) => {
                self.tags.push(t);
                self.counts.imported_tags += 1;
            }
        }
        self.imports.push(Import {
            module: module.to_string(),
            name: name.to_string(),
            ty,
        });
    }

    /// Decodes the `name` custom section. A malformed name section is not an
    /// error (the spec ignores custom sections): decoding stops at the first
    /// bad entry and keeps what it read.
    pub(crate) fn add_name_section(&mut self, data: &[u8], offset: u64) {
        let reader = wasmparser::NameSectionReader::new(BinaryReader::new(data, offset));
        for name in reader {
            match name {
                Ok(wasmparser::Name::Module { name, .. }) => {
                    self.module_name = Some(name.to_string())
                }
                Ok(wasmparser::Name::Function(map)) => {
                    for naming in map {
                        let Ok(naming) = naming else { break };
                        self.function_names
                            .insert(naming.index, naming.name.to_string());
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

fn element_segment(element: wasmparser::Element<'_>) -> Result<ElementSegment, DecodeError> {
    let mode = match &element.kind {
        ElementKind::Passive => ElementMode::Passive,
        ElementKind::Declared => ElementMode::Declared,
        ElementKind::Active {
            table_index,
            offset_expr,
        } => ElementMode::Active {
            table: table_index.unwrap_or(0),
            offset: ConstExprBytes::copy(offset_expr),
        },
    };
    let items = match element.items {
        ElementItems::Functions(funcs) => {
            ElementItemsOwned::Functions(funcs.into_iter().collect::<Result<_, _>>()?)
        }
        ElementItems::Expressions(ty, exprs) => ElementItemsOwned::Expressions(
            ty,
            exprs
                .into_iter()
                .map(|e| e.map(|e| ConstExprBytes::copy(&e)))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(ElementSegment {
        mode,
        items,
        range: element.range,
    })
}
