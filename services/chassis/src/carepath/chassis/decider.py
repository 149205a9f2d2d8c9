"""The Decider pattern: the behaviour of a stream as pure `decide` and `evolve` functions.

This is the decider kernel: the standard library and the contracts only, so importing a clinical
rule never loads the database or web stack (`carepath.chassis.commands` runs deciders against the
event store).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

from carepath.contracts import DomainEvent

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Decider(Generic[S, C]):
    """`decide(state, command) -> events`, `evolve(state, event) -> state`, `initial_state`."""

    decide: Callable[[S, C], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    initial_state: S

    def fold(self, events: Sequence[DomainEvent]) -> S:
        """The state after `events`."""
        return self.fold_onto(self.initial_state, events)

    def fold_onto(self, state: S, events: Sequence[DomainEvent]) -> S:
        """The state after `events`, starting from `state`."""
        return reduce(self.evolve, events, state)
