;; memory.size, memory.grow and the bulk operators (libcalls).
(module
  (memory 1)
  (data $d "abc")
  (func $size (result i32) memory.size)
  (func $grow (param i32) (result i32) local.get 0 memory.grow)
  (func $fill (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.fill)
  (func $copy (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)
  (func $init (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.init $d data.drop $d))
