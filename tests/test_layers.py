"""The dependency rule, enforced on the source: imports point downward only.

    __main__/cli -> service -> {web, polymarket, storage, webhooks} -> core -> errors
                          \\-> config -> errors

`webhooks` takes its settings as constructor parameters, so it does not import config either.

Every import counts: top level, inside functions, under `if TYPE_CHECKING:`, relative imports,
and `importlib.import_module("...")` / `__import__("...")` with a literal name.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "polymon"

CORE_THIRD_PARTY = {"msgspec", "sortedcontainers"}
CORE_POLYMON = ("polymon.core", "polymon.errors")
CORE_FORBIDDEN = (
    "trio",
    "trio_websocket",
    "httpx",
    "quart",
    "quart_trio",
    "hypercorn",
    "clickhouse_connect",
    "polymon.polymarket",
    "polymon.storage",
    "polymon.web",
    "polymon.service",
    "polymon.config",
)
SIBLINGS = ("polymon.polymarket", "polymon.storage", "polymon.web", "polymon.webhooks")
# Only these may import everything (the runtime wiring, the entry points and the bench).
TOP = ("polymon.service", "polymon.cli", "polymon.__main__", "polymon.bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of everything `module` imports, wherever the statement is.

    `from a.b import c` yields `a.b.c` (c may be a module or an attribute: prefix rules treat
    both alike); relative imports are resolved against `module`'s package.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                found.append((node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append((node.lineno, first.value))
    return found


def all_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> list[tuple[int, str]]:
    return imports_in(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


def violations(rule: str, modules: list[tuple[str, Path]], bad: object) -> list[str]:
    out = []
    for module, path in modules:
        for line, name in imports_of(path):
            if bad(module, name):  # type: ignore[operator]
                out.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {name} ({rule})")
    return out


# -- the collector itself -----------------------------------------------------------------


def test_collector_sees_every_kind_of_import() -> None:
    source = """
from __future__ import annotations
import os, trio.lowlevel as ll
from typing import TYPE_CHECKING
from . import sibling
from .. import errors
from ..errors import BadNumber
from .book import *
if TYPE_CHECKING:
    from polymon.storage import Writer
def later():
    import httpx
    class Inner:
        def method(self):
            from polymon.web.app import create_app
    return importlib.import_module("polymon.service.main"), __import__("quart")
try:
    import clickhouse_connect
except ImportError:
    pass
"""
    names = sorted(name for _, name in imports_in(source, "polymon.core.shard"))
    assert names == sorted(
        [
            "__future__.annotations",
            "os",
            "trio.lowlevel",
            "typing.TYPE_CHECKING",
            "polymon.core.sibling",
            "polymon.errors",
            "polymon.errors.BadNumber",
            "polymon.core.book",
            "polymon.storage.Writer",
            "httpx",
            "polymon.web.app.create_app",
            "polymon.service.main",
            "quart",
            "clickhouse_connect",
        ]
    )
    # Relative imports in a package's __init__ resolve against the package itself.
    init = imports_in("from . import book\nfrom .. import errors\n", "polymon.core", True)
    assert [name for _, name in init] == ["polymon.core.book", "polymon.errors"]


def test_the_scan_finds_the_real_modules() -> None:
    modules = dict(all_modules())
    assert {"polymon.core.book", "polymon.core.shard", "polymon.errors"} <= set(modules)
    # The imports of a real module are seen (TYPE_CHECKING blocks are covered above).
    hashcheck = [name for _, name in imports_of(modules["polymon.core.hashcheck"])]
    assert "polymon.core.asset.AssetState" in hashcheck


# -- the rules ----------------------------------------------------------------------------


def core_allows(name: str) -> bool:
    root = name.split(".")[0]
    if root == "polymon":
        return under(name, CORE_POLYMON)
    return root in sys.stdlib_module_names or root in CORE_THIRD_PARTY


def test_core_imports_only_stdlib_msgspec_sortedcontainers_core_and_errors() -> None:
    core = [(m, p) for m, p in all_modules() if under(m, "polymon.core")]
    assert core
    assert violations("core is pure", core, lambda m, n: not core_allows(n)) == []


def test_core_never_imports_io_libraries_or_outer_layers() -> None:
    core = [(m, p) for m, p in all_modules() if under(m, "polymon.core")]
    assert violations("core is pure", core, lambda m, n: under(n, CORE_FORBIDDEN)) == []


def test_adapters_are_siblings_that_never_import_each_other() -> None:
    def bad(module: str, name: str) -> bool:
        own = next(s for s in SIBLINGS if under(module, s))
        return any(under(name, s) for s in SIBLINGS if s != own)

    adapters = [(m, p) for m, p in all_modules() if under(m, SIBLINGS)]
    assert violations("siblings", adapters, bad) == []


def test_webhooks_import_only_core_and_errors_from_polymon() -> None:
    def bad(module: str, name: str) -> bool:
        allowed = ("polymon.webhooks", "polymon.core", "polymon.errors")
        return under(name, "polymon") and not under(name, allowed)

    webhooks = [(m, p) for m, p in all_modules() if under(m, "polymon.webhooks")]
    assert webhooks
    assert violations("webhooks get config as arguments", webhooks, bad) == []


def test_only_the_top_imports_service_and_entry_points() -> None:
    lower = [(m, p) for m, p in all_modules() if not under(m, TOP)]
    assert lower
    assert violations("only service/cli/__main__ wire", lower, lambda m, n: under(n, TOP)) == []


# What the market life cycle may use of the service: its own modules and the leaf helpers. It
# tracks markets through its `Tracker` seam (service.router), never the shards, the router or
# the composition root themselves.
LIFECYCLE_SERVICE_DEPS = (
    "polymon.service.lifecycle",
    "polymon.service.records",
    "polymon.service.receivers",
)


def test_the_lifecycle_uses_only_its_seam_of_the_service() -> None:
    def bad(module: str, name: str) -> bool:
        return under(name, "polymon.service") and not under(name, LIFECYCLE_SERVICE_DEPS)

    lifecycle = [(m, p) for m, p in all_modules() if under(m, "polymon.service.lifecycle")]
    assert len(lifecycle) > 1
    assert violations("lifecycle acts through Tracker", lifecycle, bad) == []


def test_errors_imports_nothing_from_polymon() -> None:
    errors = [(m, p) for m, p in all_modules() if m == "polymon.errors"]
    assert violations("errors is the bottom", errors, lambda m, n: under(n, "polymon")) == []


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sortedcontainers.SortedDict", True),
        ("msgspec", True),
        ("polymon.errors.BookInvariantError", True),
        ("polymon.core.prices.parse_price", True),
        ("decimal.Decimal", True),
        ("__future__.annotations", True),
        ("trio", False),
        ("polymon.config.Config", False),
        ("polymon.polymarket.schemas", False),
        ("polymon.coreutils", False),
        ("polymon", False),
        ("numpy", False),
    ],
)
def test_core_rule_examples(name: str, allowed: bool) -> None:
    assert core_allows(name) is allowed
