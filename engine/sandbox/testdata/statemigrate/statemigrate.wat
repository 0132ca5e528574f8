;; Version 0.0.3 of stateprobe (build/plugins.sh gives it the manifest):
;; its state in format 2, reached from format 1 through pawl_migrate_state,
;; which keeps each key and replaces the first byte of its value with "M".
;; Every record passes.
(module
  (import "pawl" "state_put" (func $state_put (param i32 i32 i32 i32) (result i32)))


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
    (call $ok (local.get $b)))

  ;; pawl_migrate_state(msg, len): msg is u32 LE length and bytes of the
  ;; old format, of the key, of the value.
  (func (export "pawl_migrate_state") (param $m i32) (param $len i32) (result i64)
    (local $k i32) (local $kl i32) (local $v i32) (local $vl i32)
    (local.set $k (i32.add (local.get $m) (i32.add (i32.const 8) (i32.load (local.get $m)))))
    (local.set $kl (i32.load (i32.sub (local.get $k) (i32.const 4))))
    (local.set $v (i32.add (local.get $k) (i32.add (local.get $kl) (i32.const 4))))
    (local.set $vl (i32.load (i32.sub (local.get $v) (i32.const 4))))
    (i32.store8 (local.get $v) (i32.const 0x4d))
    (drop (call $state_put (local.get $k) (local.get $kl) (local.get $v) (local.get $vl)))
    (i64.const 0))
)
