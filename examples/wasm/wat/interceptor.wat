;; interceptor.wat: refuses UPDATE and DELETE statements without a WHERE clause ("no where clause"),
;; the WeScale tutorial's interceptor, in plain WebAssembly text (no toolchain needed).
(module
  (import "proxyd_v1" "get_query" (func $get_query (param i32 i32) (result i32)))
  (import "proxyd_v1" "set_error" (func $set_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "^1.0")
  (data (i32.const 32) "no where clause")
  (data (i32.const 64) "delete")
  (data (i32.const 72) "update")
  (data (i32.const 80) "where")
  (func (export "proxyd_abi_v1"))
  (func (export "proxyd_host_version_requirement") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 4)))
  (func (export "proxyd_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then (return (i32.const 0))))))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))

  (func $lower (param $c i32) (result i32)
    (if (result i32) (i32.and (i32.ge_u (local.get $c) (i32.const 65)) (i32.le_u (local.get $c) (i32.const 90)))
      (then (i32.or (local.get $c) (i32.const 32)))
      (else (local.get $c))))

  ;; letters, digits, '_', '$' and any non-ASCII byte belong to identifiers
  (func $ident (param $c i32) (result i32)
    (local.set $c (call $lower (local.get $c)))
    (i32.or
      (i32.or (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
              (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57))))
      (i32.or (i32.or (i32.eq (local.get $c) (i32.const 95)) (i32.eq (local.get $c) (i32.const 36)))
              (i32.ge_u (local.get $c) (i32.const 128)))))

  ;; 1 if the lower-case word at $w (length $n) starts at $p and is not followed by an identifier byte
  (func $word (param $p i32) (param $end i32) (param $w i32) (param $n i32) (result i32)
    (local $i i32)
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (local.get $end)) (then (return (i32.const 0))))
    (block $same
      (loop $cmp
        (br_if $same (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (call $lower (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                    (i32.load8_u (i32.add (local.get $w) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $cmp)))
    (if (i32.lt_u (i32.add (local.get $p) (local.get $n)) (local.get $end))
      (then (if (call $ident (i32.load8_u (i32.add (local.get $p) (local.get $n))))
        (then (return (i32.const 0))))))
    (i32.const 1))

  (func (export "proxyd_before_execution") (result i32)
    (local $p i32) (local $end i32) (local $c i32) (local $q i32)
    (global.set $heap (i32.const 1024))
    (if (call $get_query (i32.const 0) (i32.const 4)) (then (return (i32.const 0))))
    (local.set $p (i32.load (i32.const 0)))
    (local.set $end (i32.add (local.get $p) (i32.load (i32.const 4))))
    ;; skip blanks and /* … */ comments before the first word
    (block $start
      (loop $skip
        (br_if $start (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.le_u (local.get $c) (i32.const 32))
          (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $skip)))
        (br_if $start (i32.ne (local.get $c) (i32.const 47)))                       ;; not '/'
        (br_if $start (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (br_if $start (i32.ne (i32.load8_u offset=1 (local.get $p)) (i32.const 42)))  ;; not '/*'
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (block $closed
          (loop $comment
            (br_if $closed (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
            (if (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 42))
                         (i32.eq (i32.load8_u offset=1 (local.get $p)) (i32.const 47)))
              (then (local.set $p (i32.add (local.get $p) (i32.const 2))) (br $closed)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $comment)))
        (br $skip)))
    (if (i32.eqz (i32.or (call $word (local.get $p) (local.get $end) (i32.const 64) (i32.const 6))
                         (call $word (local.get $p) (local.get $end) (i32.const 72) (i32.const 6))))
      (then (return (i32.const 0))))
    ;; look for the WHERE keyword outside quoted strings and identifiers
    (block $none
      (loop $scan
        (br_if $none (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.or (i32.or (i32.eq (local.get $c) (i32.const 39)) (i32.eq (local.get $c) (i32.const 34)))
                    (i32.eq (local.get $c) (i32.const 96)))
          (then
            (local.set $q (local.get $c))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (block $endq
              (loop $inq
                (br_if $endq (i32.ge_u (local.get $p) (local.get $end)))
                (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 92))
                  (then (local.set $p (i32.add (local.get $p) (i32.const 2))) (br $inq)))
                (if (i32.eq (i32.load8_u (local.get $p)) (local.get $q))
                  (then (local.set $p (i32.add (local.get $p) (i32.const 1))) (br $endq)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $inq)))
            (br $scan)))
        (if (call $word (local.get $p) (local.get $end) (i32.const 80) (i32.const 5))
          (then (if (i32.eqz (call $ident (i32.load8_u (i32.sub (local.get $p) (i32.const 1)))))
            (then (return (i32.const 0))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (drop (call $set_error (i32.const 32) (i32.const 15)))
    (i32.const 1))
)
