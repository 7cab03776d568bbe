;; Tail calls: the frame is replaced; the stack-argument area grows or
;; shrinks to the callee's.
(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (func $target (param i32) (result i32) local.get 0)
  (func $wide (param i64 i64 i64 i64 i64 i64 i64) (result i32) i32.const 0)
  (func $same (param i32) (result i32) local.get 0 return_call $target)
  (func $grow (param i32) (result i32)
    i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6 i64.const 7
    return_call $wide)
  (func $shrink (param i64 i64 i64 i64 i64 i64 i64) (result i32)
    i32.const 3 return_call $target)
  (func $indirect (param i32) (result i32) local.get 0 local.get 0 return_call_indirect (type $t)))
