"""wasm: sandboxed WebAssembly guests for proxyd (the WASM_PLUGIN filter action and its module table)."""

from __future__ import annotations

from plugins.wasm.plugin import WasmPlugin

__all__ = ["WasmPlugin"]
