;; v128 locals pinned to xmm registers in loops, like floats: $dot's
;; accumulator is loaded once in the preheader (out of line), read from
;; xmm14, and written to xmm14 and its slot (write-through); $splat's
;; vector, set before the loop, stays in its register across back-edges;
;; $across_call reloads its pinned v128 after the call (xmm registers are
;; caller-saved); each function's tier-up routine saves and restores all
;; 16 bytes of each xmm register. Pinned i32 addresses index memory
;; directly, and counters step with one `lea`.
(module
  (memory 1)
  (func $dot (param $n i32) (result v128)
    (local $p i32) (local $acc v128)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
      (local.set $acc
        (f32x4.add (local.get $acc)
          (f32x4.mul (v128.load (local.get $p))
                     (v128.load offset=16384 (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (local.get $acc))
  (func $splat (param $n i32) (result i32)
    (local $p i32) (local $c i32) (local $nl v128)
    (local.set $nl (i8x16.splat (i32.const 10)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
      (local.set $c (i32.add (local.get $c)
        (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load (local.get $p)) (local.get $nl))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (local.get $c))
  (func $across_call (param $v v128) (param $n i32) (result v128)
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (local.get $v)))
      (drop (call $splat (local.get $n)))
      (local.set $v (i32x4.sub (local.get $v) (i32x4.splat (local.get $n))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $v)))
