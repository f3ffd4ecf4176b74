"""The ``http_request`` host function's client: allow-list, timeout and size cap, no retries.

Runs on the statement's worker thread (the standard library's blocking client). Every failure is a
short ``http: …`` text the guest receives as ``{"err": …}``; the host never raises to the guest.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_DROPPED = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                      "transfer-encoding", "upgrade", "cookie", "set-cookie", "host", "content-length"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3


class HttpRefused(Exception):
    """A request the host will not (or could not) complete; the message is what the guest sees."""


@dataclass(frozen=True)
class AllowEntry:
    scheme: str
    host: str
    port: int
    path: str

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        if scheme != self.scheme or port != self.port or not path.startswith(self.path):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])  # subdomains only, not the bare domain
        return host == self.host


def parse_allow_list(text: str) -> tuple[AllowEntry, ...]:
    """``scheme://host[:port][/prefix]`` entries, comma separated; ValueError names a bad one."""
    out = []
    for raw in filter(None, (e.strip() for e in text.split(","))):
        parts = urlsplit(raw)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"http_allow entry '{raw}' is not scheme://host[:port][/path-prefix]")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError(f"http_allow entry '{raw}' has a bad port") from None
        out.append(AllowEntry(parts.scheme, parts.hostname.lower(), port, parts.path or "/"))
    return tuple(out)


def _target(url: str, allow: tuple[AllowEntry, ...]) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        port = 0
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    if not any(a.matches(parts.scheme, host, port, path) for a in allow):
        raise HttpRefused(f"http: destination not allowed: {url}")
    target = path + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, target


def request(req: dict, allow: tuple[AllowEntry, ...], timeout_ms: int, max_bytes: int) -> dict:
    """Perform one request described by the guest; returns the ``ok`` value or raises HttpRefused."""
    method = str(req.get("method", "GET")).upper()
    url = req.get("url")
    if method not in _METHODS or not isinstance(url, str):
        raise HttpRefused("http: request needs a method (GET, POST, PUT, PATCH, DELETE) and a url")
    headers = {}
    for pair in req.get("headers") or []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise HttpRefused("http: headers must be [[name, value], …] strings")
        if pair[0].lower() not in _DROPPED:
            headers[pair[0].lower()] = pair[1]
    body: bytes | None = None
    if isinstance(req.get("body_b64"), str):
        body = base64.b64decode(req["body_b64"])
    elif req.get("body") is not None:
        body = str(req["body"]).encode()
    if body is not None and len(body) > max_bytes:
        raise HttpRefused(f"http: request body larger than {max_bytes} bytes: {url}")
    deadline = time.monotonic() + timeout_ms / 1000
    for _ in range(MAX_REDIRECTS + 1):
        status, resp_headers, data = _once(method, url, headers, body, allow, deadline, timeout_ms, max_bytes)
        location = dict(resp_headers).get("location")
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
            continue
        reply: dict = {"status": status, "url": url, "headers": resp_headers}
        try:
            reply["body"] = data.decode()
        except UnicodeDecodeError:
            reply["body_b64"] = base64.b64encode(data).decode()
        return reply  # "body" last: simple guests find it by scanning for "body":
    raise HttpRefused(f"http: more than {MAX_REDIRECTS} redirects: {url}")


def _once(method: str, url: str, headers: dict, body: bytes | None, allow: tuple[AllowEntry, ...],
          deadline: float, timeout_ms: int, max_bytes: int) -> tuple[int, list[list[str]], bytes]:
    scheme, host, port, target = _target(url, allow)

    def left() -> float:
        rest = deadline - time.monotonic()
        if rest <= 0:
            raise HttpRefused(f"http: timeout after {timeout_ms} ms: {url}")
        return rest

    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    kwargs = {"context": ssl.create_default_context()} if scheme == "https" else {}
    conn = cls(host, port, timeout=left(), **kwargs)
    try:
        conn.request(method, target, body=body, headers=headers)
        sock = conn.sock  # the response keeps reading from it after the connection lets it go
        sock.settimeout(left())
        resp = conn.getresponse()
        declared = resp.getheader("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise HttpRefused(f"http: response larger than {max_bytes} bytes: {url}")
        chunks, size = [], 0
        while True:
            sock.settimeout(left())
            chunk = resp.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise HttpRefused(f"http: response larger than {max_bytes} bytes: {url}")
            chunks.append(chunk)
        out_headers = [[k.lower(), v] for k, v in resp.getheaders() if k.lower() not in _DROPPED]
        return resp.status, out_headers, b"".join(chunks)
    except TimeoutError:
        raise HttpRefused(f"http: timeout after {timeout_ms} ms: {url}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise HttpRefused(f"http: {type(exc).__name__}: {exc}: {url}") from None
    finally:
        conn.close()
