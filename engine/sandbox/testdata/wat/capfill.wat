;; Grows its memory to its cap, writes to every 4 KiB page of it (so all of
;; it is resident), and passes every record: a plugin at its memory cap,
;; for the host's memory per instance (BenchmarkInstancesAtTheirCap).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $inEnd (mut i32) (i32.const 1024))
  ;; $reserve returns an 8-aligned block of n bytes at the top of the heap,
  ;; growing memory as needed.
  (func $reserve (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1))) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "pawl_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $reserve (local.get $n)))
    (global.set $inEnd (global.get $heap))
    (local.get $p))
  (func (export "pawl_init") (param i32 i32) (result i64) (i64.const 0))
  ;; $ok returns an empty result (every record passes) for batch $b.
  (func $ok (param $b i32) (result i64)
    (local $out i32)
    (global.set $heap (global.get $inEnd))
    (local.set $out (call $reserve (i32.const 16)))
    (i32.store (local.get $out) (i32.const 0x31525750))
    (i32.store offset=4 (local.get $out) (i32.load offset=8 (local.get $b)))
    (i64.store offset=8 (local.get $out) (i64.const 0))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 16)))

  (func (export "pawl_validate") (param $b i32) (param $len i32) (result i64)
    (local $p i32) (local $end i32)
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (loop $grow1 (br_if $grow1 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    ;; above its heap only: below it is the batch the host wrote
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 4095)) (i32.const -4096)))
    (local.set $end (i32.shl (memory.size) (i32.const 16)))
    (loop $touch
      (i32.store8 (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
    (call $ok (local.get $b)))
)
