"""Where things may reach (issue #14): read from the source's imports, never by importing it.

- ``ivr`` never imports ``voicemail``, nor names a voicemail endpoint: the app plugs voicemail in.
- A module that decides never imports a view module; a view takes from another feature's module
  of routes only the responses and checks they share (``SHARED_BY_VIEWS``).
- The simulator is self-contained: only the app's CLI and the demo import it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ivr", "voicemail")

# Views: the modules that take requests (routes, webhooks, pages, the API) and the helpers that
# only they use, which read the request or shape its responses (api/auth, api/paging,
# api/errors; web/forms, web/i18n, web/nav …). ivr/api/tokens.py is not one: it makes and checks
# tokens over a Session, for the CLI and the demo as well.
VIEW_PACKAGES = ("ivr.web", "voicemail.web")
VIEW_MODULES = {
    "ivr.api",
    "ivr.api.agents",
    "ivr.api.auth",
    "ivr.api.calls",
    "ivr.api.errors",
    "ivr.api.openapi",
    "ivr.api.paging",
    "ivr.callflow.webhooks",
    "ivr.ops.health",
    "ivr.ops.metrics",
    "ivr.queues.agent_legs",
    "ivr.queues.webhooks",
    "voicemail.api",
    "voicemail.call_back",
    "voicemail.conversation_recording",
    "voicemail.recording",
}
# What a view may take from another feature's module of routes: shared responses and checks.
SHARED_BY_VIEWS = {
    "ivr.callflow.webhooks": {"apologise", "flow_for"},
    "ivr.web.auth": {"supervisor_required"},
    "voicemail.web.inbox": {"message_or_404"},
    "voicemail.api": {"audio_response"},
}
# Imports that break a rule today, each with the work that removes it.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()
# `flask simulate` reads the app's settings (the development account): the simulator's one door.
SIMULATOR_DOORS = {("ivr.simulator.cli", "ivr.settings")}
SIMULATOR_USERS = {
    "app",
    "voicemail.demo",
    "voicemail.demo_day",
}  # the CLI command and the demo; tests and bench too

ROUTE = re.compile(r"@\w+\.(get|post|put|patch|delete|route)\(|\.add_url_rule\(")
URL_FOR = re.compile(r"""url_for\(\s*['"]([\w.]+)['"]""")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of both packages (and app.py), by dotted name."""
    found = {"app": REPO / "app.py"}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


@cache
def source(name: str) -> str:
    return modules()[name].read_text(encoding="utf-8")


@cache
def imports(name: str) -> dict[str, set[str]]:
    """The modules ``name`` imports, each with the names taken from it (empty for ``import x``)."""
    taken: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source(name))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                taken.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.level:
            # The rules read absolute names: a relative import would slip past every one.
            raise AssertionError(f"{name} imports relatively; write the module's full name")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                # `from ivr.web import auth` imports the module ivr.web.auth.
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules():
                    taken.setdefault(submodule, set())
                else:
                    taken.setdefault(node.module, set()).add(alias.name)
    return taken


def is_view(name: str) -> bool:
    return name in VIEW_MODULES or name.startswith(tuple(p + "." for p in VIEW_PACKAGES))


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def defines_routes(name: str) -> bool:
    return name in modules() and name != "app" and bool(ROUTE.search(source(name)))


def feature(name: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]


def test_every_module_that_defines_routes_is_counted_as_a_view() -> None:
    assert {name for name in modules() if defines_routes(name) and not is_view(name)} == set()


def test_ivr_never_imports_voicemail() -> None:
    reaching = {
        (name, target)
        for name in modules()
        if in_package(name, "ivr")
        for target in imports(name)
        if in_package(target, "voicemail")
    }
    assert reaching == set()


def test_modules_that_decide_never_import_a_view() -> None:
    reaching = {
        (name, target)
        for name in modules()
        if name != "app" and not is_view(name)
        for target in imports(name)
        if is_view(target)
    }
    assert reaching == set()


def test_views_take_only_shared_responses_from_other_features_routes() -> None:
    reaching = set()
    for name in modules():
        if name == "app" or not is_view(name):
            continue
        for target, names in imports(name).items():
            if not defines_routes(target) or in_package(target, feature(name)):
                continue
            if not names or not names <= SHARED_BY_VIEWS.get(target, set()):
                reaching.add((name, target))
    assert reaching == KNOWN_EXCEPTIONS


def voicemail_blueprints() -> set[str]:
    """The names voicemail's blueprints register (the first part of their endpoints)."""
    names = set()
    for name in modules():
        if not in_package(name, "voicemail"):
            continue
        for node in ast.walk(ast.parse(source(name))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Blueprint"
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_ivr_never_names_a_voicemail_endpoint() -> None:
    blueprints = voicemail_blueprints()
    assert {"inbox", "figures"} <= blueprints  # the check sees them
    sources = [p for p in (REPO / "ivr").rglob("*") if p.suffix in {".html", ".py", ".js"}]
    named = {
        (str(path.relative_to(REPO)), endpoint)
        for path in sources
        for endpoint in URL_FOR.findall(path.read_text(encoding="utf-8"))
        if endpoint.partition(".")[0] in blueprints
    }
    assert named == set()


def test_the_simulator_is_self_contained() -> None:
    reaching_out = {
        (name, target)
        for name in modules()
        if in_package(name, "ivr.simulator")
        for target in imports(name)
        if in_package(target, "ivr") or in_package(target, "voicemail")
        if not in_package(target, "ivr.simulator")
    }
    assert reaching_out == SIMULATOR_DOORS
    users = {
        name
        for name in modules()
        if not in_package(name, "ivr.simulator")
        for target in imports(name)
        if in_package(target, "ivr.simulator")
    }
    assert users == SIMULATOR_USERS
