;; Multi-value blocks and functions, including a return area.
(module
  (func $swap (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func $block_params (param i32 i32) (result i32)
    local.get 0 local.get 1
    block (param i32 i32) (result i32) i32.add end)
  (func $loop_params (param i32) (result i32)
    i32.const 0
    loop (param i32) (result i32)
      local.get 0 i32.add
      local.get 0 i32.const 1 i32.sub local.tee 0
      br_if 0
    end)
  (func $many (result i64 i64 i64 i64 i64 i64 i64 i64 i64)
    i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5
    i64.const 6 i64.const 7 i64.const 8 i64.const 9))
