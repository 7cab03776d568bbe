;; Bitwise, integer and float arithmetic, comparisons.
(module
  (func $bitwise (param v128 v128 v128) (result i32)
    local.get 0 v128.not local.get 1 v128.andnot local.get 2 local.get 0 v128.bitselect
    local.get 1 v128.or local.get 2 v128.xor v128.any_true)
  (func $int (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.add_sat_u local.get 1 i16x8.sub_sat_s
    i64x2.neg local.get 0 i64x2.sub)
  (func $int_cmp (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.ne local.get 0 local.get 1 i16x8.lt_s v128.and
    local.get 0 local.get 1 i32x4.ge_u v128.and local.get 0 local.get 1 i8x16.gt_u v128.and
    local.get 0 local.get 1 i64x2.eq v128.and)
  (func $float (param v128 v128) (result v128)
    local.get 0 local.get 1 f32x4.mul f32x4.sqrt f32x4.abs local.get 1 f32x4.gt
    local.get 0 local.get 1 f64x2.sub f64x2.neg local.get 1 f64x2.ne v128.or))
