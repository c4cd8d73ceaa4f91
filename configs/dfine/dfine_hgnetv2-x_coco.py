# D-FINE-X (D-FINE's dfine_hgnetv2_x_coco.yml): HGNetV2-B5, hybrid encoder of width 384 (FFN 2048)
# projected to the decoder's 256, reg_scale 8, backbone lr 2.5e-6 (0.01x).
_base_ = './_base_/dfine_hgnetv2.py'

model = dict(
    backbone=dict(arch='B5'),
    neck=dict(
        in_channels=[512, 1024, 2048],  # hgnet_backbones.stage_channels('B5')[1:]
        embed_dims=384,
        encoder=dict(layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=384),
            ffn_cfg=dict(embed_dims=384, feedforward_channels=2048)))),
    decoder=dict(reg_scale=8.0))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.01))))
