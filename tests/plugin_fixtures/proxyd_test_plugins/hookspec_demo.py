"""A plugin that publishes a hookspec of its own, and one that implements it."""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl, hookspec
from proxyd.results import ResultSet


class PartsSpec:
    @hookspec
    def t_greeting_parts(self) -> str:
        """Contribute one word to the provider's ``T PARTS`` answer."""


class Provider:
    PROXYD_ABI = ">=1.0,<2"

    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.add_hookspecs(PartsSpec)
        services.register_command("T PARTS", self.parts)

    @hookimpl
    def t_greeting_parts(self) -> str:
        return "provider"

    def parts(self, ctx: Any, sql: str) -> ResultSet:
        return ResultSet(["part"], [(p,) for p in sorted(self.services.hook.t_greeting_parts())])


class User:
    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES = ("t_hook_provider",)

    @hookimpl
    def t_greeting_parts(self) -> str:
        return "user"
