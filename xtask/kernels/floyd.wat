;; PolyBench's floyd-warshall: all-pairs shortest paths on N = 360 nodes
;; (i32 weights, N³ = 46.7 million relaxations), all in one call of `run`:
;; one long loop nest. `run` returns the sum of the distances.
(module
  ;; path at 0: N*N*4 = 518,400 bytes, 8 pages.
  (memory 8)
  (func (export "run") (result i64)
    (local $i i32) (local $j i32) (local $k i32) (local $ik i32) (local $d i32) (local $sum i64)
    ;; path[i][j] = i*j % 7 + 1, and 999 where (i + j) % 13 == 0 or (i + j) % 7 == 0
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (i32.const 360)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (i32.const 360)))
        (i32.store
          (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 360)) (local.get $j)) (i32.const 2))
          (select (i32.const 999)
            (i32.add (i32.rem_u (i32.mul (local.get $i) (local.get $j)) (i32.const 7)) (i32.const 1))
            (i32.or (i32.eqz (i32.rem_u (i32.add (local.get $i) (local.get $j)) (i32.const 13)))
                    (i32.eqz (i32.rem_u (i32.add (local.get $i) (local.get $j)) (i32.const 7))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))
    (local.set $k (i32.const 0))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_u (local.get $k) (i32.const 360)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (i32.const 360)))
        (local.set $ik
          (i32.load (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 360)) (local.get $k)) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $j) (i32.const 360)))
          (local.set $d
            (i32.add (local.get $ik)
              (i32.load (i32.shl (i32.add (i32.mul (local.get $k) (i32.const 360)) (local.get $j)) (i32.const 2)))))
          (if (i32.lt_s (local.get $d)
                (i32.load (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 360)) (local.get $j)) (i32.const 2))))
            (then
              (i32.store (i32.shl (i32.add (i32.mul (local.get $i) (i32.const 360)) (local.get $j)) (i32.const 2))
                (local.get $d))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl)))
    (local.set $i (i32.const 0))
    (block $sd (loop $sl
      (br_if $sd (i32.ge_u (local.get $i) (i32.const 518400)))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (i32.load (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $sl)))
    (local.get $sum)))
