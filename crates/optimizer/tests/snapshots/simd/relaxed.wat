;; Relaxed SIMD, one deterministic answer each: relaxed_swizzle = swizzle,
;; relaxed_trunc = trunc_sat, laneselect = bitselect, relaxed_min = min,
;; madd unfused, dot products signed x signed.
(module
  (func $swizzle (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.relaxed_swizzle)
  (func $trunc_u (param v128) (result v128)
    local.get 0 i32x4.relaxed_trunc_f32x4_u)
  (func $laneselect (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i32x4.relaxed_laneselect)
  (func $min (param v128 v128) (result v128)
    local.get 0 local.get 1 f64x2.relaxed_min)
  (func $madd (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd)
  (func $nmadd (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f64x2.relaxed_nmadd)
  (func $dot (param v128 v128) (result v128)
    local.get 0 local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s)
  (func $dot_add (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i32x4.relaxed_dot_i8x16_i7x16_add_s))
