//! Resource limits on a store (`Store::limiter`): each limit is hit and the
//! failure checked, growth through compiled code of both tiers and through
//! the host API, and a custom `ResourceLimiter`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rung::runtime::{
    Engine, Error, Linker, Memory, Module, ResourceLimiter, Store, StoreLimitsBuilder, Table,
    TierChoice, Val,
};

const WAT: &str = r#"(module
  (memory (export "memory") 1 100)
  (table 2 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "table_grow") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0))))"#;

fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, &wat::parse_str(wat).unwrap()).unwrap()
}

fn call_i32(
    store: &mut Store,
    instance: &rung::runtime::Instance,
    name: &str,
    arg: Option<i32>,
) -> i32 {
    let f = instance.get_func(store, name).unwrap();
    let args: Vec<Val> = arg.into_iter().map(Val::I32).collect();
    match f.call(store, &args).unwrap().as_slice() {
        [Val::I32(x)] => *x,
        other => panic!("{name}: {other:?}"),
    }
}

fn resource_error(e: Error) -> String {
    match e {
        Error::Resource(message) => message,
        other => panic!("expected a resource error, got {other}"),
    }
}

#[test]
fn memory_and_table_growth_stop_at_the_limits_in_both_tiers() {
    for tier in [TierChoice::Optimized, TierChoice::Baseline] {
        let engine = Engine::new(tier.config()).unwrap();
        let m = module(&engine, WAT);
        let mut store = Store::new(&engine);
        store.limiter(
            StoreLimitsBuilder::new()
                .memory_size(3 * 65536)
                .table_elements(5)
                .build(),
        );
        let i = Linker::new().instantiate(&mut store, &m).unwrap();
        assert_eq!(call_i32(&mut store, &i, "grow", Some(1)), 1, "{tier:?}");
        assert_eq!(call_i32(&mut store, &i, "grow", Some(1)), 2, "{tier:?}");
        // A fourth page exceeds the limit, though the maximum is 100.
        assert_eq!(call_i32(&mut store, &i, "grow", Some(1)), -1, "{tier:?}");
        assert_eq!(call_i32(&mut store, &i, "size", None), 3, "{tier:?}");
        assert_eq!(
            call_i32(&mut store, &i, "table_grow", Some(3)),
            2,
            "{tier:?}"
        );
        assert_eq!(
            call_i32(&mut store, &i, "table_grow", Some(1)),
            -1,
            "{tier:?}"
        );
        // The host API obeys the same limit.
        let memory = i.get_memory(&store, "memory").unwrap();
        assert_eq!(memory.grow(&mut store, 1), None, "{tier:?}");
        assert_eq!(memory.size(&store), 3, "{tier:?}");
    }
}

#[test]
fn instantiation_fails_naming_the_limit_before_creating_anything() {
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let m = module(&engine, WAT);

    let mut store = Store::new(&engine);
    store.limiter(StoreLimitsBuilder::new().memory_size(65535).build());
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(
        e,
        "a memory of 65536 bytes exceeds the store's memory_size limit of 65535 bytes"
    );

    let mut store = Store::new(&engine);
    store.limiter(StoreLimitsBuilder::new().table_elements(1).build());
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(
        e,
        "a table of 2 elements exceeds the store's table_elements limit of 1"
    );

    let mut store = Store::new(&engine);
    store.limiter(StoreLimitsBuilder::new().instances(2).build());
    Linker::new().instantiate(&mut store, &m).unwrap();
    Linker::new().instantiate(&mut store, &m).unwrap();
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(e, "3 instances would exceed the store's limit of 2");

    let mut store = Store::new(&engine);
    store.limiter(StoreLimitsBuilder::new().memories(1).build());
    Linker::new().instantiate(&mut store, &m).unwrap();
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(e, "2 memories would exceed the store's limit of 1");
    let e = resource_error(Memory::new(&mut store, 1, None).unwrap_err());
    assert_eq!(e, "2 memories would exceed the store's limit of 1");

    let mut store = Store::new(&engine);
    store.limiter(StoreLimitsBuilder::new().tables(0).build());
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(e, "1 tables would exceed the store's limit of 0");
    let ty = wasmparser::TableType {
        element_type: wasmparser::RefType::FUNCREF,
        table64: false,
        initial: 1,
        maximum: None,
        shared: false,
    };
    let e = resource_error(Table::new(&mut store, ty).unwrap_err());
    assert_eq!(e, "1 tables would exceed the store's limit of 0");
    // Nothing was created by the refused attempts.
    let fine = module(&engine, "(module (func (export \"f\")))");
    Linker::new().instantiate(&mut store, &fine).unwrap();
}

/// A custom policy: a byte quota shared by every memory of the store,
/// counting how often it was asked.
struct Quota {
    left: u64,
    asked: Arc<AtomicUsize>,
}

impl ResourceLimiter for Quota {
    fn memory_growing(
        &mut self,
        current: u64,
        desired: u64,
        _max: Option<u64>,
    ) -> Result<(), String> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let more = desired - current;
        if more > self.left {
            return Err(format!(
                "{more} more bytes exceed the quota's {} left",
                self.left
            ));
        }
        self.left -= more;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: u64,
        _desired: u64,
        _max: Option<u64>,
    ) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn a_custom_limiter_decides_every_growth() {
    let engine = Engine::new(TierChoice::Optimized.config()).unwrap();
    let m = module(&engine, WAT);
    let mut store = Store::new(&engine);
    let asked = Arc::new(AtomicUsize::new(0));
    store.limiter(Quota {
        left: 4 * 65536,
        asked: asked.clone(),
    });
    let a = Linker::new().instantiate(&mut store, &m).unwrap();
    let b = Linker::new().instantiate(&mut store, &m).unwrap();
    // Two memories of one page each; two pages of quota are left.
    assert_eq!(call_i32(&mut store, &a, "grow", Some(1)), 1);
    assert_eq!(call_i32(&mut store, &b, "grow", Some(2)), -1);
    assert_eq!(call_i32(&mut store, &b, "grow", Some(1)), 1);
    assert_eq!(call_i32(&mut store, &a, "grow", Some(1)), -1);
    assert_eq!(asked.load(Ordering::Relaxed), 6);
    let e = resource_error(Linker::new().instantiate(&mut store, &m).unwrap_err());
    assert_eq!(e, "65536 more bytes exceed the quota's 0 left");
}
