;; Sieve of Eratosthenes over 4,000,000 bytes of linear memory, run 4 times:
;; byte loads and stores, loops, branches. `run` returns the prime count.
(module
  (memory 62)
  (func $sieve (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $count i32)
    (memory.fill (i32.const 0) (i32.const 1) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done (loop $outer
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.load8_u (local.get $i))
        (then
          (local.set $count (i32.add (local.get $count) (i32.const 1)))
          (local.set $j (i32.add (local.get $i) (local.get $i)))
          (block $marked (loop $mark
            (br_if $marked (i32.ge_u (local.get $j) (local.get $n)))
            (i32.store8 (local.get $j) (i32.const 0))
            (local.set $j (i32.add (local.get $j) (local.get $i)))
            (br $mark)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer)))
    (local.get $count))
  (func (export "run") (result i32)
    (local $r i32) (local $k i32)
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $k) (i32.const 4)))
      (local.set $r (call $sieve (i32.const 4000000)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $again)))
    (local.get $r)))
