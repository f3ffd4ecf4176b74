#!/usr/bin/env python3
"""Build the example guests: WAT with wasmtime (no toolchain), C with clang + wasm-ld.

    python examples/wasm/build.py [--out DIR]      # default: examples/wasm/build/

C needs `clang` with the wasm32 target and `wasm-ld` (Debian: clang, lld); without them only the
WAT guests are built and the script says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CFLAGS = ["--target=wasm32", "-O2", "-nostdlib", "-ffreestanding", "-Wall", "-Werror",
          "-Wl,--no-entry", "-Wl,--strip-all", f"-I{HERE / 'include'}"]


def have_c_toolchain() -> bool:
    return shutil.which("clang") is not None and (shutil.which("wasm-ld") is not None
                                                  or shutil.which("wasm-ld-" + _clang_major()) is not None)


def _clang_major() -> str:
    try:
        out = subprocess.run(["clang", "--version"], capture_output=True, text=True, check=True).stdout
        return out.split("version", 1)[1].split(".", 1)[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return ""


def build_wat(src: Path, out: Path) -> Path:
    import wasmtime

    dst = out / (src.stem + ".wasm")
    dst.write_bytes(bytes(wasmtime.wat2wasm(src.read_text())))
    return dst


def build_c(src: Path, out: Path) -> Path:
    dst = out / (src.stem + ".wasm")
    subprocess.run(["clang", *CFLAGS, "-o", str(dst), str(src)], check=True)
    return dst


def build_all(out: Path, *, c: bool = True) -> dict[str, Path]:
    """Build every guest into ``out``; names are ``<stem>.wasm`` (WAT) and ``<stem>_c.wasm`` (C)."""
    out.mkdir(parents=True, exist_ok=True)
    built = {p.stem + ".wasm": build_wat(p, out) for p in sorted((HERE / "wat").glob("*.wat"))}
    if c:
        cdir = out / "c"
        cdir.mkdir(exist_ok=True)
        for src in sorted((HERE / "c").glob("*.c")):
            built[src.stem + "_c.wasm"] = build_c(src, cdir)
    return built


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "build")
    args = ap.parse_args()
    c = have_c_toolchain()
    for name, path in build_all(args.out, c=c).items():
        print(f"{name:24} {path.stat().st_size:6} bytes  {path}")
    if not c:
        print("clang/wasm-ld not found: C guests skipped (Debian: apt-get install clang lld)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
