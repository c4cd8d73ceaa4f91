"""Every config of the project builds in its codebase, with the expected sizes and recipe."""
import copy
import inspect
import math
from pathlib import Path

import pytest
import torch

from hgnet_backbones import stage_channels
from hgnet_backbones.apis.config import build_model, codebase_of, load_config
from hgnet_backbones.tiny_data import SHAPES, make_tiny_coco

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
# model configs; configs/deploy/ holds mmdeploy deploy configs (tests/test_deploy/)
ALL_CONFIGS = sorted(p for p in CONFIGS.rglob('*.py') if not {'_base_', 'deploy'} & set(p.parts))


def _b0_fast(paths):
    """A training step of each B0 config in the fast loop; the larger variants' take up to 25 s."""
    return [p if 'hgnetv2-b0' in p.name else pytest.param(p, marks=pytest.mark.slow) for p in paths]


# PaddleClas's trainable parameters of the full classifiers (1000 classes), in millions.
CLASSIFIER_PARAMS_M = {'b0': 6.00, 'b1': 6.34, 'b2': 11.22, 'b3': 16.29, 'b4': 19.80, 'b5': 39.57,
                       'b6': 75.26}


def _params_m(model):
    return round(sum(p.numel() for p in model.parameters()) / 1e6, 2)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=lambda p: p.name)
def test_config_builds_with_hgnetv2_backbone(path):
    cfg = load_config(str(path))
    assert cfg.custom_imports.imports[0] == 'hgnet_backbones'
    with torch.device('meta'):
        model = build_model(cfg)
    assert type(model.backbone).__name__ == 'HGNetV2'
    assert codebase_of(cfg) in ('mmpretrain', 'mmdet', 'mmseg')


@pytest.mark.parametrize('kind', ['8xb128_in1k', 'ssld-stage1-pre_8xb128-30e_in1k',
                                  '3rdparty-ssld-stage2_in1k'])
@pytest.mark.parametrize('variant', sorted(CLASSIFIER_PARAMS_M))
def test_imagenet_configs_match_paddleclas_parameter_counts(variant, kind):
    cfg = load_config(str(CONFIGS / 'hgnetv2' / f'hgnetv2-{variant}_{kind}.py'))
    with torch.device('meta'):
        model = build_model(cfg)
    assert model.backbone.arch_name == variant.upper()
    assert _params_m(model) == CLASSIFIER_PARAMS_M[variant]


def test_imagenet_recipe_numbers_are_paddleclas():
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b4_8xb128_in1k.py'))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.5, 0.9, 2e-5)
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.auto_scale_lr.enable  # lr 0.5 scaled to the run's global batch
    assert cfg.train_cfg.max_epochs == 200
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin, cosine.end, cosine.eta_min) == \
        ('LinearLR', 5, 'CosineAnnealingLR', 5, 200, 0.0)
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    ra = [t for t in cfg.train_pipeline if t.type == 'RandAugment'][0]
    assert (ra.magnitude_level, ra.magnitude_std, ra.num_policies, ra.policies) == \
        (7, 0.5, 2, 'timm_increasing')
    erase = [t for t in cfg.train_pipeline if t.type == 'RandomErasing'][0]
    assert erase.erase_prob == 0.25
    resize = [t for t in cfg.test_pipeline if t.type == 'ResizeEdge'][0]
    assert (resize.scale, resize.interpolation, cfg.test_pipeline[2].crop_size) == (232, 'bicubic', 224)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_optimizer_gives_lab_one_hundredth_lr_and_bn_no_decay():
    from mmengine.optim import build_optim_wrapper
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b0_8xb128_in1k.py'))
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU; the param groups are the same
    cfg.optim_wrapper.pop('loss_scale')
    model = build_model(cfg)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in optimizer.param_groups:
        for p in group['params']:
            name = names[id(p)]
            seen.add(name)
            if '.lab.' in name:
                assert group['lr'] == pytest.approx(0.5 * 0.01), name
                assert group['weight_decay'] == 2e-5, name  # Paddle decays LAB too
            elif '.bn.' in name:
                assert group['lr'] == 0.5 and group['weight_decay'] == 0.0, name
            else:  # conv weights, last_conv, fc weight and bias
                assert group['lr'] == 0.5 and group['weight_decay'] == 2e-5, name
    assert seen == set(names.values())
    assert any('head.lab.' in n for n in seen) and any('backbone.stem.stem1.lab.' in n for n in seen)


def test_finetune_configs_start_from_ssld_stage1_at_paddleclas_finetune_lr():
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b2_ssld-stage1-pre_8xb128-30e_in1k.py'))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='ssld_stage1')
    assert cfg.optim_wrapper.optimizer.lr == 0.05 and cfg.train_cfg.max_epochs == 30
    assert cfg.param_scheduler[-1].end == 30


def test_stage2_eval_configs_load_paddleclas_weights_of_their_arch():
    for variant in CLASSIFIER_PARAMS_M:
        cfg = load_config(str(CONFIGS / 'hgnetv2' / f'hgnetv2-{variant}_3rdparty-ssld-stage2_in1k.py'))
        assert cfg.load_from == f'paddleclas://{variant.upper()}/ssld_stage2'
        assert cfg.test_pipeline[1].scale == 236  # PaddleClas's stage-2 evaluation resize


DET_CONFIGS = [p for p in ALL_CONFIGS
               if p.parent.name in ('retinanet', 'faster_rcnn', 'mask_rcnn', 'rtmdet', 'dino', 'rtdetr')
               and 'tiny' not in p.name and 'release' not in p.name]


def _neck_in_channels(neck):
    return list((neck[0] if isinstance(neck, list) else neck).in_channels)


def test_every_detector_comes_in_b0_and_b4():
    names = {p.name for p in DET_CONFIGS}
    for family in ('retinanet', 'faster-rcnn', 'mask-rcnn', 'rtmdet', 'dino-4scale'):
        assert {arch for arch in ('b0', 'b4') if any(n.startswith(f'{family}_hgnetv2-{arch}_') for n in names)} \
            == {'b0', 'b4'}, family


@pytest.mark.parametrize('path', DET_CONFIGS, ids=lambda p: p.name)
def test_detector_configs_start_from_ssld_stage1_with_neck_channels_of_their_arch(path):
    cfg = load_config(str(path))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.frozen_stages, backbone.norm_eval) == ('HGNetV2', 0, True)
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint='ssld_stage1')
    assert backbone.arch == path.name.split('hgnetv2-')[1][:2].upper()
    assert _neck_in_channels(cfg.model.neck) == [stage_channels(backbone.arch)[i]
                                                 for i in backbone.out_indices]
    mean_std = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
    preprocessor = cfg.model.data_preprocessor
    assert (preprocessor.mean, preprocessor.std, preprocessor.bgr_to_rgb) == (*mean_std, True)
    if 'dino' in path.name:
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1


@pytest.fixture(scope='module')
def tiny_coco_batch(tmp_path_factory):
    """Two images of the tiny COCO-format set with boxes and masks, as mmdet's data loader gives them."""
    from mmdet.datasets import CocoDataset
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    root = tmp_path_factory.mktemp('tiny_coco')
    make_tiny_coco(root, num_train=2, num_val=1)
    init_default_scope('mmdet')
    dataset = CocoDataset(
        data_root=str(root), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=SHAPES),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackDetInputs')])
    return pseudo_collate([dataset[0], dataset[1]])


@pytest.mark.parametrize('path', _b0_fast(DET_CONFIGS), ids=lambda p: p.name)
def test_detector_trains_a_step_on_cpu_with_gradients_in_unfrozen_stages_only(path, tiny_coco_batch):
    from mmengine.logging import MessageHub
    from mmengine.model import revert_sync_batchnorm
    torch.manual_seed(0)
    cfg = load_config(str(path))
    if cfg.model.type == 'DINO':  # it picks 900 queries among the encoder's tokens: ~650 here
        cfg.model.num_queries = 100
    cfg.model.backbone.init_cfg = None  # the SSLD weights cannot be downloaded here
    model = revert_sync_batchnorm(build_model(cfg))  # as a 1-process Runner does
    model.init_weights()  # DETR-like detectors leave some parameters uninitialised until now
    model.train()
    sides = [tuple(img.shape[-2:]) for img in tiny_coco_batch['inputs']]
    assert any(h % 32 or w % 32 for h, w in sides), sides  # padding is the data preprocessor's job
    batch = copy.deepcopy(tiny_coco_batch)
    if not getattr(model, 'with_mask', False):
        for sample in batch['data_samples']:
            del sample.gt_instances.masks
    # as a Runner does: batch augments (RT-DETR's BatchSyncRandomResize) read the iteration
    MessageHub.get_current_instance().update_info('iter', 0)
    data = model.data_preprocessor(batch, True)
    divisor = model.data_preprocessor.pad_size_divisor
    assert data['inputs'].shape[-2] % divisor == 0 and data['inputs'].shape[-1] % divisor == 0
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    backbone = model.backbone
    assert all(not p.requires_grad and p.grad is None for p in backbone.stem.parameters())
    for i, stage in enumerate(backbone.stages):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in stage.parameters()), i


# our segmentation config folders -> the mmseg ResNet-50 config each follows
SEG_ANCHORS = {
    'upernet': 'upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    'deeplabv3plus': 'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py',
    'mask2former': 'mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
}
SEG_CONFIGS = [p for p in ALL_CONFIGS if p.parent.name in SEG_ANCHORS]
# what may differ from the anchor: the backbone and the channels it feeds the heads
BACKBONE_KEYS = ('custom_imports', 'hgnetv2_backbone', 'model.backbone', 'model.pretrained',
                 'model.decode_head.in_channels', 'model.decode_head.c1_in_channels',
                 'model.auxiliary_head.in_channels')


def _flatten(tree, prefix=''):
    """``{'a.b': leaf}``, without the ``_scope_`` keys that inheriting across packages adds."""
    if isinstance(tree, (list, tuple)):
        return {prefix[:-1]: [_flatten(item) for item in tree]}
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {k: v for key, value in tree.items() if key != '_scope_'
            for k, v in _flatten(value, f'{prefix}{key}.').items()}


@pytest.mark.parametrize('path', [p for p in SEG_CONFIGS if 'tiny' not in p.name], ids=lambda p: p.name)
def test_segmentation_config_is_its_mmseg_anchor_but_for_the_backbone(path):
    import mmseg
    from mmengine.config import Config
    from mmseg.models.backbones import ResNet
    cfg = load_config(str(path))
    anchor = Config.fromfile(Path(mmseg.__file__).parent / '.mim/configs' /
                             SEG_ANCHORS[path.parent.name])
    ours, ref = _flatten(cfg.to_dict()), _flatten(anchor.to_dict())
    differ = sorted(k for k in ours.keys() | ref.keys()
                    if not k.startswith(BACKBONE_KEYS) and ours.get(k, 'missing') != ref.get(k, 'missing'))
    assert not differ, differ
    if 'custom_imports' in anchor:
        assert anchor.custom_imports.imports in cfg.custom_imports.imports

    backbone, resnet = cfg.model.backbone, anchor.model.backbone
    defaults = inspect.signature(ResNet.__init__).parameters

    def anchor_value(key):
        return resnet.get(key, defaults[key].default)

    assert backbone.type == 'HGNetV2'
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint='ssld_stage1')
    assert backbone.out_indices == tuple(anchor_value('out_indices'))
    assert backbone.norm_cfg == anchor_value('norm_cfg')
    assert backbone.norm_eval == anchor_value('norm_eval')
    assert backbone.get('frozen_stages', -1) == anchor_value('frozen_stages')
    assert backbone.get('out_stride', 32) == 4 * math.prod(anchor_value('strides'))

    channels = stage_channels(backbone.arch)
    for name in ('decode_head', 'auxiliary_head'):
        head = cfg.model.get(name)
        if head is None:
            continue
        index = head.get('in_index', (0, 1, 2, 3))
        expected = channels[index] if isinstance(index, int) else [channels[i] for i in index]
        assert head.in_channels == expected, name
        assert head.get('c1_in_channels', channels[0]) == channels[0]


@pytest.mark.parametrize('path', _b0_fast(SEG_CONFIGS), ids=lambda p: p.name)
def test_segmentation_config_trains_one_step_on_cpu(path):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = load_config(str(path))
    cfg.model.backbone.init_cfg = None  # the SSLD weights can't be downloaded here
    cfg.model.data_preprocessor.size = (32, 64)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # as mmengine's Runner does without a process group
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    label = torch.full((1, 32, 64), 2)
    label[:, 10:25, 20:50] = 5
    label[:, :2] = 255  # ignored
    data = dict(inputs=[torch.randint(0, 256, (3, 32, 64), dtype=torch.uint8) for _ in range(2)],
                data_samples=[SegDataSample(gt_sem_seg=PixelData(data=label)) for _ in range(2)])
    graded = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.register_hook(lambda grad, name=name: graded.add(name) if grad.abs().sum() > 0 else None)
    before = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    log_vars = model.train_step(data, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    # gradients reach every conv of the backbone (stem and dilated stages alike) and the optimizer
    # moves them; frozen parameters stay (LAB biases right before a 1x1 conv + BN may get none)
    convs = {f'backbone.{n}' for n, p in model.backbone.named_parameters() if n.endswith('conv.weight')}
    assert len(convs) > 20 and convs <= graded, sorted(convs - graded)[:5]
    assert any(n.startswith('decode_head.') for n in graded)
    for name, p in model.backbone.named_parameters():
        if not p.requires_grad or f'backbone.{name}' in convs:
            assert p.requires_grad != torch.equal(p, before[name]), name
