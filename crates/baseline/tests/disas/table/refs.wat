;; Tables and references: inline get/set/size with bounds checks, the rest
;; as libcalls; ref.func is the record's address in the vmctx.
(module
  (table $t 4 funcref)
  (table $e 4 externref)
  (elem declare func $f)
  (func $f)
  (func $get (param i32) (result funcref) local.get 0 table.get $t)
  (func $set (param i32 externref) local.get 0 local.get 1 table.set $e)
  (func $size_grow (result i32) table.size $t ref.null func i32.const 2 table.grow $t i32.add)
  (func $ref_func (result funcref) ref.func $f)
  (func $is_null (param externref) (result i32) local.get 0 ref.is_null)
  (func $fill (param i32) local.get 0 ref.null extern i32.const 2 table.fill $e))
