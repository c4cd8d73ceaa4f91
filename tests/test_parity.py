"""Parity with PaddleClas's own model run under Paddle (the shared oracle), see parity."""
import pytest
import torch

from hgnet_backbones import HGNetV2
from parity import oracle_errors

# float64 exposes only the port's own errors (an exact port gets ~1e-10, a structural slip >= 1e-3);
# float32 rounding alone reaches 1.2e-4 on B4's stage 4.
BOUNDS = {torch.float64: 1e-7, torch.float32: 1e-3}
# B4 in float64 takes 20-60 s on a CPU: the fast loop keeps B0's float64 parity and B4's float32 one
ARCH_DTYPE = [pytest.param(arch, dtype, id=f'{arch}-{name}',
                           marks=[pytest.mark.slow] if (arch, dtype) == ('B4', torch.float64) else [])
              for arch in ('B0', 'B4')
              for dtype, name in ((torch.float64, 'float64'), (torch.float32, 'float32'))]


@pytest.mark.parametrize('arch,dtype', ARCH_DTYPE)
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


def _classifier(arch):
    from pathlib import Path

    pytest.importorskip('mmpretrain', reason='the classifier needs mmpretrain (the oldest-stack run '
                        'checks the backbone alone)')
    from hgnet_backbones.apis import build_model, load_config
    config = Path(__file__).resolve().parents[1] / 'configs/hgnetv2' / \
        f'hgnetv2-{arch.lower()}_8xb128_in1k.py'
    return build_model(load_config(str(config)))


def _check_logits(model, fixtures, arch, dtype):
    model = model.to(dtype).eval()
    errors = oracle_errors(model, fixtures / f'PPHGNetV2_{arch}_io.npz')
    assert set(errors) == {'x224', 'x250x330'}
    for tag, maps in errors.items():
        assert set(maps) == {'stem', 'stage4', 'logits'}
        for name, err in maps.items():
            assert err <= BOUNDS[dtype], f'{arch} {tag} {name}: {err:.3e}'


@pytest.mark.parametrize('arch,dtype', ARCH_DTYPE)
def test_classifier_logits_match_paddle_with_converted_checkpoint(paddle_fixtures, arch, dtype,
                                                                  tmp_path):
    from mmengine.runner import load_checkpoint

    from hgnet_backbones.weights import convert_checkpoint_file
    converted = tmp_path / f'{arch}.pth'
    convert_checkpoint_file(str(paddle_fixtures / f'PPHGNetV2_{arch}.pdparams'), str(converted))
    assert set(torch.load(converted, weights_only=True)) == {'state_dict', 'meta'}
    model = _classifier(arch)
    load_checkpoint(model, str(converted), strict=True)
    _check_logits(model, paddle_fixtures, arch, dtype)


@pytest.mark.parametrize('arch,dtype', ARCH_DTYPE)
@pytest.mark.parametrize('how', ['load_from', 'init_cfg'])
def test_classifier_logits_match_paddle_with_pdparams_in_config(paddle_fixtures, arch, dtype, how):
    from mmengine.runner import load_checkpoint
    pdparams = str(paddle_fixtures / f'PPHGNetV2_{arch}.pdparams')
    model = _classifier(arch)
    if how == 'load_from':  # what the Runner does with cfg.load_from
        load_checkpoint(model, pdparams, strict=True)
    else:
        model.init_cfg = dict(type='Pretrained', checkpoint=pdparams)
        model.init_weights()
    _check_logits(model, paddle_fixtures, arch, dtype)


@pytest.mark.parametrize('out_stride', [32, 16, 8])
@pytest.mark.parametrize('arch', ['B0', 'B4'])
def test_dilated_backbone_maps_subsampled_equal_paddles_stride_32_maps(paddle_fixtures, arch,
                                                                       out_stride):
    """A stride-2 conv's output is its stride-1 output at even positions; a conv after it, dilated 2x,
    computes at those positions what it computed on the strided map (zero padding included, as "same"
    padding doubles with the dilation). So every stage map of a dilated backbone, taken every
    ``stride / out_stride`` pixels, must be Paddle's undilated map, whatever the input size."""
    import numpy as np

    from hgnet_backbones.analysis import relative_error
    model = HGNetV2(arch=arch, out_indices=(0, 1, 2, 3), out_stride=out_stride, init_cfg=dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / f'PPHGNetV2_{arch}.pdparams')))
    model.init_weights()  # strict: every key present, same shapes
    model = model.double().eval()
    io = np.load(paddle_fixtures / f'PPHGNetV2_{arch}_io.npz')
    x = torch.from_numpy(io['x250x330_input']).double()  # 250 x 330: not a multiple of 32
    with torch.no_grad():
        outs = model(x)
    for i, (out, stride) in enumerate(zip(outs, (4, 8, 16, 32))):
        step = stride // min(stride, out_stride)
        assert tuple(out.shape[2:]) == (-(-250 // (stride // step)), -(-330 // (stride // step)))
        err = relative_error(out[..., ::step, ::step], io[f'x250x330_stage{i + 1}'])
        assert err <= BOUNDS[torch.float64], f'{arch} out_stride={out_stride} stage{i + 1}: {err:.3e}'
