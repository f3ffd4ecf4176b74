;; allow.wat: reads the statement text and lets it run (the benchmark guest).
(module
  (import "proxyd_v1" "get_query" (func $get_query (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "^1.0")
  (func (export "proxyd_abi_v1"))
  (func (export "proxyd_host_version_requirement") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 4)))
  ;; bump allocator, reset at the start of every event: the host never frees
  (func (export "proxyd_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then (return (i32.const 0))))))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "proxyd_before_execution") (result i32)
    (global.set $heap (i32.const 1024))
    ;; the query's (ptr, len) land at addresses 0 and 4
    (drop (call $get_query (i32.const 0) (i32.const 4)))
    (i32.const 0))
)
