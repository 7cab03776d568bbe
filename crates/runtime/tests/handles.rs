//! Handles (`Func`, `Memory`, `Global`, `Table`, `Instance`) belong to the
//! store that made them. Using one with another store is the embedder's
//! mistake; it must never reach the other store's entity of the same index:
//! fallible calls return `Err`, infallible accessors panic with a message
//! that names the handle.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rung_runtime::{Config, Engine, Instance, Linker, Module, Store, Val};

const MODULE: &str = r#"(module
  (memory (export "mem") 1)
  (global (export "g") (mut i32) (i32.const 7))
  (table (export "t") 2 funcref)
  (func (export "f") (result i32) (i32.const 42)))"#;

fn two_stores() -> (Store, Instance, Store, Instance) {
    let engine = Engine::new(Config::default()).unwrap();
    let module = Module::new(&engine, &wat::parse_str(MODULE).unwrap()).unwrap();
    let mut a = Store::new(&engine);
    let ia = Linker::new().instantiate(&mut a, &module).unwrap();
    let mut b = Store::new(&engine);
    let ib = Linker::new().instantiate(&mut b, &module).unwrap();
    (a, ia, b, ib)
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn fallible_calls_refuse_a_foreign_handle() {
    let (a, ia, mut b, _ib) = two_stores();
    let f = ia.get_func(&a, "f").unwrap();
    let err = f.call(&mut b, &[]).unwrap_err();
    assert!(
        err.to_string().contains("handle used with another store"),
        "{err}"
    );

    let g = ia.get_global(&a, "g").unwrap();
    let err = g.set(&mut b, Val::I32(1)).unwrap_err();
    assert_eq!(err.to_string(), "handle used with another store");

    let Some(rung_runtime::Extern::Table(t)) = ia.get_export(&a, "t") else {
        panic!("t is a table")
    };
    let err = t.set(&mut b, 0, Val::FuncRef(None)).unwrap_err();
    assert_eq!(err.to_string(), "handle used with another store");

    // An instance looked up in another store finds nothing.
    assert!(ia.get_export(&b, "f").is_none());
}

#[test]
fn infallible_accessors_panic_on_a_foreign_handle() {
    let (a, ia, mut b, ib) = two_stores();
    let mem = ia.get_memory(&a, "mem").unwrap();
    assert_eq!(
        panic_message(|| {
            mem.data(&b);
        }),
        "a Memory handle was used with another store"
    );
    assert_eq!(
        panic_message(|| {
            mem.grow(&mut b, 1);
        }),
        "a Memory handle was used with another store"
    );
    let g = ia.get_global(&a, "g").unwrap();
    assert_eq!(
        panic_message(|| {
            g.get(&b);
        }),
        "a Global handle was used with another store"
    );
    let f = ia.get_func(&a, "f").unwrap();
    assert_eq!(
        panic_message(|| {
            f.ty(&b);
        }),
        "a Func handle was used with another store"
    );
    assert_eq!(
        panic_message(|| {
            ia.exports(&b);
        }),
        "an Instance handle was used with another store"
    );

    // Store B is untouched and still works; A's handles still work in A.
    assert_eq!(mem.size(&a), 1);
    let gb = ib.get_global(&b, "g").unwrap();
    assert_eq!(gb.get(&b), Val::I32(7));
    assert_eq!(ib.get_memory(&b, "mem").unwrap().size(&b), 1);
}
