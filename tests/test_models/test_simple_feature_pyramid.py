"""SimpleFeaturePyramid's channel LayerNorm is mmpretrain's LayerNorm2d:
same numerics and state-dict keys as the project's former copy."""
import copy

import torch
from mmpretrain.models.utils import LayerNorm2d
from torch import nn

from anaus_mm.models.necks import SimpleFeaturePyramid


class FormerLayerNorm2d(nn.LayerNorm):
    """The project's LayerNorm2d before it was replaced (reference)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _with_former_norms(neck):
    old = copy.deepcopy(neck)
    for stage in old.stages:
        for i, layer in enumerate(stage):
            if isinstance(layer, LayerNorm2d):
                former = FormerLayerNorm2d(layer.normalized_shape,
                                           eps=layer.eps)
                former.load_state_dict(layer.state_dict())
                stage[i] = former
    return old


def test_layernorm2d_matches_former_and_hand_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ln = LayerNorm2d(6)
    nn.init.normal_(ln.weight)
    nn.init.normal_(ln.bias)
    assert ln.eps == 1e-5
    mu = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    want = (x - mu) / torch.sqrt(var + 1e-5) * ln.weight[:, None, None] \
        + ln.bias[:, None, None]
    torch.testing.assert_close(ln(x), want, rtol=1e-5, atol=1e-5)
    former = FormerLayerNorm2d(6)
    former.load_state_dict(ln.state_dict())
    assert torch.equal(ln(x), former(x))  # bit for bit


def test_neck_same_outputs_and_keys_as_former_norm():
    torch.manual_seed(0)
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    norms = [m for m in neck.modules() if isinstance(m, LayerNorm2d)]
    assert len(norms) == 9  # 1 extra in the x4 branch + 2 per level
    for m in norms:
        nn.init.normal_(m.weight)
        nn.init.normal_(m.bias)
    old = _with_former_norms(neck)
    assert list(old.state_dict()) == list(neck.state_dict())
    x = torch.randn(2, 32, 4, 4)
    # the norms agree bit for bit; mmpretrain's returns a contiguous map, so
    # the next conv may sum in another order (float32 rounding only)
    for a, b in zip(neck(x), old(x)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # a state dict written with the former class loads strictly
    fresh = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    fresh.load_state_dict(old.state_dict(), strict=True)
    for a, b in zip(fresh(x), neck(x)):
        assert torch.equal(a, b)
