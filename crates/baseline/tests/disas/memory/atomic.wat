;; Atomics (ARCHITECTURE.md, "Threads"): the alignment check before the
;; access, lock xadd / xchg / a lock cmpxchg loop / lock cmpxchg, narrow
;; results zero-extended, stores followed by mfence, wait and notify as
;; libcalls, fence as mfence.
(module
  (memory 1 1 shared)
  (func $load16 (param i32) (result i64) local.get 0 i64.atomic.load16_u offset=2)
  (func $store (param i32 i32) local.get 0 local.get 1 i32.atomic.store)
  (func $add8 (param i32 i32) (result i32) local.get 0 local.get 1 i32.atomic.rmw8.add_u)
  (func $sub (param i32 i64) (result i64) local.get 0 local.get 1 i64.atomic.rmw.sub)
  (func $xchg (param i32 i32) (result i32) local.get 0 local.get 1 i32.atomic.rmw.xchg)
  (func $or16 (param i32 i32) (result i32) local.get 0 local.get 1 i32.atomic.rmw16.or_u)
  (func $cmpxchg32 (param i32 i64 i64) (result i64)
    local.get 0 local.get 1 local.get 2 i64.atomic.rmw32.cmpxchg_u)
  (func $wait (param i32 i32 i64) (result i32)
    local.get 0 local.get 1 local.get 2 memory.atomic.wait32 offset=8)
  (func $notify (param i32) (result i32) local.get 0 i32.const 1 memory.atomic.notify)
  (func $fence atomic.fence)
  (func $size (result i32) memory.size))
