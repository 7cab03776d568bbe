;; Float SIMD of issue 9, part 2b, with Cranelift's instructions and
;; operand order: min/max, pmin/pmax, rounding, conversions, and the
;; relaxed operators (ARCHITECTURE.md's table).
(module
  (func $min32 (param v128 v128) (result v128) local.get 0 local.get 1 f32x4.min)
  (func $max64 (param v128 v128) (result v128) local.get 0 local.get 1 f64x2.max)
  (func $pmin32 (param v128 v128) (result v128) local.get 0 local.get 1 f32x4.pmin)
  (func $pmax64 (param v128 v128) (result v128) local.get 0 local.get 1 f64x2.pmax)
  (func $nearest32 (param v128) (result v128) local.get 0 f32x4.nearest)
  (func $floor64 (param v128) (result v128) local.get 0 f64x2.floor)
  (func $convert_u32 (param v128) (result v128) local.get 0 f32x4.convert_i32x4_u)
  (func $convert_low_u64 (param v128) (result v128) local.get 0 f64x2.convert_low_i32x4_u)
  (func $trunc_sat_s32 (param v128) (result v128) local.get 0 i32x4.trunc_sat_f32x4_s)
  (func $trunc_sat_u32 (param v128) (result v128) local.get 0 i32x4.trunc_sat_f32x4_u)
  (func $trunc_sat_s64 (param v128) (result v128) local.get 0 i32x4.trunc_sat_f64x2_s_zero)
  (func $trunc_sat_u64 (param v128) (result v128) local.get 0 i32x4.trunc_sat_f64x2_u_zero)
  (func $demote_promote (param v128) (result v128)
    local.get 0 f32x4.demote_f64x2_zero f64x2.promote_low_f32x4)
  (func $madd (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f32x4.relaxed_nmadd)
  (func $dot_add (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i32x4.relaxed_dot_i8x16_i7x16_add_s)
  (func $relaxed (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.relaxed_swizzle
    local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s
    i32x4.relaxed_trunc_f32x4_u))
