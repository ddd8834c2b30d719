"""WebAssembly test programs (WAT, compiled with wasmtime.wat2wasm) and a manifest helper.

Every module is a WASI preview 1 command. Memory layout shared by the helpers: bytes 0-63 are
scratch for iovecs and out-parameters, argv/environ pointers live at 1024/2048, their strings at
4096/32768, constant strings from 256 up.
"""

from __future__ import annotations

from typing import Any

import wasmtime

from fizz_app.core.jobs.manifest import JobManifest, Runtime

_IMPORTS = """
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
"""

_HELPERS = """
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
"""


def module(body: str, imports: str = "", pages: int = 1) -> bytes:
    """A WASI command: ``body`` holds ``_start`` and friends; ``$print``/``$strlen`` exist."""
    return wasmtime.wat2wasm(
        f'(module {_IMPORTS} {imports} (memory (export "memory") {pages}) {_HELPERS} {body})'
    )


def manifest(wasm: bytes, **fields: Any) -> JobManifest:
    values: dict[str, Any] = {
        "name": "wasm-test",
        "image": "",
        "runtime": Runtime.WASM,
        "wasm_module": wasm,
        "memory_bytes": 16 * 1024**2,
        "cpu_millicores": 1000,
    }
    values.update(fields)
    return JobManifest(**values)


HELLO = module("""
  (data (i32.const 256) "hello from wasm\\nsecond ")
  (data (i32.const 300) "line\\n")
  (func (export "_start")
    (call $print (i32.const 256) (i32.const 23))
    (call $print (i32.const 300) (i32.const 5)))
""")

EXIT_3 = module("""
  (data (i32.const 256) "bye\\n")
  (func (export "_start")
    (call $print (i32.const 256) (i32.const 4))
    (call $proc_exit (i32.const 3)))
""")

# Prints argv then environ, one entry a line.
ARGS_ENV = module(
    """
  (func $print_list (param $ptrs i32) (param $count i32)
    (local $i i32) (local $s i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $s (i32.load (i32.add (local.get $ptrs) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $n (call $strlen (local.get $s)))
      (i32.store8 (i32.add (local.get $s) (local.get $n)) (i32.const 10))
      (call $print (local.get $s) (i32.add (local.get $n) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $print_list (i32.const 1024) (i32.load (i32.const 16)))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 2048) (i32.const 32768)))
    (call $print_list (i32.const 2048) (i32.load (i32.const 16))))
""",
    imports="""
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
""",
)

_PATH_OPEN = """
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
"""
_ARGS = """
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
"""

# Writes /scratch/note.txt, reads it back and prints it. Exit code 10+errno on a failure.
SCRATCH = module(
    """
  (data (i32.const 256) "note.txt")
  (data (i32.const 300) "kept in scratch\\n")
  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (i32.add (i32.const 10) (local.get $errno))))))
  (func (export "_start") (local $fd i32)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 8)
      (i32.const 9) (i64.const 66) (i64.const 0) (i32.const 0) (i32.const 24)))
    (local.set $fd (i32.load (i32.const 24)))
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 16))
    (call $check (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $check (call $fd_close (local.get $fd)))
    (call $check (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 8)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 24)))
    (i32.store (i32.const 0) (i32.const 512))
    (i32.store (i32.const 4) (i32.const 100))
    (call $check
      (call $fd_read (i32.load (i32.const 24)) (i32.const 0) (i32.const 1) (i32.const 28)))
    (call $print (i32.const 512) (i32.load (i32.const 28))))
""",
    imports=_PATH_OPEN
    + """
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
""",
)

# Opens argv[1] for reading relative to fd argv[2] (a digit, default 3); exits with the errno.
OPEN_PATH = module(
    """
  (func (export "_start") (local $path i32) (local $fd i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (local.set $path (i32.load (i32.const 1028)))
    (local.set $fd (i32.const 3))
    (if (i32.ge_u (i32.load (i32.const 16)) (i32.const 3))
      (then (local.set $fd (i32.sub (i32.load8_u (i32.load (i32.const 1032))) (i32.const 48)))))
    (call $proc_exit (call $path_open (local.get $fd) (i32.const 1) (local.get $path)
      (call $strlen (local.get $path)) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
      (i32.const 24))))
""",
    imports=_PATH_OPEN + _ARGS,
)

# Plants /scratch/link -> ../../../../../../etc/passwd (exit 100+errno if refused), then tries
# to open it through the link; exits with that errno.
SYMLINK_ESCAPE = module(
    """
  (data (i32.const 256) "../../../../../../etc/passwd")
  (data (i32.const 300) "link")
  (func (export "_start") (local $errno i32)
    (local.set $errno (call $path_symlink (i32.const 256) (i32.const 28) (i32.const 3)
      (i32.const 300) (i32.const 4)))
    (if (local.get $errno) (then (call $proc_exit (i32.add (i32.const 100) (local.get $errno)))))
    (call $proc_exit (call $path_open (i32.const 3) (i32.const 1) (i32.const 300) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 24))))
""",
    imports=_PATH_OPEN
    + """
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
""",
)

# Prints the name of every preopened directory (fd 3 upwards until EBADF).
PREOPENS = module(
    """
  (func (export "_start") (local $fd i32)
    (local.set $fd (i32.const 3))
    (block $done (loop $next
      (br_if $done (call $fd_prestat_get (local.get $fd) (i32.const 16)))
      (drop (call $fd_prestat_dir_name (local.get $fd) (i32.const 512) (i32.load (i32.const 20))))
      (i32.store8 (i32.add (i32.const 512) (i32.load (i32.const 20))) (i32.const 10))
      (call $print (i32.const 512) (i32.add (i32.load (i32.const 20)) (i32.const 1)))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br $next))))
""",
    imports="""
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
""",
)

# Prints "spinning", then loops forever.
SPIN = module("""
  (data (i32.const 256) "spinning\\n")
  (func (export "_start")
    (call $print (i32.const 256) (i32.const 9))
    (loop $forever (br $forever)))
""")


def sleeper(nanoseconds: int) -> bytes:
    """Sleeps ``nanoseconds`` with one relative clock subscription, prints "awake", exits with
    poll_oneoff's errno."""
    return module(
        f"""
  (data (i32.const 256) "awake\\n")
  (func (export "_start") (local $errno i32)
    (i64.store (i32.const 64) (i64.const 7))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const {nanoseconds}))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (local.set $errno
      (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160)))
    (call $print (i32.const 256) (i32.const 6))
    (if (i64.ne (i64.load (i32.const 128)) (i64.const 7)) (then (call $proc_exit (i32.const 99))))
    (call $proc_exit (local.get $errno)))
""",
        imports="""
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
""",
    )


# Grows memory one page at a time; traps (like an allocator's abort) once memory.grow fails.
MEMORY_HOG = module("""
  (func (export "_start")
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)
""")

# Writes Rust's allocation-failure message to stderr and aborts, with memory far below the limit.
RUST_OOM = module("""
  (data (i32.const 256) "memory allocation of 1073741824 bytes failed\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 45))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable)
""")

DIVIDE_BY_ZERO = module("""
  (func (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0))))
""")


def importing(module_name: str, name: str) -> bytes:
    """A module that imports one extra function ``module_name.name`` (as a socket call would)."""
    return module(
        '(func (export "_start"))',
        imports=f'(import "{module_name}" "{name}" (func (param i32 i32 i32) (result i32)))',
    )


# Creates /scratch/fill and writes 64 KiB to it forever (with fuel, until stopped).
DISK_HOG = module(
    """
  (data (i32.const 256) "fill")
  (func (export "_start") (local $fd i32)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 4)
          (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 24))
      (then (call $proc_exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 24)))
    (loop $again
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $again)))
""",
    imports=_PATH_OPEN,
    pages=2,
)
