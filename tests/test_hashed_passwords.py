"""Users stored with a hashed password (``*HEX``) reach a MariaDB backend with their own credentials.

proxyd learns SHA1(password) from the user's login (proxyd/backends/hashed_passwords.py) and opens
backend connections with it; before any login of that user there is nothing to log in with.
"""

from __future__ import annotations

import pymysql
import pytest

from proxyd.backends.hashed_passwords import Stage1Password, backend_password
from proxyd.wire.auth import native_hash
from tests.conftest import Proxyd
from tests.test_mysql_backend import app_database, backend_cnf

DB, USER, PASSWORD = "pxt_hashed", "pxt_hashed_app", "hashed-pw"


@pytest.fixture(scope="module")
def server():
    yield from app_database(DB, USER, PASSWORD, f"CREATE TABLE {DB}.t (id INT PRIMARY KEY)",
                            f"INSERT INTO {DB}.t VALUES (1), (2)")


@pytest.fixture(scope="module")
def px(tmp_path_factory, server):
    stored = "*" + native_hash(PASSWORD).upper()
    p = Proxyd(tmp_path_factory.mktemp("hashed"), backend_cnf(server, USER, stored, DB))
    p.start()
    yield p
    p.stop()


def test_hashed_password_user_reaches_the_backend(px):
    assert px.query(f"SELECT password FROM runtime_mysql_users WHERE username = '{USER}'")[0][0].startswith("*")
    for _ in range(3):  # several logins, and connections from the pool and new ones
        with pymysql.connect(host="127.0.0.1", port=px.sql_port, user=USER, password=PASSWORD) as c:
            with c.cursor() as cur:
                cur.execute("SELECT COUNT(*), CURRENT_USER() FROM t")
                count, current = cur.fetchone()
                assert count == 2 and current.startswith(USER + "@")
    with pytest.raises(pymysql.MySQLError) as err:
        pymysql.connect(host="127.0.0.1", port=px.sql_port, user=USER, password="wrong")
    assert err.value.args[0] == 1045


def test_backend_password_forms():
    stored = "*" + native_hash("s3cret").upper()
    assert backend_password("someone", "plain") == "plain"
    assert backend_password("someone", None) == ""
    assert backend_password("nobody_logged_in", stored) == stored  # nothing learned: the server says 1045
    from proxyd.backends import hashed_passwords as hp
    import hashlib
    import os

    nonce = os.urandom(20)
    stage1 = hashlib.sha1(b"s3cret").digest()
    scramble = bytes(a ^ b for a, b in zip(stage1, hashlib.sha1(nonce + hashlib.sha1(stage1).digest()).digest()))
    assert not hp.learn("someone", stored, nonce, bytes(20))  # a wrong scramble teaches nothing
    assert hp.learn("someone", stored, nonce, scramble)
    got = backend_password("someone", stored)
    assert isinstance(got, Stage1Password) and bytes(got) == stage1
    # and the wrapped asyncmy scramble gives what a client with the plain password would send
    from asyncmy import auth
    other = os.urandom(20)
    assert auth.scramble_native_password(got, other) == hp._plain_scramble(b"s3cret", other)
