"""The fakes offer every method of every port they stand for, with its keywords.

mypy checks ``src`` only, so a port that gains a method would otherwise leave the fakes behind
until a unit test happened to call it. The in-memory unit of work stands for both
``ports.UnitOfWork`` and the month-end's ``billing_ports.MonthEndUnitOfWork``.
"""

from __future__ import annotations

import inspect
import typing

import pytest
from tests.fakes import FakePartitionKeeper
from tests.fakes.storage import FakeDatabase

from wattbook.application import partition_ports, ports
from wattbook.application.billing import ports as billing_ports

REPOSITORIES = {
    **typing.get_type_hints(ports.UnitOfWork),
    **typing.get_type_hints(billing_ports.MonthEndUnitOfWork),
}
# Other ports and their fakes, made fresh per test.
OTHER_FAKES: dict[str, tuple[type, typing.Callable[[], object]]] = {
    "PartitionKeeper": (partition_ports.PartitionKeeper, FakePartitionKeeper),
}


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


def _mismatches(protocol: type, fake: object) -> tuple[list[str], list[str]]:
    """Return the port's methods the fake lacks, and those whose parameters differ."""
    missing, different = [], []
    for name, wanted in _methods(protocol).items():
        found = getattr(fake, name, None)
        if found is None:
            missing.append(name)
            continue
        have = inspect.signature(found).parameters
        expected = [p for p in wanted.parameters.values() if p.name != "self"]
        if [(p.name, p.kind) for p in expected] != [(p.name, p.kind) for p in have.values()]:
            different.append(name)
    return missing, different


@pytest.mark.parametrize("attribute", sorted(REPOSITORIES))
def test_the_fake_repository_has_every_method_of_its_port(attribute: str) -> None:
    fake = getattr(FakeDatabase().unit_of_work(), attribute)

    assert _mismatches(REPOSITORIES[attribute], fake) == ([], [])


@pytest.mark.parametrize("port", sorted(OTHER_FAKES))
def test_the_other_fakes_have_every_method_of_their_port(port: str) -> None:
    protocol, make = OTHER_FAKES[port]

    assert _mismatches(protocol, make()) == ([], [])
