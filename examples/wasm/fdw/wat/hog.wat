;; hog.wat: a misbehaving guest whose fdw_begin_scan grows its memory a page at a time and traps
;; (unreachable) when a grow is refused: shows the per-instance memory cap.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{\"ok\":\"^1.0\"}")
  (func (export "proxyd_fdw_abi_1"))
  (func (export "proxyd_alloc") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 65536)) (then (global.set $heap (i32.const 1024))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxyd_free") (param i32 i32))
  (func (export "fdw_host_version_requirement") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 13)))
  (func (export "fdw_init") (param i32 i32) (result i64) (i64.const 0))
  (func (export "fdw_begin_scan") (param i32 i32) (result i64)
    (loop $more
      (br_if $more (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0))))
    (unreachable))
  (func (export "fdw_iter_scan") (param i32 i32) (result i64) (i64.const 0))
  (func (export "fdw_end_scan") (param i32 i32) (result i64) (i64.const 0))
)
