//! `rung run FILE [--invoke NAME] [ARGS...]`: compile, instantiate, call an
//! export with arguments parsed from the command line, print its results. A
//! trap ends the run with its message on stderr and exit status 1.

use std::path::Path;
use std::process::ExitCode;

use rung::runtime::{Config, Engine, Linker, Module, Store, Val, ValType};

pub fn run(file: &Path, invoke: Option<&str>, args: &[String], config: Config) -> ExitCode {
    let fail = |message: String| {
        eprintln!("rung: {message}");
        ExitCode::from(1)
    };
    let bytes = match rung::read_module(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot create the engine: {e}")),
    };
    let module = match Module::new(&engine, &bytes) {
        Ok(m) => m,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let mut store = Store::new(&engine);
    let instance = match Linker::new().instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let name = invoke.unwrap_or("_start");
    let Some(func) = instance.get_func(&store, name) else {
        return fail(format!(
            "{}: no exported function `{name}` (name one with --invoke)",
            file.display()
        ));
    };
    let ty = func.ty(&store).clone();
    if args.len() != ty.params().len() {
        return fail(format!(
            "`{name}` has type {ty}: it takes {} arguments",
            ty.params().len()
        ));
    }
    let mut values = Vec::with_capacity(args.len());
    for (arg, param) in args.iter().zip(ty.params()) {
        match parse_arg(arg, *param) {
            Some(v) => values.push(v),
            None => return fail(format!("cannot read `{arg}` as {param}")),
        }
    }
    match func.call(&mut store, &values) {
        Ok(results) => {
            for r in results {
                println!("{}", show(&r));
            }
            ExitCode::SUCCESS
        }
        Err(trap) => fail(format!("trap: {trap}")),
    }
}

fn parse_arg(text: &str, ty: ValType) -> Option<Val> {
    Some(match ty {
        ValType::I32 => Val::I32(
            text.parse::<i32>()
                .or_else(|_| text.parse::<u32>().map(|v| v as i32))
                .ok()?,
        ),
        ValType::I64 => Val::I64(
            text.parse::<i64>()
                .or_else(|_| text.parse::<u64>().map(|v| v as i64))
                .ok()?,
        ),
        ValType::F32 => Val::F32(text.parse::<f32>().ok()?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().ok()?.to_bits()),
        _ => return None,
    })
}

fn show(v: &Val) -> String {
    match v {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(v) => format!("{v:#034x}"),
        Val::FuncRef(f) => {
            if f.is_some() {
                "funcref".into()
            } else {
                "null funcref".into()
            }
        }
        Val::ExternRef(e) => e.map_or("null externref".into(), |e| format!("externref {e}")),
    }
}
