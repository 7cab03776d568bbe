;; Narrowing, widening, float/int conversions with saturation, demote and
;; promote, rounding.
(module
  (func $narrow_u (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.narrow_i16x8_u)
  (func $extend_high_s (param v128) (result v128)
    local.get 0 i32x4.extend_high_i16x8_s)
  (func $trunc_sat_f32x4_u (param v128) (result v128)
    local.get 0 i32x4.trunc_sat_f32x4_u)
  (func $trunc_sat_f64x2_s_zero (param v128) (result v128)
    local.get 0 i32x4.trunc_sat_f64x2_s_zero)
  (func $convert_low_u (param v128) (result v128)
    local.get 0 f64x2.convert_low_i32x4_u)
  (func $demote_promote (param v128) (result v128)
    local.get 0 f32x4.demote_f64x2_zero f64x2.promote_low_f32x4)
  (func $nearest (param v128) (result v128)
    local.get 0 f32x4.nearest))
