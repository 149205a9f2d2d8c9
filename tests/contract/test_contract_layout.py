"""The contracts' layout: every context package has the same modules with the same roles.

`types` (value types), `commands` (request bodies), `events` (current event models) and
`versions` (superseded ones with their upcasters). A newcomer who knows one context knows where
the others keep the same things, and the package re-exports all of it under the old import path.
"""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from carepath.contracts import DomainEvent, registry
from carepath.contracts.common import ContractModel

CONTEXTS = ["intake", "eligibility", "session", "integration"]
MODULES = ["types", "commands", "events", "versions"]


def module(context: str, name: str) -> ModuleType:
    return importlib.import_module(f"carepath.contracts.{context}.{name}")


def classes_defined_in(found: ModuleType) -> list[type]:
    return [
        value
        for value in vars(found).values()
        if inspect.isclass(value) and value.__module__ == found.__name__
    ]


def public_names_defined_in(found: ModuleType) -> set[str]:
    tree = ast.parse(Path(str(found.__file__)).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize("context", CONTEXTS)
def test_each_context_is_a_package_of_types_commands_events_and_versions(context: str) -> None:
    package = importlib.import_module(f"carepath.contracts.{context}")

    assert Path(str(package.__file__)).name == "__init__.py"
    for name in MODULES:
        assert module(context, name).__doc__, f"{context}.{name} says at the top what it holds"


@pytest.mark.parametrize("context", CONTEXTS)
def test_commands_hold_no_events_and_events_hold_no_commands(context: str) -> None:
    commands = classes_defined_in(module(context, "commands"))
    events = classes_defined_in(module(context, "events"))
    versions = classes_defined_in(module(context, "versions"))
    types = classes_defined_in(module(context, "types"))

    assert not [model for model in commands if issubclass(model, DomainEvent)]
    assert not [model for model in events + versions if issubclass(model, ContractModel)]
    assert not [model for model in types if issubclass(model, DomainEvent | ContractModel)]


@pytest.mark.parametrize("context", CONTEXTS)
def test_current_events_live_in_events_and_superseded_ones_in_versions(context: str) -> None:
    of_context = [model for model in registry.models() if model.context == context]

    for model in of_context:
        superseded = registry.latest(model.event_type()) != model.event_type()
        expected = "versions" if superseded else "events"
        assert model.__module__ == f"carepath.contracts.{context}.{expected}", model.event_type()


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_package_re_exports_every_public_name_of_its_modules(context: str) -> None:
    package = importlib.import_module(f"carepath.contracts.{context}")
    defined = set().union(*(public_names_defined_in(module(context, name)) for name in MODULES))

    assert set(package.__all__) == defined | set(MODULES)
    for name in defined:
        assert getattr(package, name) is getattr(_defining_module(context, name), name)


def _defining_module(context: str, name: str) -> ModuleType:
    for candidate in MODULES:
        if name in public_names_defined_in(module(context, candidate)):
            return module(context, candidate)
    raise AssertionError(f"{name} is defined in no module of {context}")


@pytest.mark.parametrize(
    "first_import",
    [
        "carepath.contracts.access",
        *(f"carepath.contracts.{context}.{name}" for context in CONTEXTS for name in MODULES),
    ],
)
def test_every_event_type_is_registered_whichever_module_is_imported_first(
    first_import: str,
) -> None:
    script = (
        f"import {first_import}\n"
        "from carepath.contracts import registry\n"
        "registry.check_chains()\n"
        "print('\\n'.join(registry.types()))\n"
    )
    result = subprocess.run(  # a fresh interpreter: nothing imported before `first_import`
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert result.stdout.split() == registry.types()
