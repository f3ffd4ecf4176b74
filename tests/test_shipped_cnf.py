"""The README's first command: proxyd on the shipped conf/proxyd.cnf serves with nothing else installed."""

from __future__ import annotations

import re
from pathlib import Path

import pymysql

from tests.conftest import Proxyd

SHIPPED = Path(__file__).resolve().parent.parent / "conf" / "proxyd.cnf"


def test_shipped_cnf_starts_with_its_plugins_and_serves_on_the_embedded_backend(tmp_path):
    text = SHIPPED.read_text()
    p = Proxyd(tmp_path)
    # the shipped file as it is, but on free ports and a private datadir
    text = re.sub(r'(?m)^datadir = ".*"$', f'datadir = "{p.datadir}"', text)
    text = text.replace('"127.0.0.1:6032"', f'"127.0.0.1:{p.admin_port}"')
    text = text.replace('"127.0.0.1:6033"', f'"127.0.0.1:{p.sql_port}"')
    p.cnf.write_text(text)
    p.start()
    try:
        names = {row[0] for row in p.query("SHOW PLUGINS")}
        assert {"filters", "wasm", "rewriter"} <= names
        conn = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="proxyd", password="proxyd", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS shop")
            cur.execute("CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) UNIQUE)")
            cur.execute("INSERT INTO shop.items (name) VALUES ('apple'), ('pear')")
            cur.execute("SELECT name FROM shop.items ORDER BY id")
            assert cur.fetchall() == (("apple",), ("pear",))
        conn.close()
    finally:
        assert p.stop() == 0, p.log()
