;; v128 loads and stores: whole, extending, splat, zero-filling, lanes;
;; each access a tagged MemoryOutOfBounds trap site.
(module
  (memory 1)
  (func $load_store (param i32)
    local.get 0 local.get 0 v128.load offset=16 v128.store)
  (func $load8x8_s (param i32) (result v128)
    local.get 0 v128.load8x8_s)
  (func $load32_splat (param i32) (result v128)
    local.get 0 v128.load32_splat offset=4)
  (func $load64_zero (param i32) (result v128)
    local.get 0 v128.load64_zero)
  (func $load16_lane (param i32 v128) (result v128)
    local.get 0 local.get 1 v128.load16_lane 3)
  (func $store8_lane (param i32 v128)
    local.get 0 local.get 1 v128.store8_lane offset=1 15))
