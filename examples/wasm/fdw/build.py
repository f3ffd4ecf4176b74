#!/usr/bin/env python3
"""Build the foreign-table example guests: WAT with wasmtime (no toolchain), C with clang + wasm-ld.

    python examples/wasm/fdw/build.py [--out DIR]      # default: examples/wasm/fdw/build/

Prints each module's path and the sha256 to put in ``wasm_fdw_servers.module_sha256``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CFLAGS = ["--target=wasm32", "-O2", "-nostdlib", "-ffreestanding", "-Wall", "-Werror",
          "-Wl,--no-entry", "-Wl,--strip-all", f"-I{HERE / 'include'}"]


def have_c_toolchain() -> bool:
    return shutil.which("clang") is not None and shutil.which("wasm-ld") is not None


def build_c(src: Path, out: Path) -> Path:
    dst = out / (src.stem + ".wasm")
    subprocess.run(["clang", *CFLAGS, "-o", str(dst), str(src)], check=True)
    return dst


def build_all(out: Path, *, c: bool = True) -> dict[str, Path]:
    """WAT guests are copied as text (proxyd compiles WAT itself); C guests are compiled."""
    import wasmtime

    out.mkdir(parents=True, exist_ok=True)
    built = {}
    for src in sorted((HERE / "wat").glob("*.wat")):
        wasmtime.wat2wasm(src.read_text())  # fail here, not at LOAD, if it does not assemble
        built[src.name] = Path(shutil.copy(src, out / src.name))
    if c:
        for src in sorted((HERE / "c").glob("*.c")):
            built[src.stem + ".wasm"] = build_c(src, out)
    return built


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "build")
    args = ap.parse_args()
    c = have_c_toolchain()
    if not c:
        print("clang/wasm-ld not found: building the WAT guests only")
    for path in build_all(args.out, c=c).values():
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  file://{path}")


if __name__ == "__main__":
    main()
