"""Backend logins for users whose password proxyd stores only as MySQL's ``*HEX`` hash.

A backend connection is opened with the client's own credentials, so it needs what the server's
``mysql_native_password`` check needs: ``SHA1(password)`` (called stage 1; the stored ``*HEX`` is
``SHA1(stage1)``). proxyd cannot compute stage 1 from the hash, but a client that logs in hands it
over without knowing: its scramble is ``stage1 XOR SHA1(nonce + SHA1(stage1))``, and proxyd knows the
nonce and ``SHA1(stage1)``. So each successful login of such a user records stage 1 here (in memory
only, as ProxySQL does), and backend connections for that user authenticate with it.

asyncmy computes the native-password scramble from a plain password; a :class:`Stage1Password` passed
as the password makes it use stage 1 directly (``asyncmy.auth.scramble_native_password`` is wrapped
once). Backends that insist on ``caching_sha2_password`` (MySQL 8's default) need SHA256 of the plain
password, which no native-password login reveals: for those, store the plain password.
"""

from __future__ import annotations

import hashlib
import hmac

from asyncmy import auth as _asyncmy_auth

_STAGE1: dict[tuple[str, str], bytes] = {}  # (user, stored '*HEX' upper-case) -> SHA1(password)


class Stage1Password(bytes):
    """SHA1(password), standing in for the password in an asyncmy connection."""


def _scramble_native(password: bytes, message: bytes) -> bytes:
    if isinstance(password, Stage1Password):
        stage1 = bytes(password)
        mask = hashlib.sha1(message[:20] + hashlib.sha1(stage1).digest()).digest()
        return bytes(a ^ b for a, b in zip(mask, stage1))
    return _plain_scramble(password, message)


_plain_scramble = _asyncmy_auth.scramble_native_password
if getattr(_plain_scramble, "__name__", "") != _scramble_native.__name__:
    _asyncmy_auth.scramble_native_password = _scramble_native


def is_hashed(stored: str | None) -> bool:
    return bool(stored) and stored.startswith("*") and len(stored) == 41  # type: ignore[union-attr]


def learn(user: str, stored: str, nonce: bytes, scramble: bytes) -> bool:
    """A client of ``user`` (stored password ``*HEX``) logged in with ``scramble`` for ``nonce``:
    keep the stage 1 it proves it knows. False if the scramble does not check out."""
    if len(scramble) != 20:
        return False
    stage2 = bytes.fromhex(stored[1:])
    mask = hashlib.sha1(nonce[:20] + stage2).digest()
    stage1 = bytes(a ^ b for a, b in zip(scramble, mask))
    if not hmac.compare_digest(hashlib.sha1(stage1).digest(), stage2):
        return False
    _STAGE1[(user, stored.upper())] = stage1
    return True


def backend_password(user: str, stored: str | None) -> str | bytes:
    """What to log in to a backend with, for ``user`` whose stored password is ``stored``: the plain
    password, or for a ``*HEX`` the stage 1 learned from the user's last login (if none yet, the
    hash itself: the server then refuses with its own 1045)."""
    if not is_hashed(stored):
        return stored or ""
    stage1 = _STAGE1.get((user, stored.upper()))  # type: ignore[union-attr]
    return Stage1Password(stage1) if stage1 is not None else stored  # type: ignore[return-value]
