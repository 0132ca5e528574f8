;; Every record passes by the empty result: pawl_validate returns 0
;; (docs/plugin-abi.md §3: "0 means empty").
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
  (func (export "pawl_validate") (param $b i32) (param $len i32) (result i64) (i64.const 0))
)
