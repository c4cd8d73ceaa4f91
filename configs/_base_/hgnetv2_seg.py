# The HGNetV2 backbone of the mmseg configs, replacing their ResNet (hence _delete_): all four stage
# maps, SSLD stage-1 weights (PaddleClas's recommendation for downstream tasks), SyncBN trained as in
# mmseg's ResNet anchors. A config uses it as `backbone=_base_.hgnetv2_backbone` or
# `backbone=dict(_base_.hgnetv2_backbone, out_stride=8)`. As in every family, custom_imports sits in the
# config that first puts HGNetV2 into a model (the segmentor configs: Mask2Former's anchor has its own).
hgnetv2_backbone = dict(
    _delete_=True,
    type='HGNetV2',
    arch='B0',
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    norm_eval=False,
    init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1'))
