"""Routes discovered from the URL configuration at run time, and URLs built for them.

Every helper app adds views in parallel, so nothing here lists routes by hand: `all_routes()`
walks `config.urls` (skipping Django's admin, which enforces is_staff itself) and `build_url()`
fills each path converter from a table of real objects, falling back to plausible values.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
FALLBACK = {"int": "1", "uuid": str(uuid.UUID(int=1)), "slug": "x", "str": "x", "path": "x"}


@dataclass(frozen=True)
class Route:
    route: str  # e.g. "quizzes/attempt/<int:pk>/save/<str:qid>/"
    namespace: str  # "" for the root URLconf
    name: str
    view: Any = field(compare=False, hash=False)

    @property
    def id(self) -> str:
        return self.route or "/"

    @property
    def rule(self) -> str | None:
        return getattr(self.view, "permission_rule", None)

    @property
    def params(self) -> list[tuple[str, str]]:
        return [(m["conv"] or "str", m["name"]) for m in CONVERTER.finditer(self.route)]


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin" or entry.namespace == "admin":
                continue
            ns = entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield Route(prefix + str(entry.pattern), namespace, entry.name or "", entry.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def build_url(route: Route, values: dict[str, dict[str, str]]) -> tuple[str, bool]:
    """(url, exact): exact is False when a converter had to take a made-up value (404 is fine)."""
    known = {**values.get("*", {}), **values.get(route.namespace, {})}
    specific = values.get(f"{route.namespace}:{route.name}", {})
    known.update(specific)
    exact = True

    def fill(match: re.Match) -> str:
        nonlocal exact
        conv, name = match["conv"] or "str", match["name"]
        if name in known:
            return str(known[name])
        exact = False
        return FALLBACK.get(conv, "x")

    path = CONVERTER.sub(fill, route.route)
    if "^" in path or "(?" in path:  # a regex route (re_path): not used here, never guessed
        exact = False
        path = re.sub(r"[\^$]|\(\?P<[^>]+>[^)]*\)", "x", path)
    return "/" + path, exact


def client_for(world, role: str, **kwargs) -> Client:
    """A test client signed in as `role` (or anonymous) that returns 500s instead of raising."""
    client = Client(raise_request_exception=False, **kwargs)
    if role != "anonymous":
        client.force_login(world["people"][role])
    return client
