;; Loads and stores: explicit bounds checks, defined and imported memories.
(module
  (import "env" "mem" (memory 1))
  (memory $own 1)
  (func $load_i32 (param i32) (result i32) local.get 0 i32.load)
  (func $load8_s_offset (param i32) (result i64) local.get 0 i64.load8_s offset=100)
  (func $store_f64 (param i32 f64) local.get 0 local.get 1 f64.store offset=8)
  (func $own_memory (param i32) (result i32) local.get 0 i32.load16_u $own offset=2))
