"""The compatibility gate: is the current JSON Schema of an event a safe successor of the
published one?

A published event type lives in the log forever, and consumers read it with whatever version of
the contract they have. So a new schema of the same type must keep every field (no removal or
rename), keep every field's type (widening `integer` to `number` or allowing `null` is fine),
require nothing new, and narrow no value set or range. Each step is checked against the schema
checked in under `contracts/schemas/`; since every allowed step only widens, a chain of allowed
steps stays compatible with every earlier version (BACKWARD_TRANSITIVE).
"""

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


@dataclass(frozen=True)
class BreakingChange:
    """One incompatibility: which event, which field (dotted path), and what changed."""

    event_type: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.event_type}: field `{self.field or '(the event)'}`: {self.reason}"


def breaking_changes(event_type: str, published: Schema, current: Schema) -> list[BreakingChange]:
    """Every way `current` breaks readers and data of `published` (empty: compatible)."""
    checker = _Checker(event_type, published, current)
    checker.compare("", published, current)
    return checker.found


class _Checker:
    def __init__(self, event_type: str, old_root: Schema, new_root: Schema) -> None:
        self.event_type = event_type
        self.old_root = old_root
        self.new_root = new_root
        self.found: list[BreakingChange] = []

    def report(self, path: str, reason: str) -> None:
        self.found.append(BreakingChange(self.event_type, path, reason))

    def compare(self, path: str, old: Schema, new: Schema) -> None:
        old_branches = _branches(old, self.old_root)
        new_branches = _branches(new, self.new_root)
        old_types, new_types = _types(old_branches), _types(new_branches)
        lost = {t for t in old_types if not _accepts(new_types, t)}
        if lost:
            self.report(path, f"type changed from {_show(old_types)} to {_show(new_types)}")
            return
        self._compare_values(path, old_branches, new_branches)
        self._compare_bounds(path, old_branches, new_branches)
        old_object, new_object = (
            _first(old_branches, "properties"),
            _first(new_branches, "properties"),
        )
        if old_object is not None and new_object is not None:
            self._compare_objects(path, old_object, new_object)
        old_items, new_items = _first(old_branches, "items"), _first(new_branches, "items")
        if old_items is not None and new_items is not None:
            self.compare(f"{path}[]", old_items["items"], new_items["items"])

    def _compare_objects(self, path: str, old: Schema, new: Schema) -> None:
        old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
        for name, old_property in old_properties.items():
            where = f"{path}.{name}" if path else name
            if name not in new_properties:
                self.report(where, "removed or renamed")
            else:
                self.compare(where, old_property, new_properties[name])
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(new_required - old_required):
            where = f"{path}.{name}" if path else name
            if name in old_properties:
                self.report(where, "became required")
            else:
                self.report(where, "new required field (add it as optional, or make a new version)")
        if (
            old.get("additionalProperties", True) is not False
            and new.get("additionalProperties") is False
        ):
            self.report(path, "no longer accepts additional properties")

    def _compare_values(self, path: str, old: list[Schema], new: list[Schema]) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return
        if old_values is None:
            self.report(path, f"now restricted to {sorted(map(str, new_values))}")
            return
        if removed := old_values - new_values:
            self.report(path, f"enum narrowed: {sorted(map(str, removed))} no longer allowed")

    def _compare_bounds(self, path: str, old: list[Schema], new: list[Schema]) -> None:
        for key in _LOWER_BOUNDS + _UPPER_BOUNDS:
            old_bound, new_bound = _bound(old, key), _bound(new, key)
            if new_bound is None or old_bound == new_bound:
                continue
            narrowed = (
                old_bound is None
                or (key in _LOWER_BOUNDS and new_bound > old_bound)
                or (key in _UPPER_BOUNDS and new_bound < old_bound)
            )
            if narrowed:
                self.report(path, f"{key} narrowed from {old_bound} to {new_bound}")
        for key in ("pattern", "format"):
            old_value, new_value = _bound(old, key), _bound(new, key)
            if new_value is not None and new_value != old_value:
                self.report(path, f"{key} changed from {old_value!r} to {new_value!r}")


def _resolve(node: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in node and seen < 50:
        pointer = node["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in pointer:
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _branches(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [branch for option in node[key] for branch in _branches(option, root)]
    return [node]


def _types(branches: list[Schema]) -> set[str]:
    types: set[str] = set()
    for branch in branches:
        declared = branch.get("type")
        if isinstance(declared, list):
            types.update(declared)
        elif isinstance(declared, str):
            types.add(declared)
        elif "properties" in branch:
            types.add("object")
        elif "enum" in branch or "const" in branch:
            values = branch.get("enum", [branch.get("const")])
            types.update(_json_type(value) for value in values)
        else:
            types.add("any")
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "object"


def _accepts(types: set[str], wanted: str) -> bool:
    return "any" in types or wanted in types or (wanted == "integer" and "number" in types)


def _allowed_values(branches: list[Schema]) -> set[Any] | None:
    """The closed set of allowed values, or None when any value of the types is allowed."""
    values: set[Any] = set()
    for branch in branches:
        if "enum" in branch:
            values.update(branch["enum"])
        elif "const" in branch:
            values.add(branch["const"])
        elif branch.get("type") == "null":
            values.add(None)
        else:
            return None
    return values


def _bound(branches: list[Schema], key: str) -> Any:
    for branch in branches:
        if key in branch:
            return branch[key]
    return None


def _first(branches: list[Schema], key: str) -> Schema | None:
    return next((branch for branch in branches if key in branch), None)


def _show(types: set[str]) -> str:
    return " | ".join(sorted(types))
