;; Tables and references.
(module
  (table $t 2 funcref)
  (table $e 1 externref)
  (elem $seg func $get)
  (func $get (param i32) (result funcref) local.get 0 table.get $t)
  (func $set (param i32 externref) local.get 0 local.get 1 table.set $e)
  (func $size_grow (result i32) table.size $t ref.null func i32.const 3 table.grow $t i32.add)
  (func $ref_func_is_null (result i32) ref.func $get ref.is_null)
  (func $init_drop (param i32) local.get 0 i32.const 0 i32.const 1 table.init $t $seg elem.drop $seg))
