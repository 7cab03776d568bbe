;; Multi-value blocks and functions.
(module
  (func $swap (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func $block_pair (param i32) (result i32 i32)
    local.get 0 i32.const 1
    (block (param i32 i32) (result i32 i32) local.get 0 br_if 0))
  (func $loop_sum (param i32) (result i32)
    i32.const 0 local.get 0
    (loop (param i32 i32) (result i32)
      local.tee 0 i32.add local.get 0
      i32.const 1 i32.sub local.tee 0
      local.get 0 br_if 0 drop)))
