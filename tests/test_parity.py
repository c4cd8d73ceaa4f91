"""Parity with PaddleClas's own model run under Paddle (the shared oracle), see hgnet_backbones.parity."""
import pytest
import torch

from hgnet_backbones import HGNetV2
from hgnet_backbones.parity import oracle_errors

# float64 exposes only the port's own errors (an exact port gets ~1e-10, a structural slip >= 1e-3);
# float32 rounding alone reaches 1.2e-4 on B4's stage 4.
BOUNDS = {torch.float64: 1e-7, torch.float32: 1e-3}


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32], ids=['float64', 'float32'])
@pytest.mark.parametrize('arch', ['B0', 'B4'])
def test_backbone_maps_match_paddle_with_pdparams_through_init_cfg(paddle_fixtures, arch, dtype):
    model = HGNetV2(arch=arch, out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / f'PPHGNetV2_{arch}.pdparams')))
    model.init_weights()
    model = model.to(dtype).eval()
    errors = oracle_errors(model, paddle_fixtures / f'PPHGNetV2_{arch}_io.npz')
    assert set(errors) == {'x224', 'x250x330'}
    for tag, maps in errors.items():
        assert set(maps) == {'stem', 'stage1', 'stage2', 'stage3', 'stage4'}
        for name, err in maps.items():
            assert err <= BOUNDS[dtype], f'{arch} {tag} {name}: {err:.3e}'
