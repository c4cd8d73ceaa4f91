# The HGNetV2 backbone of this project's mmdet configs: a detector config lists this file in its
# _base_ and sets model.backbone=dict(_base_.hgnetv2_backbone, _delete_=True, ...) over mmdet's ResNet.
# Other variants: override arch and the neck's in_channels (hgnet_backbones.stage_channels(arch)).
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

hgnetv2_backbone = dict(
    type='HGNetV2',
    arch='B0',
    out_indices=(0, 1, 2, 3),
    # the stem only, as RT-DETR's HGNetV2 (freeze_stem_only); ResNet's frozen_stages=1 also freezes
    # its first stage
    frozen_stages=0,
    norm_eval=True,
    # PaddleClas recommends its stage-1 SSLD weights for downstream tasks
    init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1'))
