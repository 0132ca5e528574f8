;; notblank: a first-party validator written in WebAssembly text, to show
;; that the plugin ABI (docs/plugin-abi.md) is language-neutral: a string
;; field must contain something besides spaces, tabs, CR and LF. Built with
;; wabt's wat2wasm by build/plugins.sh (build/setup-tools.sh installs it).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $inEnd (mut i32) (i32.const 1024))
  ;; The reason after its record and field: u32 rule length, rule,
  ;; u32 message length, message (59 bytes).
  (data (i32.const 64) "\0e\00\00\00notblank.blank\25\00\00\00the value is empty or only whitespace")

  ;; $reserve returns an 8-aligned block of n bytes at the top of the heap.
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

  ;; The host's input buffer; results go after the newest one.
  (func (export "pawl_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $reserve (local.get $n)))
    (global.set $inEnd (global.get $heap))
    (local.get $p))

  ;; No config to read.
  (func (export "pawl_init") (param i32 i32) (result i64) (i64.const 0))

  (func (export "pawl_validate") (param $b i32) (param $len i32) (result i64)
    (local $n i32) (local $pres i32) (local $offs i32) (local $bytes i32)
    (local $out i32) (local $w i32) (local $i i32) (local $s i32) (local $e i32)
    (local $c i32) (local $blank i32) (local $k i32) (local $count i32)
    (local.set $n (i32.load offset=8 (local.get $b)))
    ;; column 0 must be a string column (type 2)
    (if (i32.ne (i32.load offset=32 (local.get $b)) (i32.const 2)) (then unreachable))
    (local.set $pres (i32.add (local.get $b) (i32.load offset=36 (local.get $b))))
    (local.set $offs (i32.add (local.get $b) (i32.load offset=40 (local.get $b))))
    (local.set $bytes (i32.add (local.get $offs) (i32.shl (i32.add (local.get $n) (i32.const 1)) (i32.const 2))))
    (global.set $heap (global.get $inEnd))
    (local.set $out (call $reserve (i32.add (i32.const 16) (i32.mul (local.get $n) (i32.const 67)))))
    (local.set $w (i32.add (local.get $out) (i32.const 16)))
    (block $done (loop $rec
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      ;; present?
      (if (i32.and (i32.shr_u (i32.load8_u (i32.add (local.get $pres) (i32.shr_u (local.get $i) (i32.const 3))))
                              (i32.and (local.get $i) (i32.const 7)))
                   (i32.const 1))
        (then
          (local.set $s (i32.load (i32.add (local.get $offs) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $e (i32.load offset=4 (i32.add (local.get $offs) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $blank (i32.const 1))
          (block $scanned (loop $scan
            (br_if $scanned (i32.ge_u (local.get $s) (local.get $e)))
            (local.set $c (i32.load8_u (i32.add (local.get $bytes) (local.get $s))))
            (if (i32.eqz (i32.or (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
                                 (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13)))))
              (then (local.set $blank (i32.const 0)) (br $scanned)))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (br $scan)))
          (if (local.get $blank)
            (then
              (i32.store (local.get $w) (local.get $i))
              (i32.store offset=4 (local.get $w) (i32.const 0))
              (local.set $k (i32.const 0))
              (block $copied (loop $copy
                (br_if $copied (i32.ge_u (local.get $k) (i32.const 59)))
                (i32.store8 (i32.add (i32.add (local.get $w) (i32.const 8)) (local.get $k))
                            (i32.load8_u (i32.add (i32.const 64) (local.get $k))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $copy)))
              (local.set $w (i32.add (local.get $w) (i32.const 67)))
              (local.set $count (i32.add (local.get $count) (i32.const 1)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rec)))
    (i32.store (local.get $out) (i32.const 0x31525750))
    (i32.store offset=4 (local.get $out) (local.get $n))
    (i32.store offset=8 (local.get $out) (local.get $count))
    (i32.store offset=12 (local.get $out) (i32.const 0))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $w) (local.get $out)))))
)
