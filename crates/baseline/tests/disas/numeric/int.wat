;; Integer arithmetic: operands from locals as memory operands, constants
;; folded into immediates, division with its traps, shifts by cl.
(module
  (func $add_i32 (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func $add_imm (param i32) (result i32) local.get 0 i32.const 5 i32.add)
  (func $mul_i64 (param i64 i64) (result i64) local.get 0 local.get 1 i64.mul i64.const 3 i64.mul)
  (func $div_s_i32 (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func $rem_u_i64 (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_u)
  (func $div_by_const (param i32) (result i32) local.get 0 i32.const 10 i32.div_u)
  (func $shl_var (param i32 i32) (result i32) local.get 0 local.get 1 i32.shl)
  (func $rotl_popcnt (param i32 i32) (result i32) local.get 0 local.get 1 i32.rotl i32.popcnt)
  (func $clz_ctz (param i64) (result i64) local.get 0 i64.clz local.get 0 i64.ctz i64.add)
  (func $extend (param i32) (result i64) local.get 0 i64.extend_i32_s local.get 0 i64.extend_i32_u i64.add)
  (func $folded (result i32) i32.const 6 i32.const 7 i32.mul i32.const 1 i32.shl))
