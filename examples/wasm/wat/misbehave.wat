;; misbehave.wat: one guest per fault, selected by the filter's action_args (get_config):
;;   mode=loop   spins forever          -> deadline (epoch) or fuel
;;   mode=bomb   grows memory until refused, then traps -> memory cap
;;   mode=trap   executes unreachable
;;   mode=garbage returns 42 (not a valid verdict)
;;   mode=oob    hands the host an out-of-bounds out-pointer
;;   mode=recurse recurses until the stack is exhausted
;; Any other config: allow.
(module
  (import "proxyd_v1" "get_config" (func $get_config (param i32 i32) (result i32)))
  (import "proxyd_v1" "get_query" (func $get_query (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "^1.0")
  (func (export "proxyd_abi_v1"))
  (func (export "proxyd_host_version_requirement") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 4)))
  (func (export "proxyd_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (i32.const 65536)) (then (return (i32.const 0))))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  ;; does the config text contain "mode=<c>" where <c> is the first letter of a mode?
  (func $mode (param $c i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.load (i32.const 0)))
    (local.set $end (i32.add (local.get $p) (i32.load (i32.const 4))))
    (block $done
      (loop $scan
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 6)) (local.get $end)))
        (if (i32.and
              (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 109))            ;; m
                       (i32.eq (i32.load8_u offset=4 (local.get $p)) (i32.const 61)))   ;; =
              (i32.eq (i32.load8_u offset=5 (local.get $p)) (local.get $c)))
          (then (return (i32.const 1))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (i32.const 0))
  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "proxyd_before_execution") (result i32)
    (global.set $heap (i32.const 1024))
    (drop (call $get_config (i32.const 0) (i32.const 4)))
    (if (call $mode (i32.const 108))          ;; l: loop forever
      (then (loop $forever (br $forever))))
    (if (call $mode (i32.const 98))           ;; b: memory bomb
      (then (loop $grow
        (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        (unreachable)))
    (if (call $mode (i32.const 116))          ;; t: trap
      (then (unreachable)))
    (if (call $mode (i32.const 103))          ;; g: garbage verdict
      (then (return (i32.const 42))))
    (if (call $mode (i32.const 114))          ;; r: unbounded recursion
      (then (return (call $recurse (i32.const 0)))))
    (if (call $mode (i32.const 111))          ;; o: out-of-bounds out-pointer
      (then (drop (call $get_query (i32.const 0x7ffffff0) (i32.const 4)))))
    (i32.const 0))
)
