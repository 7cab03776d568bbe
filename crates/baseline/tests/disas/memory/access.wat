;; Loads and stores: no bounds check (the guard region faults at the access,
;; a trap site), base pinned in r15, constant addresses folded.
(module
  (memory 1)
  (func $load (param i32) (result i32) local.get 0 i32.load offset=4)
  (func $load8_s (param i32) (result i64) local.get 0 i64.load8_s)
  (func $store (param i32 i64) local.get 0 local.get 1 i64.store offset=16)
  (func $store_imm (param i32) local.get 0 i32.const 42 i32.store16)
  (func $const_addr (result f64) i32.const 64 f64.load)
  (func $big_offset (param i32) (result i32) local.get 0 i32.load offset=0x80000000)
  (func $size_grow (result i32) memory.size i32.const 1 memory.grow i32.add))
