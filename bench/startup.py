#!/usr/bin/env python3
"""Start-up time: process start until the admin port accepts a MySQL login and answers ``SELECT 1``.

Measured (median of N runs, each with a fresh datadir, so every run is a first boot from the cnf):

* proxyd core alone (``--no-plugins``);
* proxyd with every first-party plugin (entry points of group ``proxyd.plugins`` whose distribution
  is ``proxyd``), if there are any;
* proxyd with the example third-party plugin ``hello``, if it is installed.

Baselines measured in the same run, interleaved with the proxyd runs so that noise hits all alike:

* ``python -c pass``: the interpreter alone;
* ``python -c "import proxyd.daemon"``: interpreter plus every import proxyd needs to boot;
* a trivial asyncio TCP server: interpreter, ``asyncio.start_server`` and one greeting byte read by
  the client. proxyd's own cost is its figure minus this one.

Target: under 1 s to ready. Printed, never enforced.

    python bench/startup.py [-n 7]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from importlib.metadata import entry_points

from _common import ProxydProcess, child_env, free_port, machine_line, median_ms, spread_ms

TARGET_MS = 1000.0
GROUP = "proxyd.plugins"

ASYNCIO_SERVER = """
import asyncio, sys
async def greet(reader, writer):
    writer.write(b"!")
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(greet, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def discover_plugins() -> tuple[list[str], str | None]:
    """(first-party plugin names, 'hello' if a third-party plugin of that name is installed)."""
    first, hello = [], None
    for ep in entry_points(group=GROUP):
        dist = _norm(ep.dist.name) if getattr(ep, "dist", None) else ""
        if dist == "proxyd":
            first.append(ep.name)
        elif ep.name == "hello":
            hello = ep.name
    return sorted(first), hello


def time_command(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=child_env())
    return time.perf_counter() - t0


def time_asyncio_server() -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", ASYNCIO_SERVER, str(port)], env=child_env())
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    if s.recv(1) == b"!":
                        return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("the asyncio baseline server exited") from None
                time.sleep(0.002)
    finally:
        proc.terminate()
        proc.wait()


def time_proxyd(plugins: tuple[str, ...], extra: tuple[str, ...]) -> float:
    with ProxydProcess(plugins, extra) as p:
        t0 = time.perf_counter()
        p.spawn()
        p.wait_ready()
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=7, help="runs per configuration (default 7)")
    args = ap.parse_args()

    first_party, hello = discover_plugins()
    cases: list[tuple[str, callable]] = [
        ("baseline: python -c pass", lambda: time_command([sys.executable, "-c", "pass"])),
        ("baseline: python -c 'import proxyd.daemon'",
         lambda: time_command([sys.executable, "-c", "import proxyd.daemon"])),
        ("baseline: trivial asyncio server", time_asyncio_server),
        ("proxyd core alone (--no-plugins)", lambda: time_proxyd((), ("--no-plugins",))),
    ]
    if first_party:
        cases.append((f"proxyd + first-party plugins ({', '.join(first_party)})",
                      lambda: time_proxyd(tuple(first_party), ())))
    if hello:
        cases.append(("proxyd + example third-party plugin 'hello'", lambda: time_proxyd((hello,), ())))

    print(f"proxyd start-up benchmark, {args.runs} runs per case (median, min..max) — {machine_line()}")
    print("children run with a private bytecode cache (PYTHONPYCACHEPREFIX), as an installed proxyd would have "
          "its .pyc files")
    if not first_party:
        print(f"note: no first-party plugins installed (no entry point of group '{GROUP}' from distribution "
              "'proxyd'); that case is skipped")
    if not hello:
        print("note: the example third-party plugin 'hello' is not installed; that case is skipped "
              "(pip install ./examples/hello-plugin to include it)")
    # Warm the OS caches and the children's bytecode cache (see _common.child_env) once, untimed.
    for _, fn in cases:
        fn()
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.runs):  # round-robin: a noisy moment hits every case, not just one
        for name, fn in cases:
            samples[name].append(fn())

    interp = median_ms(samples[cases[0][0]])
    imports = median_ms(samples[cases[1][0]])
    server = median_ms(samples[cases[2][0]])
    print()
    print(f"{'case':58} {'median ms':>10} {'min..max':>14}  {'x asyncio':>9}  {'own ms':>7}  target")
    for name, _ in cases:
        m = median_ms(samples[name])
        line = f"{name:58} {m:10.1f} {spread_ms(samples[name]):>14}"
        if name.startswith("proxyd"):
            verdict = "ok" if m < TARGET_MS else "MISSED"
            line += f"  {m / server:9.2f}  {m - server:7.1f}  < {TARGET_MS:.0f} ms ({verdict})"
        print(line)
    print()
    print(f"import cost of proxyd.daemon and its dependencies: {imports - interp:.1f} ms "
          f"(import baseline minus bare interpreter)")
    core = median_ms(samples["proxyd core alone (--no-plugins)"])
    print(f"core boot beyond imports: {core - imports:.1f} ms (core alone minus import baseline; "
          "negative = within noise)")
    print("'x asyncio' = proxyd's time / trivial asyncio server; 'own ms' = proxyd's time minus that server's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
