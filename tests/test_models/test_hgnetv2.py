import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from hgnet_backbones import HGNetV2
from hgnet_backbones.models.hgnetv2 import ConvBNAct, LearnableAffineBlock

# PaddleClas's trainable parameters without the head (last_conv, lab, fc), in millions.
BACKBONE_PARAMS_M = {'B0': 1.85, 'B1': 2.20, 'B2': 6.03, 'B3': 10.05, 'B4': 13.55, 'B5': 33.33,
                     'B6': 69.01}


@pytest.mark.parametrize('arch', sorted(BACKBONE_PARAMS_M))
def test_parameter_count_matches_paddleclas(arch):
    with torch.device('meta'):
        model = HGNetV2(arch=arch)
    n = sum(p.numel() for p in model.parameters())
    assert round(n / 1e6, 2) == BACKBONE_PARAMS_M[arch]


@pytest.mark.parametrize('arch,channels,use_lab', [
    ('B0', (64, 256, 512, 1024), True),
    ('B4', (128, 512, 1024, 2048), False),
    ('B6', (192, 512, 1024, 2048), False),
])
def test_outputs_have_stage_channels_and_strides(arch, channels, use_lab):
    model = HGNetV2(arch=arch, out_indices=(0, 1, 2, 3)).eval()
    assert model.out_channels == channels
    assert model.use_lab == use_lab
    assert any(isinstance(m, LearnableAffineBlock) for m in model.modules()) == use_lab
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 96, 128))
    assert [o.shape[1] for o in outs] == list(channels)
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4)]
    assert [f['reduction'] for f in model.feature_info] == [4, 8, 16, 32]


def test_out_indices_select_stages_in_order():
    model = HGNetV2(arch='B0', out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [256, 1024]
    assert model.out_channels == (256, 1024)


def test_arch_name_is_case_insensitive_and_dict_arch_equals_builtin():
    custom = copy.deepcopy(HGNetV2.arch_zoo['B2'])
    a, b = HGNetV2(arch='b2'), HGNetV2(arch=custom)
    assert a.arch_name == 'B2' and b.arch_name == 'custom'
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}


def test_use_lab_overrides_arch_default():
    model = HGNetV2(arch='B4', use_lab=True)
    assert any(isinstance(m, LearnableAffineBlock) for m in model.modules())


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='B9'), "Unknown HGNetV2 arch 'B9'"),
    (dict(arch=dict(stem_channels=(16, 16))), r"missing \['stages', 'use_lab'\]"),
    (dict(out_indices=(0, 4)), 'out_indices must be stage indices in 0..3'),
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=5), 'frozen_stages must be an int in -1..4, got 5'),
    (dict(frozen_stages=-2), 'frozen_stages'),
    (dict(out_stride=4), 'out_stride must be 32, 16 or 8, got 4'),
    # maps come out in stage order, so any other order would disagree with out_channels
    (dict(out_indices=(3, 1)), r'out_indices must increase without repeats .* got \(3, 1\), did you '
                               r'mean \(1, 3\)'),
    (dict(out_indices=(0, 0)), r'out_indices must increase without repeats .* got \(0, 0\)'),
    (dict(out_indices=(1.0, )), 'out_indices must be stage indices'),
    (dict(use_lab='False'), "use_lab must be True, False or None .*, got 'False'"),
    (dict(norm_eval='yes'), "norm_eval must be True or False, got 'yes'"),
    (dict(norm_cfg=None), r"norm_cfg must be a dict with a type, such as dict\(type='BN'\); got None"),
    (dict(act_cfg=None), r"act_cfg must be a dict with a type, such as dict\(type='ReLU'\); got None"),
    (dict(act_cfg=dict(inplace=True)), 'act_cfg must be a dict with a type'),
    (dict(in_channels=0), 'in_channels must be a positive int, got 0'),
    (dict(arch=dict(stem_channels=16, stages=[], use_lab=False)),
     'stem_channels must be two positive ints'),
    (dict(arch=dict(stem_channels=(16, 16), stages=[(16, 16, 64)] * 4, use_lab=False)),
     'needs 4 stage rows of'),
    (dict(arch=dict(stem_channels=(16, 16), use_lab='no', stages=HGNetV2.arch_zoo['B0']['stages'])),
     "use_lab must be True or False, got 'no'"),
    (dict(arch=dict(HGNetV2.arch_zoo['B0'], stem_channels=(16, 32))),
     'stage 0: in_channels=16 but the stem gives 32'),
    (dict(arch=dict(HGNetV2.arch_zoo['B0'], stages=(
        (16, 16, 64, 1, False, False, 3, 3), (64, 32, 256, 1, True, False, 3, 3),
        (256, 64, 512, 2, True, True, 4, 3), (512, 128, 1024, 1, True, True, 5, 3)))),
     r"stage 2: \['kernel_size'\] invalid"),
    (dict(arch=dict(HGNetV2.arch_zoo['B0'], stages=(
        (16, 16, 64, 1, False, False, 3, 3), (64, 32, 256, 0, True, False, 3, 3),
        (256, 64, 512, 2, True, True, 5, 3), (512, 128, 1024, 1, 'yes', True, 5, 3)))),
     r"stage 1: \['num_blocks'\] invalid"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HGNetV2(**kwargs)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 2, 4])
def test_frozen_stages_freeze_stem_and_first_stages(frozen_stages):
    model = HGNetV2(arch='B0', frozen_stages=frozen_stages)
    model.train()
    frozen = [model.stem, *model.stages[:frozen_stages]] if frozen_stages >= 0 else []
    trainable = model.stages[max(frozen_stages, 0):] if frozen_stages >= 0 else \
        [model.stem, *model.stages]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for module in trainable:
        assert module.training
        assert all(p.requires_grad for p in module.parameters())


def test_frozen_stem_gets_no_gradient_and_keeps_running_stats():
    model = HGNetV2(arch='B0', frozen_stages=1)
    model.train()
    before = model.stem.stem1.bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))[0].sum().backward()
    assert all(p.grad is None for p in model.stem.parameters())
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert model.stages[1].blocks[0].layers[0].conv.weight.grad is not None
    assert torch.equal(model.stem.stem1.bn.running_mean, before)


def test_norm_eval_keeps_batchnorm_in_eval_mode_and_stats_unchanged():
    model = HGNetV2(arch='B0', norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    before = [m.running_mean.clone() for m in bns]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(m.running_mean, b) for m, b in zip(bns, before))
    model_no = HGNetV2(arch='B0', norm_eval=False)
    model_no.train()
    assert all(m.training for m in model_no.modules() if isinstance(m, _BatchNorm))


def test_with_cp_gives_same_outputs_and_gradients():
    torch.manual_seed(0)
    ref = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3)).double()
    ckpt = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), with_cp=True).double()
    ckpt.load_state_dict(ref.state_dict())
    ref.train()
    ckpt.train()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    outs_ref, outs_cp = ref(x), ckpt(x)
    sum(o.square().mean() for o in outs_ref).backward()
    sum(o.square().mean() for o in outs_cp).backward()
    for a, b in zip(outs_ref, outs_cp):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    grads_ref = dict((n, p.grad) for n, p in ref.named_parameters())
    for n, p in ckpt.named_parameters():
        torch.testing.assert_close(p.grad, grads_ref[n], rtol=1e-9, atol=1e-12, msg=n)


def test_with_cp_recomputes_stem_downsample_and_blocks_in_backward():
    model = HGNetV2(arch='B0', with_cp=True)
    model.train()
    calls = []
    for module in (model.stem.stem1, model.stages[2].downsample, model.stages[2].blocks[0].layers[0]):
        module.register_forward_pre_hook(lambda m, a: calls.append(m))
    model(torch.randn(1, 3, 64, 64))[0].sum().backward()
    assert len(calls) == 6  # each ran in forward, then again in backward
    calls.clear()
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert len(calls) == 3


def test_default_init_is_not_pretrained_and_init_weights_runs_kaiming():
    torch.manual_seed(0)
    model = HGNetV2(arch='B0')
    w = model.stages[1].blocks[0].layers[0].conv.weight
    w.data.zero_()
    model.init_weights()
    fan_in = w[0].numel()
    assert abs(w.std().item() - (2 / fan_in) ** 0.5) < 0.2 * (2 / fan_in) ** 0.5


def _fixture_backbone(paddle_fixtures, arch, dtype):
    model = HGNetV2(arch=arch, out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / f'PPHGNetV2_{arch}.pdparams')))
    model.init_weights()
    return model.to(dtype).eval()


@pytest.mark.parametrize('dtype,bound', [(torch.float64, 1e-7), (torch.float32, 1e-3)],
                         ids=['float64', 'float32'])
@pytest.mark.parametrize('arch', ['B0', 'B4'])
@pytest.mark.parametrize('channels_last', [False, True], ids=['nchw', 'channels_last'])
def test_switch_to_deploy_folds_batchnorm_and_keeps_outputs(paddle_fixtures, arch, dtype, bound,
                                                            channels_last):
    ref = _fixture_backbone(paddle_fixtures, arch, dtype)
    fused = copy.deepcopy(ref)
    fused.switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
    assert all(m.conv.bias is not None for m in fused.modules() if isinstance(m, ConvBNAct))
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(0)).to(dtype)
    with torch.no_grad():
        outs_ref = ref(x)
        if channels_last:  # the benchmark's faster eager path
            fused = fused.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        outs_fused = fused(x)
    for i, (a, b) in enumerate(zip(outs_ref, outs_fused)):
        assert b.is_contiguous(memory_format=torch.channels_last) == channels_last
        err = float((a - b).abs().max() / a.abs().max())
        assert err <= bound, f'{arch} stage {i + 1}: {err:.3e}'


def test_switch_to_deploy_folds_positive_lab_scales_only(paddle_fixtures):
    model = _fixture_backbone(paddle_fixtures, 'B0', torch.float64)
    scales = {n: m.scale.item() for n, m in model.named_modules() if isinstance(m, LearnableAffineBlock)}
    model.switch_to_deploy()
    left = {n for n, m in model.named_modules() if isinstance(m, LearnableAffineBlock) and
            m.scale is not None}
    # the fixture's random weights have LABs of both signs; s * relu(z) == relu(s * z) only for s > 0
    assert left == {n for n, s in scales.items() if s <= 0}
    assert 0 < len(left) < len(scales)
    params = dict(model.named_parameters())
    assert 'stem.stem1.conv.bias' in params and 'stem.stem1.lab.bias' in params


def test_switch_to_deploy_keeps_norms_without_running_stats():
    torch.manual_seed(0)
    model = HGNetV2(arch='B0', norm_cfg=dict(type='GN', num_groups=4)).double().eval()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)[0]
        model.switch_to_deploy()
        after = model(x)[0]
    assert model.stem.stem1.bn is not None and model.stem.stem1.conv.bias is None
    torch.testing.assert_close(after, before, rtol=0, atol=0)


@pytest.mark.parametrize('out_stride', [32, 16, 8])
def test_out_stride_caps_map_strides_for_sizes_not_divisible_by_32(out_stride):
    model = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), out_stride=out_stride).eval()
    strides = [min(s, out_stride) for s in (4, 8, 16, 32)]
    assert [f['reduction'] for f in model.feature_info] == strides
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 100, 75))
    # every stride-2 conv pads (k - 1) // 2, so a map is ceil(size / stride)
    assert [tuple(o.shape[2:]) for o in outs] == [(-(-100 // s), -(-75 // s)) for s in strides]


@pytest.mark.parametrize('out_stride', [16, 8])
def test_out_stride_keeps_parameters_and_changes_only_strides_and_dilations(out_stride):
    ref, model = HGNetV2(arch='B0'), HGNetV2(arch='B0', out_stride=out_stride)
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    assert all(c.dilation == (1, 1) for c in ref.modules() if isinstance(c, torch.nn.Conv2d))
    # the downsample that lost its stride keeps the dilation before it; the convs after it double it
    undilated = {16: 3, 8: 2}[out_stride]
    for i, stage in enumerate(model.stages):
        dilation = 2 ** max(0, i - undilated + 1)
        if stage.downsample is not None:
            assert stage.downsample.conv.stride == ((1, 1) if i >= undilated else (2, 2))
            assert stage.downsample.conv.dilation == (max(1, dilation // 2), ) * 2
        kernels = [c for c in stage.blocks.modules()
                   if isinstance(c, torch.nn.Conv2d) and c.kernel_size[0] > 1]
        assert kernels and all(c.dilation == (dilation, dilation) for c in kernels)
        assert all(c.padding == (c.kernel_size[0] // 2 * dilation, ) * 2 for c in kernels)


def test_stem_pool_is_paddles_same_max_pool_whose_padding_never_wins():
    from hgnet_backbones.models.fast_paths import same_max_pool_2x2
    x = -1 - torch.rand(2, 3, 5, 6, dtype=torch.float64)  # all negative: zero padding would win
    out = same_max_pool_2x2(x)
    assert out.shape == x.shape
    for i in range(5):
        for j in range(6):
            window = x[:, :, i:i + 2, j:j + 2]  # cut at the bottom and right edges
            torch.testing.assert_close(out[:, :, i, j], window.amax(dim=(2, 3)), rtol=0, atol=0)


def test_lab_and_relu_work_in_place_only_without_autograd():
    torch.manual_seed(0)
    model = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3)).double()
    for m in model.modules():
        if isinstance(m, LearnableAffineBlock):
            m.scale.data.fill_(-0.7)
            m.bias.data.fill_(0.3)
    model.eval()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        fast = model(x)
    slow = model(x)  # autograd on: no tensor autograd needs is overwritten
    sum(o.sum() for o in slow).backward()
    for a, b in zip(fast, slow):  # the same up to rounding (addcmul vs mul_ then add_)
        assert float((a - b.detach()).abs().max() / a.abs().max()) <= 1e-12
    assert all(m.scale.grad is not None for m in model.modules() if isinstance(m, LearnableAffineBlock))


@pytest.mark.parametrize('act,function,in_place', [
    ('ReLU', torch.nn.functional.relu, True),
    ('SiLU', torch.nn.functional.silu, True),
    ('GELU', torch.nn.functional.gelu, False),  # nn.GELU and mmcv's Clamp take no inplace argument
    ('Clamp', lambda t: t.clamp(-1.0, 1.0), False),
])
def test_activations_run_in_place_where_their_class_allows(act, function, in_place):
    torch.manual_seed(0)
    model = HGNetV2(arch='B0', act_cfg=dict(type=act))
    seen = {}

    def record(module, args):
        seen.update(input=args[0], before=args[0].detach().clone())

    model.stem.stem1.act.register_forward_pre_hook(record)
    x = torch.randn(2, 3, 64, 64)
    out = model(x)[0]  # training mode, autograd on
    out.sum().backward()  # autograd still finds what it saved
    # in place: the activation's input tensor now holds its output; else it is left as it was
    expected = function(seen['before']) if in_place else seen['before']
    torch.testing.assert_close(seen['input'].detach(), expected, rtol=0, atol=0)
    if in_place:  # the same outputs and gradients as the activation out of place
        plain = HGNetV2(arch='B0', act_cfg=dict(type=act, inplace=False))
        plain.load_state_dict(model.state_dict())
        torch.manual_seed(0)
        model.zero_grad()
        outs = [m(x)[0] for m in (model, plain)]
        torch.testing.assert_close(outs[0], outs[1], rtol=1e-6, atol=1e-6)
        for o in outs:
            o.sum().backward()
        for (name, a), b in zip(model.named_parameters(), plain.parameters()):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=name)


def _random_norms(model, seed=0):
    """BatchNorm statistics and affines far from the identity, so that folding them changes values."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return model


@pytest.mark.slow
def test_frozen_batchnorm_folds_into_the_conv_with_the_plain_float64_gradients(monkeypatch):
    torch.manual_seed(0)
    model = _random_norms(HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), norm_eval=True,
                                  frozen_stages=0).double()).train()
    plain = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    weights = [torch.randn(o.shape, dtype=torch.float64) for o in model(x)]
    bn_calls = []
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.register_forward_hook(lambda *_: bn_calls.append(1))

    def step(net):
        inp = x.clone().requires_grad_()
        outs = net(inp)
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        return outs, inp.grad, {n: p.grad for n, p in net.named_parameters() if p.requires_grad}

    outs, x_grad, grads = step(model)
    assert not bn_calls  # every frozen BatchNorm ran inside its conv
    from hgnet_backbones.models import fast_paths
    monkeypatch.setattr(fast_paths, '_frozen_bn', lambda conv, bn: False)  # the plain conv -> BatchNorm
    ref_outs, ref_x_grad, ref_grads = step(plain)
    assert grads.keys() == ref_grads.keys() and any('bn.weight' in n for n in grads)
    for name, a, b in [('input', x_grad, ref_x_grad), *[(f'map {i}', o, r) for i, (o, r) in
                                                         enumerate(zip(outs, ref_outs))],
                       *[(n, grads[n], ref_grads[n]) for n in ref_grads]]:
        err = float((a - b).detach().abs().max() / b.abs().max())
        assert err <= 1e-10, f'{name}: {err:.1e}'


def _deploy_model(arch='B0'):
    torch.manual_seed(0)
    model = _random_norms(HGNetV2(arch=arch, out_indices=(0, 1, 2, 3))).eval()
    model.switch_to_deploy()
    return model


@pytest.mark.parametrize('channels_last', [False, True], ids=['nchw', 'channels_last'])
def test_deploy_mode_prepacked_convs_equal_the_plain_convs_at_any_size(monkeypatch, channels_last):
    from hgnet_backbones.models import fast_paths
    if not fast_paths.MKLDNN_CONV:
        pytest.skip('this torch has no oneDNN convolution with prepacked weights')
    model = _deploy_model()
    convs = [m.conv for m in model.modules() if isinstance(m, ConvBNAct)]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    inputs = [torch.randn(shape).contiguous(memory_format=fmt) for shape in
              ((1, 3, 96, 128), (2, 3, 70, 50))]
    with torch.no_grad():
        packed = [model(x) for x in inputs]
    assert all(conv in fast_paths.PACKED_WEIGHTS for conv in convs)
    monkeypatch.setattr(fast_paths, 'prepacked_conv_applies', lambda conv, x: False)
    with torch.no_grad():
        plain = [model(x) for x in inputs]
    for outs, refs in zip(packed, plain):
        for a, b in zip(outs, refs):
            assert a.is_contiguous(memory_format=fmt)  # the maps come back in the input's layout
            assert float((a - b).abs().max() / b.abs().max()) <= 1e-5


def test_deploy_mode_prepacked_convs_follow_new_weights_and_skip_autograd(monkeypatch):
    from hgnet_backbones.models import fast_paths
    if not fast_paths.MKLDNN_CONV:
        pytest.skip('this torch has no oneDNN convolution with prepacked weights')
    model, other = _deploy_model(), _deploy_model()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model(x)  # packs the first weights
        model.load_state_dict(other.state_dict())  # in-place copies: the packed ones are stale
        outs = model(x)
        refs = other(x)
    for a, b in zip(outs, refs):
        assert float((a - b).abs().max() / b.abs().max()) <= 1e-5
    fast_paths.PACKED_WEIGHTS.clear()
    copy.deepcopy(model)(x)[0].sum().backward()  # autograd on: plain convs, nothing packed
    assert len(fast_paths.PACKED_WEIGHTS) == 0


def test_stem_pool_gradients_equal_the_padded_max_of_shifted_views_at_ties():
    from hgnet_backbones.models.fast_paths import same_max_pool_2x2

    def padded(x):  # the plain computation: pad with -inf, then the max of shifted views
        x = torch.nn.functional.pad(x, (0, 1, 0, 1), value=float('-inf'))
        x = torch.maximum(x[..., :, :-1], x[..., :, 1:])
        return torch.maximum(x[..., :-1, :], x[..., 1:, :])

    # few distinct values: ties everywhere, where the maxima share the gradient
    x = torch.randint(0, 3, (2, 3, 7, 9), generator=torch.Generator().manual_seed(0)).double()
    grad = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    grads = []
    for fn in (same_max_pool_2x2, padded):
        inp = x.clone().requires_grad_()
        out = fn(inp)
        out.backward(grad)
        grads.append((out, inp.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=0, atol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=0, atol=0)


def test_cpu_channels_last_compute_gives_the_nchw_float64_gradients(monkeypatch):
    from hgnet_backbones.models import fast_paths
    torch.manual_seed(0)
    model = _random_norms(HGNetV2(arch='B0', out_indices=(0, 1, 2, 3)).double()).train()
    plain = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    weights = [torch.randn(o.shape, dtype=torch.float64) for o in model(x)]

    def step(net):
        inp = x.clone().requires_grad_()
        outs = net(inp)
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        return outs, inp.grad, {n: p.grad for n, p in net.named_parameters()}

    # on a CPU the float32 / bfloat16 backbone computes in channels_last; here in float64 too
    monkeypatch.setattr(fast_paths, 'ONEDNN_DTYPES', (torch.float64, ))
    outs, x_grad, grads = step(model)
    assert all(o.is_contiguous() for o in outs)  # returned in the input's layout
    monkeypatch.setattr(fast_paths, 'ONEDNN_DTYPES', ())
    ref_outs, ref_x_grad, ref_grads = step(plain)
    for a, b in zip(outs, ref_outs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(x_grad, ref_x_grad, rtol=1e-9, atol=1e-12)
    # a LAB bias before a BatchNorm with batch statistics has a zero gradient (rounding): measured
    # against the largest gradient
    scale = max(float(g.abs().max()) for g in ref_grads.values())
    for n in ref_grads:
        err = float((grads[n] - ref_grads[n]).abs().max())
        assert err <= 1e-10 * scale, f'{n}: {err:.1e} (largest gradient {scale:.1e})'
