;; PolyBench's jacobi-2d: a 5-point stencil on an N×N grid of f64, N = 400,
;; TSTEPS = 100 time steps of two sweeps (A → B, B → A), all in one call of
;; `run`: one long loop nest, the shape of a numeric program whose main loop
;; runs once. `run` returns the sum of A's elements × 1000, truncated.
(module
  ;; A at 0, B at N*N*8 = 1,280,000: 2,560,000 bytes, 40 pages.
  (memory 40)
  (func $at (param $i i32) (param $j i32) (result i32)
    (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 400)) (local.get $j)) (i32.const 3)))
  (func (export "run") (result i64)
    (local $t i32) (local $i i32) (local $j i32) (local $p i32) (local $sum f64)
    ;; init: A[i][j] = (i*(j+2) + 2) / N, B[i][j] = (i*(j+3) + 3) / N
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (i32.const 400)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (i32.const 400)))
        (local.set $p (call $at (local.get $i) (local.get $j)))
        (f64.store (local.get $p)
          (f64.div (f64.convert_i32_u (i32.add (i32.mul (local.get $i) (i32.add (local.get $j) (i32.const 2))) (i32.const 2)))
                   (f64.const 400)))
        (f64.store offset=1280000 (local.get $p)
          (f64.div (f64.convert_i32_u (i32.add (i32.mul (local.get $i) (i32.add (local.get $j) (i32.const 3))) (i32.const 3)))
                   (f64.const 400)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))
    ;; time steps
    (local.set $t (i32.const 0))
    (block $td (loop $tl
      (br_if $td (i32.ge_u (local.get $t) (i32.const 100)))
      ;; B = stencil(A)
      (local.set $i (i32.const 1))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (i32.const 399)))
        (local.set $j (i32.const 1))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $j) (i32.const 399)))
          (local.set $p (call $at (local.get $i) (local.get $j)))
          (f64.store offset=1280000 (local.get $p)
            (f64.mul (f64.const 0.2)
              (f64.add
                (f64.add (f64.load (local.get $p)) (f64.load offset=8 (local.get $p)))
                (f64.add (f64.load (i32.sub (local.get $p) (i32.const 8)))
                  (f64.add (f64.load offset=3200 (local.get $p))
                           (f64.load (i32.sub (local.get $p) (i32.const 3200))))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      ;; A = stencil(B)
      (local.set $i (i32.const 1))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (i32.const 399)))
        (local.set $j (i32.const 1))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $j) (i32.const 399)))
          (local.set $p (call $at (local.get $i) (local.get $j)))
          (f64.store (local.get $p)
            (f64.mul (f64.const 0.2)
              (f64.add
                (f64.add (f64.load offset=1280000 (local.get $p)) (f64.load offset=1280008 (local.get $p)))
                (f64.add (f64.load offset=1279992 (local.get $p))
                  (f64.add (f64.load offset=1283200 (local.get $p))
                           (f64.load offset=1276800 (local.get $p)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tl)))
    ;; checksum
    (local.set $p (i32.const 0))
    (block $sd (loop $sl
      (br_if $sd (i32.ge_u (local.get $p) (i32.const 1280000)))
      (local.set $sum (f64.add (local.get $sum) (f64.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $sl)))
    (i64.trunc_f64_s (f64.mul (local.get $sum) (f64.const 1000)))))
