"""``proxyd`` command line: run the daemon in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from proxyd import __version__

DEFAULT_CONFIG = "conf/proxyd.cnf"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="proxyd",
        description="MySQL-protocol SQL proxy daemon whose features come from plugins. Runs in the foreground "
                    "and logs to stderr (and to the cnf's errorlog, if set).")
    p.add_argument("-c", "--config", default=DEFAULT_CONFIG, metavar="PATH",
                   help=f"the cnf file, libconfig syntax (default: {DEFAULT_CONFIG})")
    p.add_argument("-D", "--datadir", metavar="DIR",
                   help="directory of proxyd.db and the embedded databases (default: the cnf's datadir)")
    boot = p.add_mutually_exclusive_group()
    boot.add_argument("--initial", action="store_true",
                      help="re-seed memory and disk from the cnf; the old proxyd.db is kept as proxyd.db.bak")
    boot.add_argument("--reload", action="store_true",
                      help="merge the cnf's tables and variables into those on disk (cnf rows win)")
    p.add_argument("--no-plugins", action="store_true",
                   help="start the core alone, ignoring the cnf's plugins list (also PROXYD_NO_PLUGINS=1)")
    p.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                   help="do not load this plugin of the cnf's list (repeatable)")
    p.add_argument("--log-level", default=os.environ.get("PROXYD_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity (default INFO)")
    p.add_argument("-V", "--version", action="version", version=f"proxyd {__version__}")
    return p


def setup_logging(level: str, errorlog: str | None) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    if errorlog:
        os.makedirs(os.path.dirname(os.path.abspath(errorlog)), exist_ok=True)
        fh = logging.FileHandler(errorlog)
        fh.setFormatter(fmt)
        root.addHandler(fh)
    # mysql-mimic logs every connect/close at INFO: too chatty for an error log.
    logging.getLogger("mysql_mimic").setLevel(max(logging.WARNING, root.level))


def main(argv: list[str] | None = None) -> int:
    from proxyd.config import ConfigError, load_config
    from proxyd.daemon import EXIT_CONFIG, run_daemon

    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, None)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        logging.getLogger("proxyd").error("%s", exc)
        return EXIT_CONFIG
    datadir = args.datadir or config.datadir or "data"
    # Relative paths in the cnf are relative to the working directory, as in ProxySQL.
    setup_logging(args.log_level, os.path.abspath(config.errorlog) if config.errorlog else None)
    no_plugins = args.no_plugins or os.environ.get("PROXYD_NO_PLUGINS", "") not in ("", "0")
    return run_daemon(config, os.path.abspath(datadir), initial=args.initial, reload=args.reload,
                      no_plugins=no_plugins, disabled=tuple(args.disable_plugin))


if __name__ == "__main__":
    raise SystemExit(main())
