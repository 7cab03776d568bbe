//! `rung inspect FILE`: sections, counts and sizes, imports and exports, and
//! the largest functions of a module. Decoding alone drives the listing, so a
//! module that does not validate can still be inspected; the verdict is
//! printed on the first line.

use std::path::Path;
use std::process::ExitCode;

use rung::decoder::wasmparser::{ExternalKind, TypeRef};
use rung::decoder::{ModuleEnv, SectionId};

pub fn run(file: &Path, top: usize) -> ExitCode {
    let name = file.display();
    let bytes = match rung::read_module(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            println!("{name}: {e}");
            return ExitCode::from(1);
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let verdict = match rung::validator::validate(&bytes, threads) {
        Ok(_) => "valid".to_string(),
        Err(e) => format!("invalid: {e}"),
    };
    println!("{name}: {} bytes, {verdict}", bytes.len());

    let (env, mut bodies) = match rung::decode_bodies(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            println!("{name}:{:#x}: {}", e.offset, e.message);
            return ExitCode::from(1);
        }
    };
    print_sections(&env);
    print_counts(&env);
    print_imports(&env);
    print_exports(&env);
    print_largest(&env, &mut bodies, top);
    ExitCode::SUCCESS
}

fn print_sections(env: &ModuleEnv) {
    println!("\nsections:");
    println!("  {:>10}  {:>10}  section", "offset", "size");
    for s in &env.sections {
        let label = match (&s.id, &s.name) {
            (SectionId::Custom, Some(n)) => format!("custom \"{n}\""),
            (id, _) => id.name().to_string(),
        };
        println!(
            "  {:>#10x}  {:>10}  {label}",
            s.range.start,
            s.range.end - s.range.start
        );
    }
}

fn print_counts(env: &ModuleEnv) {
    let c = &env.counts;
    let line = |what: &str, all: usize, imported: u32| {
        if all > 0 {
            println!("  {what:<10} {all:>8} ({imported} imported)");
        }
    };
    println!("\ncounts:");
    println!("  {:<10} {:>8}", "types", env.types.len());
    line("functions", env.functions.len(), c.imported_functions);
    line("tables", env.tables.len(), c.imported_tables);
    line("memories", env.memories.len(), c.imported_memories);
    line("globals", env.globals.len(), c.imported_globals);
    line("tags", env.tags.len(), c.imported_tags);
    println!("  {:<10} {:>8}", "exports", env.exports.len());
    println!("  {:<10} {:>8}", "elements", env.elements.len());
    println!("  {:<10} {:>8}", "data", env.data_segments);
    if let Some(start) = env.start {
        println!("  start function {start}");
    }
}

fn describe(env: &ModuleEnv, ty: &TypeRef) -> String {
    match ty {
        TypeRef::Func(t) | TypeRef::FuncExact(t) => match env.types.get(*t as usize) {
            Some(sub) => match &sub.composite_type.inner {
                rung::decoder::wasmparser::CompositeInnerType::Func(f) => f.to_string(),
                _ => format!("func (type {t})"),
            },
            None => format!("func (type {t})"),
        },
        TypeRef::Table(t) => format!("table {} {}..{:?}", t.element_type, t.initial, t.maximum),
        TypeRef::Memory(m) => format!(
            "memory {}..{:?} pages{}",
            m.initial,
            m.maximum,
            if m.shared { ", shared" } else { "" }
        ),
        TypeRef::Global(g) => {
            format!(
                "global {}{}",
                if g.mutable { "mut " } else { "" },
                g.content_type
            )
        }
        TypeRef::Tag(t) => format!("tag (type {})", t.func_type_idx),
    }
}

fn print_imports(env: &ModuleEnv) {
    if env.imports.is_empty() {
        return;
    }
    println!("\nimports:");
    for i in &env.imports {
        println!("  {}.{}: {}", i.module, i.name, describe(env, &i.ty));
    }
}

fn print_exports(env: &ModuleEnv) {
    if env.exports.is_empty() {
        return;
    }
    println!("\nexports:");
    for e in &env.exports {
        let kind = match e.kind {
            ExternalKind::Func | ExternalKind::FuncExact => "func",
            ExternalKind::Table => "table",
            ExternalKind::Memory => "memory",
            ExternalKind::Global => "global",
            ExternalKind::Tag => "tag",
        };
        println!("  {}: {kind} {}", e.name, e.index);
    }
}

fn print_largest(env: &ModuleEnv, bodies: &mut [(u32, u64, usize)], top: usize) {
    if bodies.is_empty() || top == 0 {
        return;
    }
    bodies.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let total: usize = bodies.iter().map(|b| b.2).sum();
    println!(
        "\nlargest functions ({} bodies, {total} bytes in all):",
        bodies.len()
    );
    println!("  {:>8}  {:>10}  {:>10}  name", "index", "offset", "size");
    for (index, offset, size) in bodies.iter().take(top) {
        let name = env.function_name(*index).unwrap_or("");
        println!("  {index:>8}  {offset:>#10x}  {size:>10}  {name}");
    }
}
