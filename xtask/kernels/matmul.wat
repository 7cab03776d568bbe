;; Dense f64 matrix multiply, C = A × B with N = 200, in linear memory:
;; loads, stores, float multiply-add, nested loops. `run` returns the sum of
;; C's elements, truncated to i64.
(module
  ;; A at 0, B at N*N*8, C at 2*N*N*8: 960,000 bytes, 15 pages.
  (memory 15)
  (global $n i32 (i32.const 200))
  (func $init
    (local $i i32) (local $k i32)
    (local.set $i (i32.const 0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $i) (global.get $n)))
      (local.set $k (i32.const 0))
      (block $rdone (loop $cols
        (br_if $rdone (i32.ge_u (local.get $k) (global.get $n)))
        (f64.store
          (i32.shl (i32.add (i32.mul (local.get $i) (global.get $n)) (local.get $k)) (i32.const 3))
          (f64.convert_i32_u (i32.rem_u (i32.add (local.get $i) (local.get $k)) (i32.const 7))))
        (f64.store
          (i32.add (i32.const 320000)
            (i32.shl (i32.add (i32.mul (local.get $i) (global.get $n)) (local.get $k)) (i32.const 3)))
          (f64.convert_i32_u (i32.rem_u (i32.mul (local.get $i) (local.get $k)) (i32.const 5))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $cols)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))
  (func (export "run") (result i64)
    (local $i i32) (local $j i32) (local $k i32) (local $acc f64) (local $sum f64)
    (call $init)
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_u (local.get $i) (global.get $n)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_u (local.get $j) (global.get $n)))
        (local.set $acc (f64.const 0))
        (local.set $k (i32.const 0))
        (block $kdone (loop $kloop
          (br_if $kdone (i32.ge_u (local.get $k) (global.get $n)))
          (local.set $acc
            (f64.add (local.get $acc)
              (f64.mul
                (f64.load (i32.shl (i32.add (i32.mul (local.get $i) (global.get $n)) (local.get $k)) (i32.const 3)))
                (f64.load (i32.add (i32.const 320000)
                  (i32.shl (i32.add (i32.mul (local.get $k) (global.get $n)) (local.get $j)) (i32.const 3)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $kloop)))
        (f64.store
          (i32.add (i32.const 640000)
            (i32.shl (i32.add (i32.mul (local.get $i) (global.get $n)) (local.get $j)) (i32.const 3)))
          (local.get $acc))
        (local.set $sum (f64.add (local.get $sum) (local.get $acc)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jloop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop)))
    (i64.trunc_f64_s (local.get $sum))))
