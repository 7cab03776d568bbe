;; SIMD byte scanning: counts the newlines in a 64 KiB buffer sixteen bytes
;; at a time (i8x16.eq against a splat, i8x16.bitmask, i32.popcnt), as a
;; text scanner does, 1,000 times over. `run` returns the total count.
(module
  (memory 1)
  (func $init
    (local $i i32) (local $x i32)
    (local.set $x (i32.const 12345))
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (i32.const 65536)))
      ;; A linear congruential generator; about one byte in 32 is '\n'.
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (i32.store8 (local.get $i)
        (select (i32.const 10) (i32.const 97)
          (i32.eqz (i32.and (i32.shr_u (local.get $x) (i32.const 16)) (i32.const 31)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill))))
  (func $count (result i32)
    (local $p i32) (local $n i32) (local $nl v128)
    (local.set $nl (i8x16.splat (i32.const 10)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (i32.const 65536)))
      (local.set $n (i32.add (local.get $n)
        (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load (local.get $p)) (local.get $nl))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (local.get $n))
  (func (export "run") (result i64)
    (local $r i32) (local $total i64)
    (call $init)
    (block $done (loop $rep
      (br_if $done (i32.ge_u (local.get $r) (i32.const 1000)))
      (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (call $count))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rep)))
    (local.get $total)))
