;; Locals: lazy reads, materialization before a write, tee, many locals
;; zeroed with rep stosq, register pressure spilling to stack slots.
(module
  (func $tee (param i32) (result i32) local.get 0 i32.const 1 i32.add local.tee 0 local.get 0 i32.mul)
  (func $old_value (param i32) (result i32)
    local.get 0 local.get 0 i32.const 5 i32.add local.set 0 local.get 0 i32.sub)
  (func $many_locals (result i64) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    local.get 9)
  (func $pressure (param i32) (result i32)
    local.get 0 i32.const 1 i32.add local.get 0 i32.const 2 i32.add
    local.get 0 i32.const 3 i32.add local.get 0 i32.const 4 i32.add
    local.get 0 i32.const 5 i32.add local.get 0 i32.const 6 i32.add
    local.get 0 i32.const 7 i32.add local.get 0 i32.const 8 i32.add
    i32.add i32.add i32.add i32.add i32.add i32.add i32.add))
