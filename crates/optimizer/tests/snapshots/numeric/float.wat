;; Float arithmetic, comparisons and conversions.
(module
  (func $min_f32 (param f32 f32) (result f32) local.get 0 local.get 1 f32.min)
  (func $nearest_f64 (param f64) (result f64) local.get 0 f64.nearest)
  (func $copysign_f64 (param f64 f64) (result f64) local.get 0 local.get 1 f64.copysign)
  (func $ne_f32 (param f32 f32) (result i32) local.get 0 local.get 1 f32.ne)
  (func $trunc_f64_s (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func $trunc_sat_f32_u (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u)
  (func $convert_i64_u (param i64) (result f64) local.get 0 f64.convert_i64_u)
  (func $reinterpret (param f32) (result i32) local.get 0 i32.reinterpret_f32))
