;; Float arithmetic and wasm's exact min/max, copysign, rounding.
(module
  (func $add (param f64 f64) (result f64) local.get 0 local.get 1 f64.add)
  (func $mul_const (param f32) (result f32) local.get 0 f32.const 2.5 f32.mul)
  (func $min (param f64 f64) (result f64) local.get 0 local.get 1 f64.min)
  (func $max (param f32 f32) (result f32) local.get 0 local.get 1 f32.max)
  (func $abs_neg (param f64) (result f64) local.get 0 f64.abs f64.neg)
  (func $copysign (param f32 f32) (result f32) local.get 0 local.get 1 f32.copysign)
  (func $nearest (param f64) (result f64) local.get 0 f64.nearest)
  (func $sqrt (param f32) (result f32) local.get 0 f32.sqrt))
