;; v128 values (issue 9, part 2a): parameters in xmm registers and on the
;; stack (16-byte slots), 16-byte zeroed locals, local.set/tee, v128.const
;; (zero, all ones, other), results by the shared ABI, memory accesses.
(module
  (memory 1)
  (func $params (param v128 v128 v128 v128 v128 v128 v128 v128 v128) (result v128)
    local.get 0 local.get 8 i32x4.add)
  (func $locals (param v128) (result v128) (local i32 v128 i64 v128)
    local.get 0 local.tee 2 local.get 4 i8x16.sub local.set 4 local.get 4)
  (func $consts (result v128)
    v128.const i64x2 0 0 v128.const i64x2 -1 -1 v128.and
    v128.const i32x4 1 2 3 4 v128.or)
  (func $memory (param i32) (result v128)
    local.get 0 local.get 0 v128.load offset=16 v128.store offset=32
    local.get 0 v128.load))
