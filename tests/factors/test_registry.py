"""Factor groups and the registry: declaring factors, and every way to get them wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from factornas import Candidate, FactorGroup, GroupSpec, Placement, SearchSpace, registry
from factornas.errors import RegistryError
from factornas.factors.registry import FactorRegistry, register_group
from factornas.supernet.network import SearchNetwork


@pytest.fixture
def gate_group() -> Iterator[FactorGroup]:
    """A user-defined output factor: a gate after every conv, declared with the decorator."""
    group = FactorGroup("gate", placement=Placement.OUTPUT, attach_to={"conv"})

    @group.candidate("identity")
    def identity(channels: int) -> nn.Module:
        return nn.Identity()

    @group.candidate("sigmoid_gate")
    def sigmoid_gate(channels: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(channels, channels, 1), nn.Sigmoid())

    register_group(group)
    yield group
    registry.unregister("gate")


def test_user_group_joins_a_space_and_the_supernet(gate_group: FactorGroup) -> None:
    space = SearchSpace(
        normal=(GroupSpec(group="op"), GroupSpec(group="activation"), GroupSpec(group="gate"))
    )
    net = SearchNetwork(space, channels=4, layers=3)
    assert set(net.arch.by_group()) == {"op", "activation", "gate"}
    out = net(torch.randn(2, 3, 8, 8))
    out.sum().backward()
    assert all(p.grad is not None for p in net.arch.by_group()["gate"])


def test_class_decorator_registers_an_instance() -> None:
    local = FactorRegistry()

    @local.register
    class Pooling(FactorGroup):
        def __init__(self) -> None:
            super().__init__("pooling", placement=Placement.VARIANT, attach_to={"pool"})
            self.add(Candidate("max", value="max"))
            self.add(Candidate("avg", value="avg"))

    assert isinstance(Pooling, type)
    assert local.get("pooling").names == ("max", "avg")


def test_duplicate_group_name_is_refused() -> None:
    with pytest.raises(RegistryError, match="'activation' is already registered"):
        register_group(FactorGroup("activation", placement=Placement.INPUT, attach_to={"conv"}))


def test_duplicate_candidate_is_refused() -> None:
    group = FactorGroup("g", placement=Placement.INPUT, attach_to={"conv"})
    group.add(Candidate("a", factory=lambda c: nn.ReLU()))
    with pytest.raises(RegistryError, match="already has a candidate 'a'"):
        group.add(Candidate("a", factory=lambda c: nn.ReLU()))


def test_unknown_group_lists_the_registered_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown factor group 'nope'; choose one of: .*activation"
    ):
        SearchSpace(normal=(GroupSpec(group="op"), GroupSpec(group="nope")))


def test_unknown_candidate_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"no candidate 'gelu'; choose from relu, relu6"):
        SearchSpace(
            normal=(GroupSpec(group="op"), GroupSpec(group="activation", candidates=("gelu",)))
        )


def test_empty_group_is_refused_when_used() -> None:
    register_group(FactorGroup("empty", placement=Placement.INPUT, attach_to={"conv"}))
    try:
        with pytest.raises(ValueError, match="'empty' has no candidates: add at least one"):
            SearchSpace(normal=(GroupSpec(group="op"), GroupSpec(group="empty")))
    finally:
        registry.unregister("empty")


def test_failing_factory_names_the_candidate_and_group() -> None:
    group = FactorGroup("broken", placement=Placement.INPUT, attach_to={"conv"})

    @group.candidate("explodes")
    def explodes(channels: int) -> nn.Module:
        raise RuntimeError("bad kernel size")

    register_group(group)
    try:
        space = SearchSpace(normal=(GroupSpec(group="op"), GroupSpec(group="broken")))
        with pytest.raises(
            RegistryError, match="'explodes' of factor group 'broken' failed to build"
        ):
            SearchNetwork(space, channels=4, layers=3)
    finally:
        registry.unregister("broken")


def test_factory_returning_a_non_module_is_named() -> None:
    group = FactorGroup("bad", placement=Placement.OUTPUT, attach_to={"conv"})
    group.add(Candidate("tensor", factory=lambda c: torch.zeros(1)))
    register_group(group)
    try:
        space = SearchSpace(normal=(GroupSpec(group="op"), GroupSpec(group="bad")))
        with pytest.raises(RegistryError, match=r"returned Tensor, not an nn\.Module"):
            SearchNetwork(space, channels=4, layers=3)
    finally:
        registry.unregister("bad")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"placement": None, "attach_to": {"conv"}}, "give a placement"),
        ({"placement": Placement.INPUT}, "say which ops it attaches to"),
        ({"placement": Placement.INPUT, "attach_to": {"conv"}, "scope": "net"}, "scope must be"),
    ],
)
def test_malformed_group_definitions(kwargs: dict, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        FactorGroup("g", **kwargs)


def test_op_group_must_come_first() -> None:
    with pytest.raises(ValueError, match="list the op group first"):
        SearchSpace(normal=(GroupSpec(group="activation"), GroupSpec(group="op")))


def test_registry_error_message_is_plain_text() -> None:
    with pytest.raises(RegistryError) as info:
        registry.get("missing")
    assert str(info.value).startswith("unknown factor group 'missing'")


def test_factor_attached_to_no_op_is_refused() -> None:
    with pytest.raises(ValueError, match="'normalization' attaches to no op of 'op'"):
        SearchSpace(normal=(GroupSpec(group="op"), GroupSpec(group="normalization")))
