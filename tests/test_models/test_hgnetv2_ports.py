"""The RT-DETR / D-FINE argument names of the backbone, and the zero-padded stem pool of timm, D-FINE
and RT-DETR's PyTorch port (docs/other_implementations.md)."""
import pytest
import torch
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from hgnet_backbones import HGNetV2
from hgnet_backbones.models import HGNetv2
from hgnet_backbones.analysis import relative_error

FROZEN_BN = dict(type='BN', requires_grad=False)

# (a backbone dict as RT-DETR / D-FINE configs write it, the same settings in our names)
PORT_CONFIGS = {
    # D-FINE-L/X (configs/dfine/*_l_*.yml): the stem and every norm frozen
    'dfine_l': (dict(type='HGNetv2', name='B0', return_idx=[1, 2, 3], freeze_stem_only=True,
                     freeze_at=0, freeze_norm=True, use_lab=True),
                dict(type='HGNetV2', arch='B0', out_indices=(1, 2, 3), frozen_stages=0,
                     norm_eval=True, norm_cfg=FROZEN_BN)),
    # D-FINE-N/S/M: nothing frozen
    'dfine_n': (dict(type='HGNetv2', name='B0', return_idx=[2, 3], freeze_at=-1, freeze_norm=False,
                     use_lab=True),
                dict(type='HGNetV2', arch='B0', out_indices=(2, 3), frozen_stages=-1)),
    # D-FINE / PaddleDetection without freeze_stem_only freeze stages 1..freeze_at+1 too
    'dfine_stages': (dict(type='HGNetv2', name='B0', freeze_stem_only=False, freeze_at=1),
                     dict(type='HGNetV2', arch='B0', frozen_stages=2)),
    # RT-DETRv2's PyTorch port (rtdetrv2_hgnetv2_l_6x_coco.yml, freeze_at raised to 2): its
    # freeze_at=k freezes the stem and stages 1..k
    'rtdetr_l': (dict(type='HGNetv2', name='L', return_idx=[1, 2, 3], freeze_at=2,
                      freeze_norm=True),
                 dict(type='HGNetV2', arch='B4', out_indices=(1, 2, 3), frozen_stages=2,
                      norm_eval=True, norm_cfg=FROZEN_BN)),
    # PaddleDetection's RT-DETR (rtdetr_hgnetv2_l_6x_coco.yml): `arch`, D-FINE's freezing
    'paddledet_l': (dict(type='HGNetV2', arch='L', return_idx=[1, 2, 3], freeze_stem_only=True,
                         freeze_at=0, freeze_norm=True, use_lab=False),
                    dict(type='HGNetV2', arch='B4', out_indices=(1, 2, 3), frozen_stages=0,
                         norm_eval=True, norm_cfg=FROZEN_BN, use_lab=False)),
}


@pytest.mark.parametrize('case', sorted(PORT_CONFIGS))
def test_port_backbone_dict_builds_in_mmdet_as_its_native_settings(case):
    """Same modules and names, same trainable parameters, same modes after train(), same outputs in
    training and in eval mode with the same weights."""
    MODELS = pytest.importorskip('mmdet.registry').MODELS
    port_cfg, native_cfg = PORT_CONFIGS[case]
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        port, native = MODELS.build(port_cfg), MODELS.build(native_cfg)
    # the ports' names build their spelling of the class, our names the class itself
    assert type(port) is HGNetv2 and type(native) is HGNetV2
    port.load_state_dict(native.state_dict())
    assert {k: p.requires_grad for k, p in port.named_parameters()} == \
        {k: p.requires_grad for k, p in native.named_parameters()}
    port.train(), native.train()
    assert {k: m.training for k, m in port.named_modules()} == \
        {k: m.training for k, m in native.named_modules()}
    x = torch.randn(2, 3, 64, 64)
    for model_mode in ('train', 'eval'):
        port.train(model_mode == 'train'), native.train(model_mode == 'train')
        with torch.no_grad():
            outs, expected = port(x), native(x)
        assert len(outs) == len(expected) == len(native.out_indices)
        for a, b in zip(outs, expected):
            assert torch.equal(a, b), model_mode


@pytest.mark.parametrize('type_name', ['HGNetV2', 'HGNetv2', 'PPHGNetV2'])
def test_each_spelling_of_the_class_finds_the_port_arguments(type_name):
    """RT-DETR / D-FINE configs write ``HGNetv2``, PaddleDetection's ``PPHGNetV2`` (and ours, as
    PaddleDetection's configs spell it, ``HGNetV2``); each takes ``name='L'`` as B4."""
    MODELS = pytest.importorskip('mmdet.registry').MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(dict(type=type_name, name='L', return_idx=[3]))
    assert isinstance(model, HGNetv2) and model.arch_name == 'B4' and model.out_indices == (3, )


def test_rtdetr_arch_aliases_are_the_stage_tables_of_b4_b5_b6():
    for alias, arch in (('L', 'B4'), ('x', 'B5'), ('H', 'B6')):
        assert HGNetV2.parse_arch(alias) == (arch, HGNetV2.arch_zoo[arch])
    with pytest.raises(ValueError, match=r"Unknown HGNetV2 arch 'M'.*L, X, H"):
        HGNetV2(arch='M')


def test_freeze_norm_freezes_every_norms_statistics_and_affine_parameters():
    """As D-FINE's FrozenBatchNorm2d: no norm parameter trains, no running statistic moves."""
    model = HGNetV2(name='B0', freeze_norm=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(p.requires_grad for m in norms for p in m.parameters())
    assert not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, norms))
    assert any(p.requires_grad for n, p in model.named_parameters() if '.lab.' in n)  # LABs still train


@pytest.mark.parametrize('port_name,our_name', [
    ('name', 'arch'), ('return_idx', 'out_indices'), ('freeze_at', 'frozen_stages'),
    ('freeze_stem_only', 'frozen_stages'), ('freeze_norm', 'norm_eval'), ('pretrained', 'init_cfg')])
def test_both_names_for_one_setting_are_refused(port_name, our_name):
    values = dict(name='B0', arch='B0', return_idx=[1], out_indices=(1, ), freeze_at=0,
                  frozen_stages=0, freeze_stem_only=True, freeze_norm=True, norm_eval=True,
                  pretrained=False, init_cfg=None)
    with pytest.raises(ValueError, match=f'{port_name}=.* and {our_name}=.* set the same thing'):
        HGNetV2(**{port_name: values[port_name], our_name: values[our_name]})


def test_positional_arch_beside_name_is_refused_too():
    with pytest.raises(ValueError, match="name='B4' .* and arch='B0'"):
        HGNetV2('B0', name='B4')


@pytest.mark.parametrize('kwargs,match', [
    (dict(name='B7'), r"name must be one of .*'B6'\] \(D-FINE\) or L \(= B4\), X \(= B5\), H \(= B6\)"),
    (dict(freeze_at='0'), "freeze_at must be an int"),
    (dict(freeze_stem_only=1), 'freeze_stem_only must be True or False'),
    (dict(freeze_norm='yes'), 'freeze_norm must be True or False'),
    (dict(pretrained=1), 'pretrained must be True, False or a checkpoint'),
    (dict(return_idx=[1, 4]), r"out_indices must be .*got \(1, 4\) \(translated from the RT-DETR/D-FINE "
                              r"arguments \{'return_idx': \[1, 4\]\}\)"),
    (dict(freeze_norm=True, norm_cfg=dict(type='BN', requires_grad=True)),
     'freeze_norm=True freezes .* but norm_cfg=.* trains them'),
])
def test_bad_port_arguments_raise_value_error_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HGNetV2(**kwargs)


def test_freeze_norm_keeps_the_norm_type_given_in_norm_cfg():
    model = HGNetV2(arch='B0', freeze_norm=True, norm_cfg=dict(type='GN', num_groups=4))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and not any(p.requires_grad for m in norms for p in m.parameters())


@pytest.mark.parametrize('kwargs,checkpoint', [
    (dict(name='B4', pretrained=True), 'PPHGNetV2_B4_stage1'),  # D-FINE's release
    (dict(name='x', pretrained=True), 'PPHGNetV2_X_ssld_pretrained_from_paddle'),  # RT-DETR's
    (dict(arch='B2', pretrained=True), 'ssld_stage1'),  # no port name: PaddleClas's stage 1
    (dict(name='B0', pretrained='my/b0.pth'), 'my/b0.pth'),
])
def test_pretrained_loads_what_that_port_loads(kwargs, checkpoint):
    """The weights themselves load through these names in tests/test_checkpoint_ports.py."""
    model = HGNetV2(**kwargs)
    assert model.init_cfg == dict(type='Pretrained', checkpoint=checkpoint)


def test_pretrained_false_keeps_the_default_initialisation():
    assert HGNetV2(name='B0', pretrained=False).init_cfg == HGNetV2(arch='B0').init_cfg


def _random_timm_b0():
    """timm's hgnetv2_b0 with random weights whose stem LAB makes values negative (biases < 0), where
    the two pools differ, and non-trivial BatchNorm statistics."""
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    ref = timm.create_model('hgnetv2_b0', pretrained=False)
    with torch.no_grad():
        for name, param in ref.named_parameters():
            if name.endswith('lab.scale'):
                param.uniform_(0.5, 1.5)
            elif name.endswith('lab.bias'):
                param.uniform_(-1.0, 0.0)
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return ref.double().eval()


def _backbone_from(ref, tmp_path, **kwargs):
    path = tmp_path / 'hgnetv2_b0.pth'
    torch.save(ref.state_dict(), path)
    model = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=str(path)), **kwargs)
    model.init_weights()
    return model.double().eval()


@pytest.mark.slow
def test_zero_stem_pool_equals_timm_hgnetv2_b0_in_float64(tmp_path):
    ref = _random_timm_b0()
    zero = _backbone_from(ref, tmp_path, stem_pool='zero')
    paddle = _backbone_from(ref, tmp_path)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 70, 90, dtype=torch.float64)  # sides not multiples of 32
    with torch.no_grad():
        expected = {'stem': ref.stem(x)}
        expected.update(zip(('stage1', 'stage2', 'stage3', 'stage4'),
                            ref.forward_intermediates(x, intermediates_only=True)))
        errors = {}
        for name, model in (('zero', zero), ('paddle', paddle)):
            outs = [model.stem(x), *model(x)]
            errors[name] = {k: relative_error(o, expected[k]) for k, o in zip(expected, outs)}
    print('float64 max|ours - timm| / max|timm|:', errors)
    assert all(err <= 1e-7 for err in errors['zero'].values()), errors['zero']
    # the default (Paddle's pool) is another function on these weights: the test sees the difference
    assert errors['paddle']['stem'] > 1e-3, errors['paddle']


def test_zero_stem_pool_exports_standard_onnx_ops_and_runs_the_same_in_onnx_runtime(tmp_path):
    """Only ONNX's own operators; beside the default stem's graph, only a MaxPool."""
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    x = torch.randn(1, 3, 66, 50)
    graphs, stems = {}, {}
    for pool in ('zero', 'paddle'):
        stem = stems[pool] = HGNetV2(arch='B0', stem_pool=pool).stem.eval()
        with torch.no_grad():
            for name, param in stem.named_parameters():
                if name.endswith('lab.bias'):
                    param.fill_(-0.5)  # negative maps: the zero padding wins at the edges
        path = str(tmp_path / f'stem_{pool}.onnx')
        torch.onnx.export(stem, (x, ), path, input_names=['x'], dynamo=False, opset_version=17)
        graphs[pool] = onnx.load(path).graph.node
    assert all(node.domain in ('', 'ai.onnx') for node in graphs['zero'])
    zero_ops, paddle_ops = ({n.op_type for n in graphs[p]} for p in ('zero', 'paddle'))
    assert zero_ops - paddle_ops == {'MaxPool'}, (zero_ops, paddle_ops)
    (out, ) = ort.InferenceSession(str(tmp_path / 'stem_zero.onnx'),
                                   providers=['CPUExecutionProvider']).run(None, {'x': x.numpy()})
    with torch.no_grad():
        assert relative_error(torch.from_numpy(out), stems['zero'](x)) <= 1e-5
