;; The operators of issue 9, part 2b: shifts and i64x2 arithmetic without
;; SSE4.2, permutations, widening multiplies and pairwise adds.
(module
  (func $shl8 (param v128 i32) (result v128) local.get 0 local.get 1 i8x16.shl)
  (func $shr_u8 (param v128 i32) (result v128) local.get 0 local.get 1 i8x16.shr_u)
  (func $shr_s8 (param v128 i32) (result v128) local.get 0 local.get 1 i8x16.shr_s)
  (func $shr_s64 (param v128 i32) (result v128) local.get 0 local.get 1 i64x2.shr_s)
  (func $gt_s64 (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.gt_s)
  (func $ge_s64 (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.ge_s)
  (func $mul64 (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.mul)
  (func $abs64 (param v128) (result v128) local.get 0 i64x2.abs)
  (func $bitmask16 (param v128) (result i32) local.get 0 i16x8.bitmask)
  (func $shuffle (param v128 v128) (result v128)
    local.get 0 local.get 1
    i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23)
  (func $swizzle (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.swizzle)
  (func $popcnt (param v128) (result v128) local.get 0 i8x16.popcnt)
  (func $q15mulr (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.q15mulr_sat_s)
  (func $extmul (param v128 v128) (result v128)
    local.get 0 local.get 1 i16x8.extmul_high_i8x16_s
    local.get 0 local.get 1 i64x2.extmul_low_i32x4_u i64x2.add)
  (func $extadd (param v128) (result v128)
    local.get 0 i16x8.extadd_pairwise_i8x16_s local.get 0 i32x4.extadd_pairwise_i16x8_u
    i32x4.add)
  (func $lanes (param i32 v128) (result v128)
    local.get 0 v128.load8_splat local.get 0 local.get 1 v128.load16_lane 3 i8x16.add
    local.get 0 local.get 1 v128.store64_lane 1)
  (memory 1))
