# The HGNetV2 backbone of this project's mmdet configs, replacing their ResNet (hence _delete_): a
# detector config lists this file in its _base_ and sets `backbone=_base_.hgnetv2_backbone` or
# `backbone=dict(_base_.hgnetv2_backbone, out_indices=(1, 2, 3))`. Other variants: override arch and the
# neck's in_channels (hgnet_backbones.stage_channels(arch)).
# As in every family, custom_imports sits in the config that first puts HGNetV2 into a model (here the
# detector configs; mmengine refuses the same key in two bases, and some OpenMMLab anchors have one).
hgnetv2_backbone = dict(
    _delete_=True,
    type='HGNetV2',
    arch='B0',
    out_indices=(0, 1, 2, 3),
    # the stem only, as RT-DETR's HGNetV2 (freeze_stem_only); ResNet's frozen_stages=1 also freezes
    # its first stage
    frozen_stages=0,
    norm_eval=True,
    # PaddleClas recommends its stage-1 SSLD weights for downstream tasks
    init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1'))
