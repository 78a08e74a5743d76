"""Evaluation networks: shapes, factor choices on every edge, overrides, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from factornas.cli import main
from factornas.errors import GenotypeError
from factornas.evaluate.cell import EvalCell, drop_path
from factornas.evaluate.config import NetworkConfig
from factornas.evaluate.cost import count_parameters, network_cost, network_params
from factornas.evaluate.network import NetworkCIFAR, NetworkImageNet, build_network
from factornas.evaluate.resolve import resolve_genotype
from factornas.export import export_torchscript, inference_model, sample_batch
from factornas.factors.activations import Swish
from factornas.factors.base import FactorGroup, Placement
from factornas.factors.ops import SepConv
from factornas.factors.registry import register_group, registry
from factornas.presets.published import PC_DARTS, published_genotype
from factornas.space.genotype import Genotype, darts_factor_defaults, parse_darts_genotype

TINY = {"channels": 4, "layers": 5}


def mixed_activation_genotype() -> Genotype:
    """PC-DARTS's cells with a different activation on every conv edge, as a free search
    produces (SELU, Swish, PReLU, ...)."""
    genotype = parse_darts_genotype(PC_DARTS, default_factors=darts_factor_defaults())
    choices = iter(["selu", "swish", "prelu", "elu", "rrelu", "celu", "relu6", "leaky_relu"] * 4)
    data = genotype.model_dump()
    for cell in ("normal", "reduce"):
        for node in data[cell]["nodes"]:
            for edge in node:
                if "activation" in edge["factors"]:
                    edge["factors"]["activation"] = next(choices)
    return Genotype.model_validate(data)


def edge_modules(model: nn.Module) -> Iterator[nn.Module]:
    for cell in model.modules():
        if isinstance(cell, EvalCell):
            yield from cell.edges


def test_cifar_forward_backward_shapes() -> None:
    model = NetworkCIFAR(mixed_activation_genotype(), num_classes=10, **TINY)
    model.drop_path_prob = 0.2
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert aux is not None and aux.shape == (2, 10)
    (logits.sum() + aux.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and aux is None


def test_grayscale_28x28_fashion_mnist_input() -> None:
    model = NetworkCIFAR(published_genotype("darts_v2"), in_channels=1, num_classes=10, **TINY)
    logits, aux = model(torch.randn(3, 1, 28, 28))
    assert logits.shape == (3, 10) and aux is not None and aux.shape == (3, 10)
    (logits.mean() + aux.mean()).backward()


def test_imagenet_forward_backward_shapes() -> None:
    model = NetworkImageNet(published_genotype("pc_darts_image"), num_classes=7, **TINY)
    logits, aux = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 7) and aux is not None and aux.shape == (2, 7)
    (logits.sum() + aux.sum()).backward()
    assert model.stem0[0].stride == (2, 2) and model.stem1[1].stride == (2, 2)


def test_imagenet_network_refuses_an_odd_width() -> None:
    with pytest.raises(ValueError, match="even initial channel count"):
        NetworkImageNet(published_genotype("darts_v2"), channels=5, layers=5)


def test_every_edge_uses_its_searched_activation() -> None:
    genotype = mixed_activation_genotype()
    model = NetworkCIFAR(genotype, **TINY)
    expected = [e.factors.get("activation") for _, e in genotype.normal.edges()]
    cell = model.cells[0]
    for module, want in zip(cell.edges, expected, strict=True):
        if want is None:
            assert not isinstance(module, nn.Sequential)
        else:
            name = type(module[0]).__name__.lower()
            assert name.replace("_", "") == want.replace("_", "") or (
                want == "swish" and isinstance(module[0], Swish)
            )


def test_override_replaces_every_activation() -> None:
    model = NetworkCIFAR(mixed_activation_genotype(), override={"activation": "relu"}, **TINY)
    edges = list(edge_modules(model))
    conv_edges = [m for m in edges if isinstance(m, nn.Sequential)]
    assert len(conv_edges) > 10
    assert all(type(m[0]) is nn.ReLU for m in conv_edges)
    searched_types = (nn.SELU, Swish, nn.PReLU, nn.ELU, nn.RReLU, nn.CELU, nn.ReLU6, nn.LeakyReLU)
    assert not any(isinstance(m, searched_types) for m in model.modules())


def test_override_adds_a_factor_the_genotype_lacks() -> None:
    bare = parse_darts_genotype(PC_DARTS)  # no factor choices at all
    model = NetworkCIFAR(bare, override={"activation": "selu"}, **TINY)
    conv_edges = [m for m in edge_modules(model) if isinstance(m, nn.Sequential)]
    assert conv_edges and all(isinstance(m[0], nn.SELU) for m in conv_edges)


def test_inner_group_switches_the_activation_inside_sep_convs() -> None:
    genotype = parse_darts_genotype(PC_DARTS, default_factors=darts_factor_defaults("selu"))
    plain = NetworkCIFAR(genotype, **TINY)
    switched = NetworkCIFAR(genotype, inner_group="activation", **TINY)

    def inner(model: nn.Module) -> set[type]:
        return {type(m.op[3]) for m in model.modules() if isinstance(m, SepConv)}

    assert inner(plain) == {nn.ReLU}
    assert inner(switched) == {nn.SELU}


def test_any_registered_factor_group_is_built_on_its_edges() -> None:
    gate = FactorGroup("test_gate", placement=Placement.OUTPUT, attach_to={"conv"})
    gate.candidate("identity")(lambda channels: nn.Identity())
    gate.candidate("scale")(lambda channels: nn.Conv2d(channels, channels, 1, groups=channels))
    register_group(gate)
    try:
        data = published_genotype("darts_v2").model_dump()
        for node in data["normal"]["nodes"]:
            for edge in node:
                if "activation" in edge["factors"]:
                    edge["factors"]["test_gate"] = "scale"
        model = NetworkCIFAR(Genotype.model_validate(data), **TINY)
        gated = [m for m in model.cells[0].edges if isinstance(m, nn.Sequential)]
        assert len(gated) == 6  # DARTS_V2's normal cell: five sep_conv, one dil_conv
        assert all(
            isinstance(m[-1], nn.Conv2d) and m[-1].groups == m[-1].in_channels for m in gated
        )
        logits, _ = model(torch.randn(2, 3, 16, 16))
        assert logits.shape == (2, 10)
    finally:
        registry.unregister("test_gate")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("op", "sep_conv_7x7"), "unknown op 'sep_conv_7x7'; valid names: none, max_pool_3x3"),
        (("factor", "nope"), "unknown factor group 'nope'; choose one of:"),
        (("choice", "gelu"), "unknown 'activation' choice 'gelu'; valid names: relu, relu6"),
    ],
)
def test_unknown_names_fail_with_one_line_listing_valid_names(
    edit: tuple[str, str], message: str
) -> None:
    data = published_genotype("darts_v2").model_dump()
    edge = data["normal"]["nodes"][1][0]  # node 3, sep_conv_3x3 from node 0
    kind, value = edit
    if kind == "op":
        edge["op"] = value
    elif kind == "factor":
        edge["factors"] = {value: "relu"}
    else:
        edge["factors"]["activation"] = value
    with pytest.raises(GenotypeError) as info:
        NetworkCIFAR(Genotype.model_validate(data), **TINY)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("normal cell, node 3, edge from node 0: ")
    assert message in text


def test_a_missing_factor_choice_is_named() -> None:
    data = published_genotype("darts_v2").model_dump()
    data["normal"]["nodes"][0][0]["factors"] = {}
    with pytest.raises(GenotypeError, match="has no choice for factor 'activation'"):
        NetworkCIFAR(Genotype.model_validate(data), **TINY)


def test_bad_override_is_refused() -> None:
    with pytest.raises(GenotypeError, match="unknown 'activation' choice 'gelu'"):
        NetworkCIFAR(published_genotype("darts_v2"), override={"activation": "gelu"}, **TINY)
    with pytest.raises(GenotypeError, match="is the op group"):
        NetworkCIFAR(published_genotype("darts_v2"), override={"op": "none"}, **TINY)


def test_drop_path_spares_identity_edges_and_keeps_the_expectation() -> None:
    model = NetworkCIFAR(published_genotype("darts_v2"), **TINY)
    normal = model.cells[0]
    ops = [e.op for _, e in published_genotype("darts_v2").normal.edges()]
    assert normal.droppable == tuple(op != "skip_connect" for op in ops)

    x = torch.ones(20000, 1, 1, 1)
    dropped = drop_path(x, 0.25)
    assert dropped.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.02)
    assert drop_path(x, 0.0) is x


def _choice(source: int, op: str) -> dict[str, object]:
    return {"source": source, "op": op, "factors": {"activation": "relu"} if "conv" in op else {}}


#: A cell as the new derivation rules leave them: node 2 takes c_{k-2} twice (GDAS's pairs
#: rule), node 3 has no edge (FairDARTS's threshold rule), node 4 one edge, node 5 two.
SPARSE_CELL = {
    "nodes": [
        [_choice(0, "sep_conv_3x3"), _choice(0, "max_pool_3x3")],
        [],
        [_choice(2, "dil_conv_3x3")],
        [_choice(4, "skip_connect"), _choice(1, "sep_conv_5x5")],
    ],
    "concat": [2, 4, 5],
}


def sparse_genotype() -> Genotype:
    return Genotype.model_validate({"normal": SPARSE_CELL, "reduce": SPARSE_CELL})


@pytest.mark.parametrize("reduction", [False, True])
def test_cell_skips_an_empty_node_and_builds_a_repeated_source_twice(reduction: bool) -> None:
    genotype = sparse_genotype()
    resolved = resolve_genotype(genotype).cell(reduction)
    assert resolved.nodes[1] == ()
    cell = EvalCell(resolved, 6, 6, 4, reduction=reduction, reduction_prev=False).eval()
    assert len(cell.edges) == 5 and cell.multiplier == 3
    first, second = cell.edges[0], cell.edges[1]
    assert {id(p) for p in first.parameters()}.isdisjoint(id(p) for p in second.parameters())

    s0, s1 = torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8)
    with torch.no_grad():
        out = cell(s0, s1)
        # What FairDARTS's DCOCell computes: each node sums its edges; only nodes with
        # edges have a state; the output concatenates the concat nodes.
        states = {0: cell.preprocess0(s0), 1: cell.preprocess1(s1)}
        for module, (target, edge) in zip(cell.edges, genotype.normal.edges(), strict=True):
            h = module(states[edge.source])
            states[target] = states[target] + h if target in states else h
        want = torch.cat([states[n] for n in genotype.normal.concat], dim=1)
    side = 4 if reduction else 8
    assert out.shape == (2, 3 * 4, side, side)
    torch.testing.assert_close(out, want)


def test_network_of_a_sparse_genotype_counts_exports_and_reports(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    genotype = sparse_genotype()
    config = NetworkConfig(channels=4, layers=3, num_classes=5, auxiliary=False)
    model = build_network(genotype, config)
    logits, _ = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 5)
    params, _ = network_params(genotype, config)
    assert params == count_parameters(model)
    cost = network_cost(genotype, config)
    assert cost.params == params and cost.macs > 0

    inference = inference_model(genotype, config)
    images = sample_batch(config, 32)
    assert export_torchscript(inference, images, tmp_path / "model.pt") <= 1e-4

    path = genotype.save(tmp_path / "genotype.json")
    argv = ["info", "--genotype", str(path), "--channels", "4", "--layers", "3", "--classes", "5"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["params"], out["macs"]) == (params, cost.macs)
