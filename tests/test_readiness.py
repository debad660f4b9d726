"""Offline HACS/hassfest readiness: manifest, hacs.json, strings and actions.

The translation keys, actions and issues are read from the code itself (its
syntax tree, resolved against the imported modules), so forgetting a string
for a new entity, exception, repair or action fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
import importlib
import json
from pathlib import Path
import re
from types import ModuleType
from typing import Any, get_args

from awesomeversion import AwesomeVersion
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.balupi import const
from custom_components.balupi.insights import MonthErrorKey
from custom_components.balupi.nas_state import NasState
from custom_components.balupi.transfer import FlushErrorKind
from homeassistant.const import Platform, __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import setup_entry

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "custom_components" / const.DOMAIN
PLATFORMS = {str(platform) for platform in Platform}

# hassfest's manifest schema for custom integrations plus HACS's required keys.
REQUIRED_MANIFEST_KEYS = {
    "domain",
    "name",
    "codeowners",
    "documentation",
    "iot_class",
    "issue_tracker",
    "version",
}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
# HACS's hacs.json schema allows no other keys.
HACS_KEYS = {
    "name",
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
}


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def strings() -> dict[str, Any]:
    data: dict[str, Any] = load_json(PACKAGE / "strings.json")
    return data


# --- manifest.json and hacs.json ------------------------------------------------


def test_manifest_has_what_hassfest_and_hacs_require() -> None:
    manifest = load_json(PACKAGE / "manifest.json")
    assert manifest.keys() >= REQUIRED_MANIFEST_KEYS
    assert manifest["domain"] == PACKAGE.name
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    assert AwesomeVersion(manifest["version"]).valid
    assert (PACKAGE / "config_flow.py").exists() == manifest.get("config_flow", False)


def test_manifest_keys_are_in_hassfest_order() -> None:
    keys = list(load_json(PACKAGE / "manifest.json"))
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_manifest_requirements_are_pinned() -> None:
    for requirement in load_json(PACKAGE / "manifest.json").get("requirements", []):
        assert re.fullmatch(
            r"[A-Za-z0-9_.\-]+(\[[\w,\-]+\])?==[\w.\-]+", requirement
        ), requirement


def test_hacs_json() -> None:
    hacs = load_json(ROOT / "hacs.json")
    assert hacs["name"]
    assert hacs.keys() <= HACS_KEYS
    assert "filename" in hacs or not hacs.get("zip_release")
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    # The tests run on a Home Assistant the integration claims to support.
    assert AwesomeVersion(ha_version) >= minimum


# --- translations: files against each other --------------------------------------


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Return every leaf string by its dotted path."""
    leaves: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            leaves |= flatten(value, path)
        else:
            leaves[path] = value
    return leaves


def placeholders(text: str) -> set[str]:
    """Return the {names} of a message (ICU plurals included by their name)."""
    return set(re.findall(r"\{([a-z_][a-z0-9_]*)[},]", text))


def test_strings_json_is_the_english_translation(strings: dict[str, Any]) -> None:
    assert load_json(PACKAGE / "translations" / "en.json") == strings


def test_german_has_exactly_the_english_keys(strings: dict[str, Any]) -> None:
    english = flatten(strings)
    german = flatten(load_json(PACKAGE / "translations" / "de.json"))
    assert sorted(english.keys() - german.keys()) == [], "missing in de.json"
    assert sorted(german.keys() - english.keys()) == [], "only in de.json"


def test_german_keeps_every_placeholder(strings: dict[str, Any]) -> None:
    german = flatten(load_json(PACKAGE / "translations" / "de.json"))
    wrong = {
        path: (sorted(placeholders(text)), sorted(placeholders(german[path])))
        for path, text in flatten(strings).items()
        if path in german and placeholders(text) != placeholders(german[path])
    }
    assert wrong == {}


# --- translation keys used by the code -------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A translation key the code uses, and the strings section it belongs to."""

    section: str
    key: str
    where: str
    # An entity named after its device (name=None) uses its key for the icon only.
    nameless: bool = False


def _dynamic_keys() -> dict[tuple[str, str], set[str]]:
    """Keys computed at run time, per (module, expression), from the code's types."""
    return {
        ("services", "f'inbox_{record.error}'"): {
            f"inbox_{kind}" for kind in FlushErrorKind
        },
        ("services", "err.key"): set(get_args(MonthErrorKey.__value__)),
        # async_wake refuses these two states by name.
        ("coordinator.nas", "f'already_{state}'"): {
            f"already_{state}" for state in (NasState.ONLINE, NasState.BOOTING)
        },
    }


class KeyFinder:
    """Find every translation key in the integration's modules."""

    def __init__(self) -> None:
        self.trees: dict[str, ast.Module] = {}
        self.modules: dict[str, ModuleType] = {}
        self.parents: dict[ast.AST, ast.AST] = {}
        for path in sorted(PACKAGE.rglob("*.py")):
            parts = path.relative_to(PACKAGE).with_suffix("").parts
            if len(parts) > 1 and parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            self.trees[name] = tree
            self.modules[name] = importlib.import_module(
                f"custom_components.{const.DOMAIN}.{name}"
            )
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    self.parents[child] = node
        self.dynamic = _dynamic_keys()
        self.unresolved: list[str] = []

    def uses(self) -> Iterator[KeyUse]:
        for name, tree in self.trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    yield from self._call_uses(name, node)
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    yield from self._attr_uses(name, node)

    # -- what a use is about ------------------------------------------------------

    def _call_uses(self, module: str, call: ast.Call) -> Iterator[KeyUse]:
        keyword = next(
            (kw for kw in call.keywords if kw.arg == "translation_key"), None
        )
        if keyword is None:
            return
        where = f"{module}.py:{call.lineno}"
        callee = self._evaluate(module, call.func)
        name = ast.unparse(call.func)
        if isinstance(callee, type) and (platform := _platform(callee)):
            section = f"entity.{platform}"
        elif isinstance(callee, type) and callee.__name__.endswith("SelectorConfig"):
            section = "selector"
        elif name.endswith("async_create_issue"):
            # Issues go through repairs.async_set_issue with const.ISSUE_* keys,
            # checked on their own below.
            return
        elif (isinstance(callee, type) and issubclass(callee, BaseException)) or any(
            kw.arg == "translation_domain" for kw in call.keywords
        ):
            section = "exceptions"
        else:
            self.unresolved.append(f"{where}: what is {name}(translation_key=...)?")
            return
        nameless = any(
            kw.arg == "name"
            and isinstance(kw.value, ast.Constant)
            and kw.value.value is None
            for kw in call.keywords
        )
        for key in self._values(module, keyword.value, depth=0, where=where):
            yield KeyUse(section, key, where, nameless)

    def _attr_uses(
        self, module: str, node: ast.Assign | ast.AnnAssign
    ) -> Iterator[KeyUse]:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [
            target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
            for target in targets
        ]
        if "_attr_translation_key" not in names or node.value is None:
            return
        where = f"{module}.py:{node.lineno}"
        cls_node = self._enclosing(node, ast.ClassDef)
        assert cls_node is not None, where
        cls = getattr(self.modules[module], cls_node.name)
        platform = _platform(cls)
        assert platform, f"{where}: {cls_node.name} is no platform entity"
        nameless = "_attr_name" in vars(cls) and cls._attr_name is None
        for key in self._values(module, node.value, depth=0, where=where):
            yield KeyUse(f"entity.{platform}", key, where, nameless)

    # -- what a key expression can be ----------------------------------------------

    def _values(
        self, module: str, expr: ast.expr, *, depth: int, where: str
    ) -> set[str]:
        if isinstance(expr, ast.Constant):
            return {expr.value} if isinstance(expr.value, str) else set()
        if isinstance(expr, ast.IfExp):
            return self._values(
                module, expr.body, depth=depth, where=where
            ) | self._values(module, expr.orelse, depth=depth, where=where)
        if (dynamic := self.dynamic.get((module, ast.unparse(expr)))) is not None:
            return dynamic
        if isinstance(expr, ast.Name) and depth < 4:
            if (local := self._local(module, expr, depth, where)) is not None:
                return local
            value = getattr(self.modules[module], expr.id, None)
            if isinstance(value, str):
                return {value}
        self.unresolved.append(f"{where}: cannot tell the keys of {ast.unparse(expr)}")
        return set()

    def _local(
        self, module: str, name: ast.Name, depth: int, where: str
    ) -> set[str] | None:
        """Resolve a name assigned or received in the enclosing function."""
        function = self._enclosing(name, ast.FunctionDef | ast.AsyncFunctionDef)
        if function is None:
            return None
        assigned = [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr)
            and node.value is not None
            and any(
                isinstance(target, ast.Name) and target.id == name.id
                for target in (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
            )
        ]
        if assigned:
            values: set[str] = set()
            for value in assigned:
                values |= self._values(module, value, depth=depth + 1, where=where)
            return values
        params = [arg.arg for arg in function.args.args + function.args.kwonlyargs]
        if name.id not in params:
            return None
        values = set()
        for caller_module, argument in self._arguments(module, function, name.id):
            values |= self._values(
                caller_module, argument, depth=depth + 1, where=where
            )
        return values

    def _arguments(
        self, module: str, function: ast.FunctionDef | ast.AsyncFunctionDef, param: str
    ) -> Iterator[tuple[str, ast.expr]]:
        """Yield what every call of the function passes for one parameter."""
        positional = [arg.arg for arg in function.args.args]
        method = bool(positional) and positional[0] in ("self", "cls")
        if method:
            positional = positional[1:]
        for caller, tree in self.trees.items():
            if method and caller != module:
                continue
            for call in ast.walk(tree):
                if not isinstance(call, ast.Call) or not _calls(call, function.name):
                    continue
                for keyword in call.keywords:
                    if keyword.arg == param:
                        yield caller, keyword.value
                if param in positional and positional.index(param) < len(call.args):
                    yield caller, call.args[positional.index(param)]

    # -- helpers -----------------------------------------------------------------------

    def _enclosing[NodeT: ast.AST](
        self, node: ast.AST, kind: type[NodeT] | Any
    ) -> NodeT | None:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, kind):
            parent = self.parents.get(parent)
        return parent

    def _evaluate(self, module: str, expr: ast.expr) -> object:
        """Return the object a (dotted) name refers to in a module, if any."""
        if isinstance(expr, ast.Name):
            return getattr(self.modules[module], expr.id, None)
        if isinstance(expr, ast.Attribute):
            owner = self._evaluate(module, expr.value)
            return getattr(owner, expr.attr, None) if owner is not None else None
        return None


def _calls(call: ast.Call, function: str) -> bool:
    func = call.func
    return (isinstance(func, ast.Name) and func.id == function) or (
        isinstance(func, ast.Attribute) and func.attr == function
    )


def _platform(cls: object) -> str | None:
    """Return the entity platform a class (entity or description) belongs to."""
    for base in getattr(cls, "__mro__", ()):
        parts = base.__module__.split(".")
        if parts[:2] == ["homeassistant", "components"] and parts[2] in PLATFORMS:
            return parts[2]
    return None


@pytest.fixture(scope="module")
def key_uses() -> tuple[list[KeyUse], list[str]]:
    finder = KeyFinder()
    uses = list(finder.uses())
    return uses, finder.unresolved


def lookup(strings: dict[str, Any], path: str) -> Any:
    node: Any = strings
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_every_translation_key_is_resolved(
    key_uses: tuple[list[KeyUse], list[str]],
) -> None:
    uses, unresolved = key_uses
    assert unresolved == []
    # The finder sees entity, exception and selector keys at all.
    assert {use.section.split(".")[0] for use in uses} >= {
        "entity",
        "exceptions",
        "selector",
    }


def test_every_translation_key_has_a_string(
    strings: dict[str, Any], key_uses: tuple[list[KeyUse], list[str]]
) -> None:
    uses, _ = key_uses
    icons = load_json(PACKAGE / "icons.json")
    missing = sorted(
        f"{use.section}.{use.key} ({use.where})"
        for use in uses
        if lookup(icons if use.nameless else strings, f"{use.section}.{use.key}")
        is None
    )
    assert missing == []


def test_exceptions_have_messages(strings: dict[str, Any]) -> None:
    for key, texts in strings["exceptions"].items():
        assert texts["message"], key


def test_every_entity_string_is_used(
    strings: dict[str, Any], key_uses: tuple[list[KeyUse], list[str]]
) -> None:
    uses, _ = key_uses
    used = {f"{use.section}.{use.key}" for use in uses}
    icons = load_json(PACKAGE / "icons.json")
    for source in (strings, icons):
        for platform, keys in source["entity"].items():
            stale = {f"entity.{platform}.{key}" for key in keys} - used
            assert stale == set(), "strings or icons for entities nobody has"


def test_every_exception_string_is_used(
    strings: dict[str, Any], key_uses: tuple[list[KeyUse], list[str]]
) -> None:
    uses, _ = key_uses
    used = {use.key for use in uses if use.section == "exceptions"}
    assert sorted(strings["exceptions"].keys() - used) == []


def test_every_repair_issue_has_a_string(strings: dict[str, Any]) -> None:
    keys = {
        value
        for name, value in vars(const).items()
        if name.startswith("ISSUE_") and isinstance(value, str)
    }
    assert keys
    assert sorted(keys - strings["issues"].keys()) == [], "issues without strings"
    assert sorted(strings["issues"].keys() - keys) == [], "strings of no issue"
    for key in keys:
        assert strings["issues"][key]["title"], key
        assert strings["issues"][key]["description"], key


# --- actions ----------------------------------------------------------------------


async def test_actions_are_described_and_have_icons(
    hass: HomeAssistant, config_entry: MockConfigEntry, strings: dict[str, Any]
) -> None:
    await setup_entry(hass, config_entry)
    registered = set(hass.services.async_services_for_domain(const.DOMAIN))
    assert registered
    described = yaml.safe_load((PACKAGE / "services.yaml").read_text()) or {}
    icons = load_json(PACKAGE / "icons.json")["services"]
    assert set(described) == registered
    assert set(strings["services"]) == registered
    assert set(icons) == registered
    for action in registered:
        texts = strings["services"][action]
        assert texts["name"], action
        assert texts["description"], action
        fields = set((described[action] or {}).get("fields", {}))
        assert set(texts.get("fields", {})) == fields, action
        for field in fields:
            assert texts["fields"][field]["name"], (action, field)
            assert texts["fields"][field]["description"], (action, field)
        assert icons[action]["service"].startswith("mdi:"), action


async def test_no_module_passes_for_the_repairs_platform(
    hass: HomeAssistant, config_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A module named repairs.py would be taken for a fix-flow platform."""
    assert await async_setup_component(hass, "repairs", {})
    await setup_entry(hass, config_entry)
    platforms = hass.data["repairs"]["platforms"]
    assert await platforms.async_get_platform(const.DOMAIN) is None
    assert "Error processing repairs platform" not in caplog.text
