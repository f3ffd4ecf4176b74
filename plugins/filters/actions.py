"""The filter-action contract: what an action is, and the registry other plugins extend.

A runtime filter pairs a pattern with one action. When the pattern matches a statement, the filter
engine calls the action's :meth:`FilterAction.before` in priority order (smallest priority value
first, ties by filter name) and, once the statement has an outcome, :meth:`FilterAction.after` in
reverse order for every action whose ``before`` ran. Action classes reach the engine through the
``filters_actions`` hook (:mod:`plugins.filters.hookspecs`); the filters plugin contributes
``CONTINUE``, ``FAIL`` and ``CONCURRENCY_CONTROL`` itself, the ``wasm`` plugin ``WASM_PLUGIN``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar

from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet

#: What ``before``/``after`` may return: nothing (carry on), an answer, an error, or a coroutine
#: resolving to one of those.
Outcome = None | Ok | ResultSet | ProxydError
ActionResult = Outcome | Awaitable[Outcome]


class FilterAction:
    """Base class of filter actions; one instance per runtime filter that uses the action.

    The engine makes the instance when the filter reaches RUNTIME (CREATE/ALTER FILTER, LOAD FILTERS
    TO RUNTIME, start-up) and calls :meth:`close` when that filter leaves RUNTIME. Instances are
    shared by every statement the filter matches, concurrently: keep per-statement state in
    ``ctx.plugin_data`` (key it by ``self.filter_name``), not in plain attributes.
    """

    #: Upper-case action name as written in ``action='…'``, e.g. ``"FAIL"``, ``"WASM_PLUGIN"``.
    name: ClassVar[str] = ""
    #: One line shown by ``SHOW FILTER ACTIONS``.
    description: ClassVar[str] = ""
    #: ``False``: a non-empty ``action_args`` is refused with
    #: ``action <NAME> does not support action_args`` before ``__init__`` is called.
    takes_args: ClassVar[bool] = True

    def __init__(self, filter_name: str, args: str) -> None:
        """Parse and validate ``action_args`` (``args``, the raw text as stored).

        Raise :class:`proxyd.errors.ProxydError` naming the problem — code 1064/42000 for a
        syntax error in the arguments, or a more specific code — and the CREATE/ALTER FILTER or
        LOAD FILTERS TO RUNTIME that asked for the action then changes nothing. Any other
        exception is reported the same way, as 1105/HY000.
        """
        self.filter_name = filter_name
        self.args = args

    def before(self, ctx: Any) -> ActionResult:
        """Run before the statement executes, in priority order.

        :param ctx: the statement's :class:`proxyd.pipeline.QueryContext`.

        Return ``None`` to let the chain continue. Return or raise a ``ProxydError`` to refuse the
        statement, or return an ``Ok``/``ResultSet`` to answer it without the backend: either
        stops the chain (later filters' ``before`` is not called). May be ``async def``: await a
        slot, a worker thread, … without blocking the event loop. A plain exception fails the
        statement with an error naming the filter.
        """
        return None

    def after(self, ctx: Any) -> ActionResult:
        """Run after the statement has an outcome, in reverse priority order.

        Called for every action whose ``before`` ran — including the one that answered or
        refused, and also when ``before`` raised or the backend failed — so release here what
        ``before`` took. ``ctx.result`` / ``ctx.error`` hold the current outcome (as left by the
        backend and by the actions after this one). Return a replacement (``Ok``, ``ResultSet`` or
        a ``ProxydError``) or ``None`` to keep it. May be ``async def``.
        """
        return None

    def close(self) -> None:
        """Release resources: the filter was dropped, altered or reloaded, or the plugin stops.

        Statements already inside ``before`` still get their ``after``; do not fail them.
        """


def action_key(name: str) -> str:
    """The registry key of an action name: surrounding blanks removed, upper case."""
    return name.strip().upper()
