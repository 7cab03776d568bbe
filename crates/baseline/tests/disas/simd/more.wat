;; Min/max, abs, avgr, mul, dot, narrow, extend, shifts, all_true, bitmask.
(module
  (func $minmax (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.min_s local.get 1 i16x8.max_u local.get 1 i32x4.min_u
    i32x4.abs local.get 1 i8x16.avgr_u local.get 1 i32x4.mul local.get 1 i32x4.dot_i16x8_s)
  (func $narrow_extend (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.narrow_i16x8_u i16x8.extend_high_i8x16_s
    local.get 1 i64x2.extend_low_i32x4_u i16x8.narrow_i32x4_s)
  (func $shifts (param v128 i32) (result v128)
    local.get 0 local.get 1 i16x8.shr_s i32.const 33 i32x4.shl local.get 1 i64x2.shr_u)
  (func $masks (param v128) (result i32)
    local.get 0 i8x16.all_true local.get 0 i64x2.all_true i32.add
    local.get 0 i8x16.bitmask i32.add local.get 0 i32x4.bitmask i32.add))
