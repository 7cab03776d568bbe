;; v128 in 16-byte value-stack slots (issue 9, part 2b): live across a
;; call (a spill to the patched v128 area), block/loop/if types (merged in
;; xmm registers), select, globals, calls and tail calls with v128 in the
;; signature.
(module
  (global $g (mut v128) (v128.const i64x2 1 2))
  (func $pick (param v128 f64 v128) (result v128 i32 v128)
    local.get 2 i32.const 7 local.get 0)
  (func $across_call (param v128) (result v128)
    local.get 0 i32x4.neg
    local.get 0 f64.const 1 local.get 0 call $pick drop drop
    i32x4.add)
  (func $blocks (param v128 i32) (result v128)
    local.get 0
    loop (param v128) (result v128)
      i32x4.neg local.get 1 br_if 0
    end
    local.get 1 if (param v128) (result v128) i32x4.abs end
    local.get 0 local.get 1 select
    global.get $g i32x4.add global.set $g global.get $g)
  (func $tail (param v128) (result v128 i32 v128)
    local.get 0 f64.const 2 local.get 0 return_call $pick))
