;; Lane arithmetic: v128 in xmm registers, bitcasts between lane shapes,
;; shifts with a count taken modulo the lane width, saturating ops,
;; comparisons, bitselect, all_true and bitmask, a v128 global and select.
(module
  (global $g (mut v128) (v128.const i64x2 0 0))
  (func $i32x4_add_mul (param v128 v128) (result v128)
    local.get 0 local.get 1 i32x4.add local.get 1 i32x4.mul)
  (func $i8x16_shl (param v128 i32) (result v128)
    local.get 0 local.get 1 i8x16.shl)
  (func $i16x8_add_sat_s (param v128 v128) (result v128)
    local.get 0 local.get 1 i16x8.add_sat_s)
  (func $f32x4_min_pmin (param v128 v128) (result v128)
    local.get 0 local.get 1 f32x4.min local.get 1 f32x4.pmin)
  (func $i64x2_gt_bitselect (param v128 v128) (result v128)
    local.get 0 local.get 1 local.get 0 local.get 1 i64x2.gt_s v128.bitselect)
  (func $all_true_bitmask (param v128) (result i32)
    local.get 0 i32x4.all_true local.get 0 i8x16.bitmask i32.add)
  (func $global_select (param v128 i32) (result v128)
    local.get 0 global.get $g local.get 1 select
    global.set $g global.get $g)
  (func $dot_extadd (param v128 v128) (result v128)
    local.get 0 local.get 1 i32x4.dot_i16x8_s i32x4.extadd_pairwise_i16x8_u))
