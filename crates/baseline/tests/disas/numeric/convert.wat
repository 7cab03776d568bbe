;; Conversions: trapping and saturating truncation, unsigned conversion,
;; reinterpretation.
(module
  (func $trunc_s (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func $trunc_u64 (param f32) (result i64) local.get 0 i64.trunc_f32_u)
  (func $trunc_sat_s (param f64) (result i64) local.get 0 i64.trunc_sat_f64_s)
  (func $trunc_sat_u (param f32) (result i32) local.get 0 i32.trunc_sat_f32_u)
  (func $convert_u64 (param i64) (result f64) local.get 0 f64.convert_i64_u)
  (func $convert_u32 (param i32) (result f32) local.get 0 f32.convert_i32_u)
  (func $promote_demote (param f32) (result f32) local.get 0 f64.promote_f32 f32.demote_f64)
  (func $reinterpret (param f64) (result i64) local.get 0 i64.reinterpret_f64))
