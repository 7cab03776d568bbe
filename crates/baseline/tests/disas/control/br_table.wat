;; br_table: a jump table of `jmp rel32`; a target that needs no moves is jumped to directly, any other gets one stub per distinct depth.
(module
  (func $switch (param i32) (result i32)
    block block block
      local.get 0 br_table 0 1 2 1
    end i32.const 10 return end i32.const 20 return end i32.const 30)
  (func $switch_value (param i32 i64) (result i64)
    block (result i64) block (result i64)
      local.get 1 local.get 0 br_table 0 1 0
    end i64.const 1 i64.add end))
