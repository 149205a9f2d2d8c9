"""The screening rules as data: a versioned clinic policy file, validated when it is loaded.

A rule has an id, a kind (hard stop, relative contraindication, indication), a description and
a condition over the fields of `IntakeCompleted`. Evaluating a condition gives whether it holds
and the evidence it looked at (field, value found, threshold), which goes into the decision.
"""

from pathlib import Path
from typing import Any, Self, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carepath.chassis.policy_file import PolicyFileError, load_policy_file
from carepath.contracts.eligibility import Evidence, Indication, RuleKind
from carepath.contracts.intake import AntidepressantTrial, IntakeCompleted

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.yaml")
Scalar = bool | int | float | str
OPERATORS = ("equals", "one_of", "below", "above", "at_least", "at_most", "missing")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compare(_Strict):
    """`field` compared with one operator, e.g. `{field: age_years, below: 18}`."""

    field: str
    equals: Scalar | None = None
    one_of: list[Scalar] | None = None
    below: float | None = None
    above: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    missing: bool | None = None
    unit: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _one_operator(self) -> Self:
        given = [name for name in OPERATORS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(OPERATORS)} (got {given or 'none'})")
        return self

    def evaluate(self, data: dict[str, Any]) -> tuple[bool, list[Evidence]]:
        value = _lookup(data, self.field)
        holds, threshold = self._compare(value)
        return holds, [Evidence(field=self.field, value=value, threshold=threshold, unit=self.unit)]

    def _compare(self, value: Any) -> tuple[bool, str | int | float]:
        if self.missing is not None:
            return (value is None) == self.missing, "missing" if self.missing else "present"
        if self.equals is not None:
            return value == self.equals, _show(self.equals)
        if self.one_of is not None:
            return value in self.one_of, f"one of {', '.join(map(_show, self.one_of))}"
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return False, self._bound()
        for name, holds in (
            ("below", value < (self.below or 0)),
            ("above", value > (self.above or 0)),
            ("at_least", value >= (self.at_least or 0)),
            ("at_most", value <= (self.at_most or 0)),
        ):
            if getattr(self, name) is not None:
                return holds, self._bound()
        raise AssertionError("no operator")

    def _bound(self) -> str:
        for name, sign in (("below", "<"), ("above", ">"), ("at_least", ">="), ("at_most", "<=")):
            if (bound := getattr(self, name)) is not None:
                return f"{sign} {_show(bound)}"
        return "a number"


class All(_Strict):
    """Every condition holds."""

    all: list["Condition"] = Field(min_length=1)

    def evaluate(self, data: dict[str, Any]) -> tuple[bool, list[Evidence]]:
        results = [condition.evaluate(data) for condition in self.all]
        return all(holds for holds, _ in results), [e for _, evidence in results for e in evidence]


class Any_(_Strict):
    """At least one condition holds; the evidence is what held."""

    any: list["Condition"] = Field(min_length=1)

    def evaluate(self, data: dict[str, Any]) -> tuple[bool, list[Evidence]]:
        results = [condition.evaluate(data) for condition in self.any]
        held = [e for holds, evidence in results if holds for e in evidence]
        return bool(held), held or [e for _, evidence in results for e in evidence]


class Count(_Strict):
    """At least `at_least` items of the list `count` meet every condition in `where`."""

    count: str
    where: list[Compare] = Field(min_length=1)
    at_least: int = Field(ge=1)
    unit: str | None = Field(default=None, max_length=20)

    def evaluate(self, data: dict[str, Any]) -> tuple[bool, list[Evidence]]:
        items = _lookup(data, self.count) or []
        qualifying = sum(1 for item in items if all(c.evaluate(item)[0] for c in self.where))
        evidence = Evidence(
            field=self.count, value=qualifying, threshold=f">= {self.at_least}", unit=self.unit
        )
        return qualifying >= self.at_least, [evidence]


Condition = Union[Compare, All, Any_, Count]  # noqa: UP007 (a recursive alias needs Union)


class Rule(_Strict):
    """One screening rule."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
    kind: RuleKind
    description: str = Field(min_length=1, max_length=500)
    indication: Indication | None = None
    when: Condition

    @model_validator(mode="after")
    def _indication_iff_kind(self) -> Self:
        if (self.kind is RuleKind.INDICATION) != (self.indication is not None):
            raise ValueError("`indication` is given exactly for rules of kind indication")
        if self.kind is RuleKind.NO_INDICATION:
            raise ValueError("no_indication is decided by the service, not written as a rule")
        return self


class EligibilityPolicy(_Strict):
    """The versioned rule set."""

    version: str = Field(min_length=1, max_length=50)
    approve_without_indication: bool = False
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _sound(self) -> Self:
        ids = [rule.id for rule in self.rules]
        if repeated := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(repeated)}")
        if not any(rule.kind is RuleKind.INDICATION for rule in self.rules):
            raise ValueError("the policy needs at least one indication rule")
        for rule in self.rules:
            for problem in _unknown_fields(rule.when):
                raise ValueError(f"rule {rule.id}: {problem}")
        return self

    def rules_of(self, kind: RuleKind) -> list[Rule]:
        return [rule for rule in self.rules if rule.kind is kind]


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> EligibilityPolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, EligibilityPolicy)


def _lookup(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unknown_fields(condition: Condition, model: type[BaseModel] = IntakeCompleted) -> list[str]:
    """Paths in `condition` that `model` does not have: a typo in the policy fails at load."""
    match condition:
        case Compare():
            return (
                [] if _has_path(model, condition.field) else [f"unknown field {condition.field!r}"]
            )
        case All():
            return [p for c in condition.all for p in _unknown_fields(c, model)]
        case Any_():
            return [p for c in condition.any for p in _unknown_fields(c, model)]
        case Count():
            if condition.count != "antidepressant_trials":
                return [f"count works on antidepressant_trials, not {condition.count!r}"]
            return [p for c in condition.where for p in _unknown_fields(c, AntidepressantTrial)]
    return []


def _has_path(model: type[BaseModel], path: str) -> bool:
    head, _, rest = path.partition(".")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and _has_path(nested, rest)


__all__ = ["DEFAULT_POLICY_FILE", "EligibilityPolicy", "PolicyFileError", "Rule", "load_policy"]
