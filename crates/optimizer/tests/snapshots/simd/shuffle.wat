;; Shuffles, swizzles, splats, lane extraction and replacement.
(module
  (func $shuffle (param v128 v128) (result v128)
    local.get 0 local.get 1
    i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31)
  (func $swizzle (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.swizzle)
  (func $splat_extract (param i32) (result i32)
    local.get 0 i8x16.splat i8x16.extract_lane_s 15)
  (func $replace_f64 (param v128 f64) (result v128)
    local.get 0 local.get 1 f64x2.replace_lane 1)
  (func $const (result v128)
    v128.const i32x4 1 2 3 4))
