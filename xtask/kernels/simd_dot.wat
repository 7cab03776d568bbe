;; SIMD float dot product: two f32 arrays of N = 4096 in linear memory,
;; multiplied and summed four lanes at a time (f32x4.mul, f32x4.add), 2,000
;; times over. `run` returns the last dot product's lanes summed, times the
;; repetitions, truncated to i64 (every repetition computes the same value).
(module
  ;; x at 0, y at N*4: 32,768 bytes, 1 page.
  (memory 1)
  (global $n i32 (i32.const 4096))
  (func $init
    (local $i i32)
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (global.get $n)))
      (f32.store (i32.shl (local.get $i) (i32.const 2))
        (f32.convert_i32_u (i32.rem_u (local.get $i) (i32.const 13))))
      (f32.store (i32.add (i32.const 16384) (i32.shl (local.get $i) (i32.const 2)))
        (f32.mul (f32.const 0.25) (f32.convert_i32_u (i32.rem_u (local.get $i) (i32.const 7)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill))))
  (func $dot (result f32)
    (local $p i32) (local $acc v128)
    (local.set $acc (v128.const f32x4 0 0 0 0))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (i32.const 16384)))
      (local.set $acc
        (f32x4.add (local.get $acc)
          (f32x4.mul (v128.load (local.get $p))
                     (v128.load offset=16384 (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
  (func (export "run") (result i64)
    (local $r i32) (local $sum f64)
    (call $init)
    (block $done (loop $rep
      (br_if $done (i32.ge_u (local.get $r) (i32.const 2000)))
      (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (call $dot))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rep)))
    (i64.trunc_f64_s (local.get $sum))))
