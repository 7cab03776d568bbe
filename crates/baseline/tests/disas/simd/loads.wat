;; Widening, zero-filling and splatting loads.
(module
  (memory 1)
  (func $loads (param i32) (result v128)
    local.get 0 v128.load8x8_s offset=1 local.get 0 v128.load16x4_u i16x8.add
    local.get 0 v128.load32x2_s i32x4.add local.get 0 v128.load32_zero offset=4 i32x4.add
    local.get 0 v128.load64_zero i32x4.add local.get 0 v128.load32_splat i32x4.add
    local.get 0 v128.load64_splat offset=8 i64x2.add))
