;; A 64-bit memory (ARCHITECTURE.md, "64-bit memories and tables"): the
;; address is shifted right by MEMORY64_INDEX_BITS (33) and any bit left
;; traps; the 16 GiB reservation covers the rest. A constant address is
;; checked at compile time; a static offset of 8 GiB or more always traps.
;; A 64-bit table's index traps if its high half is set.
(module
  (memory i64 1)
  (table i64 2 funcref)
  (func $load (param i64) (result i32) local.get 0 i32.load offset=4)
  (func $store (param i64 i64) local.get 0 local.get 1 i64.store offset=0x80000000)
  (func $const_addr (result i32) i64.const 0x1fffffff0 i32.load)
  (func $const_high (result i32) i64.const 0x200000000 i32.load)
  (func $huge_offset (param i64) (result i32) local.get 0 i32.load offset=0x200000000)
  (func $size_grow (result i64) memory.size i64.const 1 memory.grow i64.add)
  (func $table (param i64) (result i32) local.get 0 table.get 0 ref.is_null))
