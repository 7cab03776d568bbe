;; Splats, extract_lane and replace_lane of every shape.
(module
  (func $splats (param i32 i64 f32 f64) (result v128)
    local.get 0 i8x16.splat local.get 0 i16x8.splat i16x8.add
    local.get 0 i32x4.splat i32x4.add local.get 1 i64x2.splat i64x2.add
    local.get 2 f32x4.splat v128.xor local.get 3 f64x2.splat v128.xor)
  (func $extract (param v128) (result i32)
    local.get 0 i8x16.extract_lane_s 1 local.get 0 i8x16.extract_lane_u 2 i32.add
    local.get 0 i16x8.extract_lane_s 3 i32.add local.get 0 i16x8.extract_lane_u 4 i32.add
    local.get 0 i32x4.extract_lane 3 i32.add
    local.get 0 i64x2.extract_lane 1 i32.wrap_i64 i32.add)
  (func $extract_f (param v128) (result f64)
    local.get 0 f32x4.extract_lane 1 f64.promote_f32 local.get 0 f64x2.extract_lane 1 f64.add)
  (func $replace (param v128 i32 i64 f32 f64) (result v128)
    local.get 0 local.get 1 i8x16.replace_lane 15 local.get 1 i16x8.replace_lane 7
    local.get 1 i32x4.replace_lane 3 local.get 2 i64x2.replace_lane 1
    local.get 3 f32x4.replace_lane 2 local.get 4 f64x2.replace_lane 0
    local.get 4 f64x2.replace_lane 1))
