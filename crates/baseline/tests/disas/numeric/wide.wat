;; Wide arithmetic: add/adc and sub/sbb on (low, high) halves; a 64 × 64 →
;; 128-bit product with one-operand imul/mul into rdx:rax.
(module
  (func $add128 (param i64 i64 i64 i64) (result i64 i64)
    local.get 0 local.get 1 local.get 2 local.get 3 i64.add128)
  (func $sub128_imm (param i64 i64) (result i64 i64)
    local.get 0 local.get 1 i64.const 1 i64.const 0x100000000 i64.sub128)
  (func $mul_wide_s (param i64 i64) (result i64 i64)
    local.get 0 local.get 1 i64.mul_wide_s)
  (func $mul_wide_u (param i64) (result i64 i64)
    local.get 0 i64.const 10 i64.mul_wide_u))
