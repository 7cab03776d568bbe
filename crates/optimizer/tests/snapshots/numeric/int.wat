;; Integer arithmetic, comparison and the division traps.
(module
  (func $add_i32 (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func $div_s_i32 (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func $rem_u_i64 (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_u)
  (func $lt_u_i64 (param i64 i64) (result i32) local.get 0 local.get 1 i64.lt_u)
  (func $rotl_popcnt (param i32 i32) (result i32) local.get 0 local.get 1 i32.rotl i32.popcnt)
  (func $extend8_s (param i64) (result i64) local.get 0 i64.extend8_s))
