;; Blocks, loops, ifs with parameters and results, br_table, return.
(module
  (func $if_else (param i32) (result i32)
    local.get 0 (if (result i32) (then i32.const 1) (else i32.const 2)))
  (func $if_param_no_else (param i32 i32) (result i32)
    local.get 1 local.get 0 (if (param i32) (result i32) (then i32.const 5 i32.add)))
  (func $count_down (param i32) (result i32) (local i32)
    (block (loop
      local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.set 0
      br 0))
    local.get 1)
  (func $br_table (param i32) (result i32)
    (block (result i32) (block (result i32)
      i32.const 10 local.get 0 br_table 0 1 0)
      i32.const 1 i32.add))
  (func $early_return (param i32) (result i32)
    local.get 0 (if (then i32.const 7 return)) i32.const 8)
  (func $unreachable (unreachable)))
