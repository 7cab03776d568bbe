;; Comparisons: materialized with setcc, or fused into the branch, select
;; or eqz that follows.
(module
  (func $lt_u_i64 (param i64 i64) (result i32) local.get 0 local.get 1 i64.lt_u)
  (func $eq_imm (param i32) (result i32) local.get 0 i32.const 7 i32.eq)
  (func $eqz (param i32) (result i32) local.get 0 i32.eqz)
  (func $fused_if (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.gt_s if (result i32) local.get 0 else local.get 1 end)
  (func $fused_select (param i32 i32) (result i32)
    local.get 0 local.get 1 local.get 0 local.get 1 i32.le_u select)
  (func $fused_eqz_br_if (param i32) (result i32)
    block local.get 0 i32.const 3 i32.ne i32.eqz br_if 0 i32.const 1 return end i32.const 2)
  (func $float_lt (param f64 f64) (result i32) local.get 0 local.get 1 f64.lt)
  (func $float_eq (param f32 f32) (result i32) local.get 0 local.get 1 f32.eq))
