;; poster.wat: passthru.wat plus modify: each fdw_insert / fdw_update / fdw_delete request is
;; forwarded to the same "url" as the JSON-string body of a POST / PUT / DELETE. A writable foreign
;; table over a JSON API (proxyd FDW ABI v1); the rest is as in passthru.wat:
;; fdw_init keeps the server option "url"; fdw_begin_scan GETs it; the first fdw_iter_scan replies
;; {"ok":<body>} (the body must be a JSON array of rows), later ones {"ok":[]}. An HTTP failure
;; ({"err":"http: …"}) is passed on as the routine's own error. Quals, sorts and limit are ignored:
;; SQLite re-checks them, so results stay correct.
(module
  (import "proxyd_fdw_v1" "http_request" (func $http (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $url (mut i32) (i32.const 0))
  (global $url_len (mut i32) (i32.const 0))
  (global $body (mut i32) (i32.const 0))
  (global $body_len (mut i32) (i32.const 0))
  (global $sent (mut i32) (i32.const 1))
  (data (i32.const 16) "{\"ok\":\"^1.0\"}")          ;; 13 bytes
  (data (i32.const 32) "{\"ok\":[]}")                ;; 9
  (data (i32.const 48) "\"url\":\"")                 ;; 7
  (data (i32.const 64) "\"body\":\"")                ;; 8
  (data (i32.const 80) "{\"ok\":")                   ;; 6
  (data (i32.const 96) "{\"method\":\"GET\",\"url\":\"") ;; 23
  (data (i32.const 128) "\"}")                       ;; 2
  (data (i32.const 160) "{\"method\":\"POST\",\"url\":\"")    ;; 24
  (data (i32.const 192) "{\"method\":\"PUT\",\"url\":\"")     ;; 23
  (data (i32.const 224) "{\"method\":\"DELETE\",\"url\":\"")  ;; 26
  (data (i32.const 256) "\",\"body\":\"")                 ;; 10
  (func (export "proxyd_fdw_abi_1"))

  ;; a bump allocator over growable memory; proxyd_free is a no-op
  (func $alloc (export "proxyd_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                  (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const 0))
              (then (return (i32.const 0))))))
    (global.set $heap (i32.and (i32.add (local.get $end) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxyd_free") (param i32 i32))

  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))

  ;; index of needle in haystack, or -1
  (func $find (param $h i32) (param $hn i32) (param $n i32) (param $nn i32) (result i32)
    (local $i i32) (local $j i32)
    (block $none
      (loop $outer
        (br_if $none (i32.gt_s (i32.add (local.get $i) (local.get $nn)) (local.get $hn)))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nn)) (then (return (local.get $i))))
            (br_if $miss (i32.ne (i32.load8_u (i32.add (local.get $h) (i32.add (local.get $i) (local.get $j))))
                                 (i32.load8_u (i32.add (local.get $n) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const -1))

  (func (export "fdw_host_version_requirement") (param i32 i32) (result i64)
    (call $pack (i32.const 16) (i32.const 13)))

  ;; keep a copy of the first "url":"…" of the request (the server's options come first)
  (func (export "fdw_init") (param $p i32) (param $n i32) (result i64)
    (local $s i32) (local $e i32)
    (local.set $s (call $find (local.get $p) (local.get $n) (i32.const 48) (i32.const 7)))
    (if (i32.lt_s (local.get $s) (i32.const 0)) (then (return (i64.const 0))))
    (local.set $s (i32.add (i32.add (local.get $p) (local.get $s)) (i32.const 7)))
    (local.set $e (local.get $s))
    (loop $scan
      (if (i32.ne (i32.load8_u (local.get $e)) (i32.const 34))
        (then (local.set $e (i32.add (local.get $e) (i32.const 1))) (br $scan))))
    (global.set $url_len (i32.sub (local.get $e) (local.get $s)))
    (global.set $url (call $alloc (global.get $url_len)))
    (memory.copy (global.get $url) (local.get $s) (global.get $url_len))
    (i64.const 0))

  ;; GET the url; keep the unescaped body for fdw_iter_scan
  (func (export "fdw_begin_scan") (param i32 i32) (result i64)
    (local $req i32) (local $r i64) (local $rp i32) (local $rn i32) (local $i i32) (local $o i32) (local $c i32)
    (local.set $req (call $alloc (i32.add (global.get $url_len) (i32.const 25))))
    (memory.copy (local.get $req) (i32.const 96) (i32.const 23))
    (memory.copy (i32.add (local.get $req) (i32.const 23)) (global.get $url) (global.get $url_len))
    (memory.copy (i32.add (local.get $req) (i32.add (global.get $url_len) (i32.const 23))) (i32.const 128) (i32.const 2))
    (local.set $r (call $http (local.get $req) (i32.add (global.get $url_len) (i32.const 25))))
    (local.set $rp (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32))))
    (local.set $rn (i32.wrap_i64 (local.get $r)))
    ;; {"err":…} is already a routine reply: pass it on
    (if (i32.eq (i32.load8_u offset=2 (local.get $rp)) (i32.const 101)) (then (return (local.get $r))))
    (local.set $i (call $find (local.get $rp) (local.get $rn) (i32.const 64) (i32.const 8)))
    (if (i32.lt_s (local.get $i) (i32.const 0)) (then (unreachable)))
    (local.set $i (i32.add (i32.add (local.get $rp) (local.get $i)) (i32.const 8)))
    (global.set $body (call $alloc (local.get $rn)))
    (local.set $o (global.get $body))
    (block $done
      (loop $copy
        (local.set $c (i32.load8_u (local.get $i)))
        (br_if $done (i32.eq (local.get $c) (i32.const 34)))          ;; closing quote
        (if (i32.eq (local.get $c) (i32.const 92))                     ;; backslash escape
          (then
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $c (i32.load8_u (local.get $i)))
            (if (i32.eq (local.get $c) (i32.const 110)) (then (local.set $c (i32.const 10))))
            (if (i32.eq (local.get $c) (i32.const 116)) (then (local.set $c (i32.const 9))))
            (if (i32.eq (local.get $c) (i32.const 114)) (then (local.set $c (i32.const 13))))))
        (i32.store8 (local.get $o) (local.get $c))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (global.set $body_len (i32.sub (local.get $o) (global.get $body)))
    (global.set $sent (i32.const 0))
    (i64.const 0))

  (func (export "fdw_iter_scan") (param i32 i32) (result i64)
    (local $out i32)
    (if (global.get $sent) (then (return (call $pack (i32.const 32) (i32.const 9)))))
    (global.set $sent (i32.const 1))
    (local.set $out (call $alloc (i32.add (global.get $body_len) (i32.const 7))))
    (memory.copy (local.get $out) (i32.const 80) (i32.const 6))
    (memory.copy (i32.add (local.get $out) (i32.const 6)) (global.get $body) (global.get $body_len))
    (i32.store8 (i32.add (local.get $out) (i32.add (global.get $body_len) (i32.const 6))) (i32.const 125))
    (call $pack (local.get $out) (i32.add (global.get $body_len) (i32.const 7))))

  (func (export "fdw_end_scan") (param i32 i32) (result i64)
    (global.set $sent (i32.const 1))
    (i64.const 0))
;; -- modify --------------------------------------------------------------------------------
  ;; send {"method":M,"url":U,"body":"<the request, escaped>"}; an HTTP error is the routine's error
  (func $forward (param $m i32) (param $mn i32) (param $p i32) (param $n i32) (result i64)
    (local $buf i32) (local $o i32) (local $i i32) (local $c i32) (local $r i64)
    (local.set $buf (call $alloc (i32.add (i32.add (local.get $mn) (global.get $url_len))
                                          (i32.add (i32.mul (local.get $n) (i32.const 2)) (i32.const 12)))))
    (memory.copy (local.get $buf) (local.get $m) (local.get $mn))
    (local.set $o (i32.add (local.get $buf) (local.get $mn)))
    (memory.copy (local.get $o) (global.get $url) (global.get $url_len))
    (local.set $o (i32.add (local.get $o) (global.get $url_len)))
    (memory.copy (local.get $o) (i32.const 256) (i32.const 10))
    (local.set $o (i32.add (local.get $o) (i32.const 10)))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
          (then (i32.store8 (local.get $o) (i32.const 92)) (local.set $o (i32.add (local.get $o) (i32.const 1)))))
        (i32.store8 (local.get $o) (local.get $c))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (memory.copy (local.get $o) (i32.const 128) (i32.const 2))
    (local.set $o (i32.add (local.get $o) (i32.const 2)))
    (local.set $r (call $http (local.get $buf) (i32.sub (local.get $o) (local.get $buf))))
    (if (i32.eq (i32.load8_u offset=2 (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))) (i32.const 101))
      (then (return (local.get $r))))
    (i64.const 0))
  (func (export "fdw_begin_modify") (param i32 i32) (result i64) (i64.const 0))
  (func (export "fdw_insert") (param $p i32) (param $n i32) (result i64)
    (call $forward (i32.const 160) (i32.const 24) (local.get $p) (local.get $n)))
  (func (export "fdw_update") (param $p i32) (param $n i32) (result i64)
    (call $forward (i32.const 192) (i32.const 23) (local.get $p) (local.get $n)))
  (func (export "fdw_delete") (param $p i32) (param $n i32) (result i64)
    (call $forward (i32.const 224) (i32.const 26) (local.get $p) (local.get $n)))
  (func (export "fdw_end_modify") (param i32 i32) (result i64) (i64.const 0))
)
