;; Bulk memory and globals: libcalls with zero-extended operands.
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (global $f (mut f64) (f64.const 0))
  (func $fill (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
  (func $copy (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)
  (func $init (param i32) local.get 0 i32.const 0 i32.const 3 memory.init 0 data.drop 0)
  (func $globals (param i32) (result f64)
    global.get $g local.get 0 i32.add global.set $g global.get $f)
  (data "abc"))
