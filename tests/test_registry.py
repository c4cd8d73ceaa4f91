"""One registration (mmengine's root MODELS) serves mmpretrain, mmdet and mmseg."""
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.registry import DefaultScope


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_hgnetv2_in_mmpretrain_image_classifier():
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='HGNetV2', arch='B0'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='HGNetV2ClsHead', num_classes=7, in_channels=1024, use_lab=True)))
    model.init_weights()
    model.eval()
    assert type(model.backbone).__name__ == 'HGNetV2'
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, 7)


def test_hgnetv2_in_mmdet_retinanet():
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        _check_retinanet(MODELS)


def _check_retinanet(MODELS):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    model = MODELS.build(dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='HGNetV2', arch='B0', out_indices=(1, 2, 3), frozen_stages=0,
                      norm_eval=True),
        neck=dict(type='FPN', in_channels=[256, 512, 1024], out_channels=64, start_level=0,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=64, feat_channels=64, stacked_convs=1,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                  ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)))
    model.init_weights()
    assert type(model.backbone).__name__ == 'HGNetV2'
    sample = DetDataSample(metainfo=dict(img_shape=(96, 128), pad_shape=(96, 128),
                                         ori_shape=(96, 128), scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 10., 60., 50.]]),
                                       labels=torch.tensor([1]))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)],
             data_samples=[sample]), training=True)
    model.train()
    losses = model(**data, mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stem.stem1.conv.weight.grad is None  # frozen_stages=0 freezes the stem
    assert model.backbone.stages[3].blocks[0].layers[0].conv1.conv.weight.grad is not None


def test_hgnetv2_in_mmseg_encoder_decoder_with_uperhead():
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        _check_uperhead(MODELS)


def _check_uperhead(MODELS):
    norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size=(64, 64)),
        backbone=dict(type='HGNetV2', arch='B0', out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='UPerHead', in_channels=[64, 256, 512, 1024], in_index=[0, 1, 2, 3],
                         pool_scales=(1, 2, 3, 6), channels=32, dropout_ratio=0.1, num_classes=5,
                         norm_cfg=norm_cfg, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole')))
    model.init_weights()
    model.eval()
    assert type(model.backbone).__name__ == 'HGNetV2'
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 5, 16, 16)


@pytest.mark.parametrize('scope,wrapper', [
    ('mmdet', "dict(type='RetinaNet', backbone=BACKBONE, neck=dict(type='FPN', "
              "in_channels=[256, 512, 1024], out_channels=32, num_outs=3), bbox_head=dict("
              "type='RetinaHead', num_classes=2, in_channels=32, feat_channels=32, "
              "anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, "
              "scales_per_octave=1, ratios=[1.0], strides=[8, 16, 32]), bbox_coder=dict("
              "type='DeltaXYWHBBoxCoder')))"),
    ('mmseg', "dict(type='EncoderDecoder', backbone=BACKBONE, decode_head=dict(type='FCNHead', "
              "in_channels=1024, in_index=2, channels=16, num_classes=2))"),
    ('mmpretrain', "dict(type='ImageClassifier', backbone=BACKBONE, neck=dict("
                   "type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=2, "
                   "in_channels=1024))"),
])
def test_custom_imports_makes_plain_type_resolve_in_a_fresh_process(scope, wrapper, tmp_path):
    config = tmp_path / f'{scope}_cfg.py'
    config.write_text(textwrap.dedent(f"""
        custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)
        default_scope = '{scope}'
        BACKBONE = dict(type='HGNetV2', arch='B0', out_indices=(1, 2, 3))
        model = {wrapper}
    """))
    out = _run_python(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        import {scope}.registry as reg
        assert 'hgnet_backbones' not in sys.modules
        cfg = Config.fromfile({str(config)!r})
        init_default_scope(cfg.default_scope)
        model = reg.MODELS.build(cfg.model)
        print(type(model).__name__, type(model.backbone).__name__)
    """)
    assert out.split()[-1] == 'HGNetV2'


def test_import_needs_neither_mmdet_nor_mmseg():
    out = _run_python("""
        import sys
        sys.modules['mmdet'] = None  # any import of them now raises ImportError
        sys.modules['mmseg'] = None
        import hgnet_backbones
        from mmengine.registry import MODELS
        model = MODELS.build(dict(type='HGNetV2', arch='B1'))
        print(type(model).__name__)
    """)
    assert out.strip() == 'HGNetV2'
