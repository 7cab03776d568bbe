;; Blocks, loops, if/else and branches: merges into canonical registers,
;; back-edges with the tier-up check, unreachable code.
(module
  (func $if_else (param i32) (result i32)
    local.get 0 if (result i32) i32.const 1 else i32.const 2 end)
  (func $loop_sum (param i32) (result i32) (local i32)
    block loop
      local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.set 0
      br 0
    end end
    local.get 1)
  (func $br_if_value (param i32) (result i32)
    block (result i32) i32.const 7 local.get 0 br_if 0 drop i32.const 8 end)
  (func $unreachable (param i32) (result i32)
    local.get 0 if unreachable end local.get 0)
  (func $early_return (param i32) (result i32)
    local.get 0 i32.const 10 i32.gt_u if i32.const 10 return end local.get 0))
