;; SIMD f32 matrix multiply, C = A × B with N = 128: each row of C is built
;; four columns at a time from a splat of A[i][k] times B's row k
;; (f32x4.splat, f32x4.mul, f32x4.add, v128.load/store), 20 times over.
;; `run` returns the sum of C's elements, truncated to i64.
(module
  ;; A at 0, B at 65536, C at 131072: 196,608 bytes, 3 pages.
  (memory 3)
  (func $init
    (local $i i32)
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16384)))
      (f32.store (i32.shl (local.get $i) (i32.const 2))
        (f32.convert_i32_u (i32.rem_u (local.get $i) (i32.const 5))))
      (f32.store (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2)))
        (f32.convert_i32_u (i32.rem_u (local.get $i) (i32.const 3))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill))))
  (func $matmul
    (local $i i32) (local $j i32) (local $k i32) (local $a v128) (local $row i32)
    (local.set $i (i32.const 0))
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_u (local.get $i) (i32.const 128)))
      ;; C's row i at 131072 + i*512, cleared.
      (local.set $row (i32.add (i32.const 131072) (i32.shl (local.get $i) (i32.const 9))))
      (local.set $j (i32.const 0))
      (block $cdone (loop $clear
        (br_if $cdone (i32.ge_u (local.get $j) (i32.const 512)))
        (v128.store (i32.add (local.get $row) (local.get $j)) (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $clear)))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (i32.const 128)))
        (local.set $a (f32x4.splat (f32.load
          (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 7)) (local.get $k)) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jloop
          (br_if $jdone (i32.ge_u (local.get $j) (i32.const 512)))
          (v128.store (i32.add (local.get $row) (local.get $j))
            (f32x4.add (v128.load (i32.add (local.get $row) (local.get $j)))
              (f32x4.mul (local.get $a)
                (v128.load (i32.add (i32.add (i32.const 65536) (i32.shl (local.get $k) (i32.const 9)))
                                    (local.get $j))))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $jloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kloop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop))))
  (func (export "run") (result i64)
    (local $r i32) (local $p i32) (local $sum f64)
    (call $init)
    (block $done (loop $rep
      (br_if $done (i32.ge_u (local.get $r) (i32.const 20)))
      (call $matmul)
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rep)))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (i32.const 65536)))
      (local.set $sum (f64.add (local.get $sum)
        (f64.promote_f32 (f32.load (i32.add (i32.const 131072) (local.get $p))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $s)))
    (i64.trunc_f64_s (local.get $sum))))
