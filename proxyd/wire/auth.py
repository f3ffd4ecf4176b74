"""Authentication: mysql_native_password against proxyd's own credential stores.

mysql-mimic answers an unknown user with 3162 (which leaks who exists); proxyd answers every
failure with 1045/28000 ``Access denied for user 'u'@'h' (using password: YES|NO)``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mysql_mimic.auth import (
    AuthInfo,
    AuthState,
    Forbidden,
    IdentityProvider,
    NativePasswordAuthPlugin,
    Success,
    User,
)

from proxyd.backends.hashed_passwords import is_hashed, learn


def native_hash(password: str) -> str:
    """SHA1(SHA1(password)) in hex: what mysql_native_password verifies against."""
    return hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest()


def auth_string_for(stored: str | None) -> str:
    """Stored password (plain text, or MySQL's ``*HEX`` native hash) -> auth string."""
    if not stored:
        return ""
    if stored.startswith("*") and len(stored) == 41:
        return stored[1:].lower()
    return native_hash(stored)


@dataclass
class Account:
    name: str
    password: str | None  # plain text or '*HEX'
    role: str = "user"  # e.g. 'admin' / 'stats' on the admin port
    denied: Any = None  # after a correct password, refuse with this message (str) or error (ProxydError)


class _ProxydUser(User):
    pass


@dataclass
class _Lookup:
    account: Optional[Account]
    host: str


class ProxydNativePassword(NativePasswordAuthPlugin):
    def __init__(self, host: str):
        self.host = host

    async def auth(self, auth_info: Optional[AuthInfo] = None) -> AuthState:
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            nonce = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            nonce = os.urandom(20)
            auth_info = yield nonce + b"\x00"
        user = auth_info.user
        denied = getattr(user, "denied", None)
        ok = user.auth_string is not None and self.password_matches(user=user, scramble=auth_info.data, nonce=nonce)
        if not ok:
            using = "YES" if auth_info.data else "NO"
            yield Forbidden(f"Access denied for user '{user.name}'@'{self.host}' (using password: {using})")
        elif denied:
            yield Forbidden(denied)  # a message, or a ProxydError with its own code (e.g. 1040)
        else:
            stored = getattr(user, "stored", None)
            if is_hashed(stored):  # what its backend connections will log in with (see hashed_passwords)
                learn(user.name, stored, nonce, auth_info.data)
            yield Success(user.name)


class ProxydIdentityProvider(IdentityProvider):
    """Per-connection provider: knows the client host, asks ``lookup(user, host)``."""

    def __init__(self, lookup: Callable[[str, str], Optional[Account]], host: str):
        self.lookup, self.host = lookup, host
        self.plugin = ProxydNativePassword(host)
        self.account: Optional[Account] = None

    def get_plugins(self):
        return [self.plugin]

    async def get_user(self, username: str) -> Optional[User]:
        account = self.lookup(username, self.host)
        self.account = account
        user = _ProxydUser(name=username, auth_plugin=self.plugin.name)
        if account is None:
            # Unknown users go through the same scramble check and fail it: no existence leak.
            user.auth_string = os.urandom(20).hex()
        else:
            user.auth_string = auth_string_for(account.password)
            user.denied = account.denied  # type: ignore[attr-defined]
            user.stored = account.password  # type: ignore[attr-defined]
        return user
