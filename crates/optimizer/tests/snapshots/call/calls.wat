;; Direct, imported, indirect and tail calls.
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "f" (func $imported (type $t)))
  (table 2 funcref)
  (func $direct (type $t) local.get 0 call $imported)
  (func $call_defined (type $t) local.get 0 call $direct)
  (func $indirect (param i32 i32) (result i32) local.get 0 local.get 1 call_indirect (type $t))
  (func $tail (type $t) local.get 0 return_call $direct)
  (func $tail_indirect (param i32 i32) (result i32) local.get 0 local.get 1 return_call_indirect (type $t)))
