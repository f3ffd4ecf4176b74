"""Hooks the filters plugin publishes (``services.add_hookspecs`` in its ``init``).

Other plugins implement them to extend the filter engine; the docstrings are the reference.
"""

from __future__ import annotations

from plugins.filters.actions import FilterAction
from proxyd.hookspecs import hookspec


@hookspec
def filters_actions() -> list[type[FilterAction]]:
    """Contribute filter action classes (each a :class:`plugins.filters.actions.FilterAction` subclass).

    Return a list of classes (not instances); the engine instantiates one per runtime filter that
    names the class's ``name`` in ``action='…'``. Called when the ``filters`` plugin starts, after
    every change of the loaded plugin set (``plugins_changed``: ``LOAD``/``UNLOAD``/``RELOAD
    PLUGIN``) and on every ``LOAD FILTERS TO RUNTIME`` — so a plugin loaded after ``filters``
    still gets its actions used. A runtime filter whose action no plugin contributes is kept but
    inert (logged) until one does. Two plugins contributing the same name: the first in load
    order wins and the clash is logged. Names are compared upper-case.
    """
