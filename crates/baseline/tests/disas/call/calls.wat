;; Direct, imported and indirect calls through slots; stack arguments.
(module
  (import "env" "imp" (func $imp (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (func $callee (param i32) (result i32) local.get 0)
  (func $direct (param i32) (result i32) local.get 0 call $callee i32.const 1 i32.add)
  (func $imported (param i32) (result i32) local.get 0 call $imp)
  (func $indirect (param i32 i32) (result i32) local.get 0 local.get 1 call_indirect (type $t))
  (func $wide (param i64 i64 i64 i64 i64 i64 i64) (result i64) local.get 6)
  (func $call_wide (result i64)
    i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6 i64.const 7
    call $wide))
