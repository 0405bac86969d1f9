"""The in-memory unit of work offers every method of every repository port, with its keywords.

mypy checks ``src`` only, so a port that gains a method would otherwise leave the fakes behind
until a unit test happened to call it.
"""

from __future__ import annotations

import inspect
import typing

import pytest
from tests.fakes.storage import FakeDatabase

from wattbook.application import ports

REPOSITORIES = typing.get_type_hints(ports.UnitOfWork)


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize("attribute", sorted(REPOSITORIES))
def test_the_fake_repository_has_every_method_of_its_port(attribute: str) -> None:
    fake = getattr(FakeDatabase().unit_of_work(), attribute)
    missing, different = [], []
    for name, wanted in _methods(REPOSITORIES[attribute]).items():
        found = getattr(fake, name, None)
        if found is None:
            missing.append(name)
            continue
        have = inspect.signature(found).parameters
        expected = [p for p in wanted.parameters.values() if p.name != "self"]
        if [(p.name, p.kind) for p in expected] != [(p.name, p.kind) for p in have.values()]:
            different.append(name)

    assert missing == []
    assert different == []
