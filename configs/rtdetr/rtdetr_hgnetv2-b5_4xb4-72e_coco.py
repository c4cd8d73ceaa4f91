# RT-DETR-X: HGNetV2-B5 (RT-DETR's "X" backbone) and a hybrid encoder of width 384 with an FFN of
# 2048; the decoder keeps width 256 (the encoder's outputs are projected to it). The backbone learns
# at 0.01x (RT-DETRv2: 1e-6; PaddleDetection: lr_mult 0.01). Otherwise RT-DETR-L's recipe.
_base_ = './rtdetr_hgnetv2-b4_4xb4-72e_coco.py'

encoder_dims = 384
model = dict(
    backbone=dict(arch='B5'),
    neck=dict(
        in_channels=[512, 1024, 2048],  # hgnet_backbones.stage_channels('B5')[1:]
        embed_dims=encoder_dims,
        encoder=dict(layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=encoder_dims),
            ffn_cfg=dict(embed_dims=encoder_dims, feedforward_channels=2048)))))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.01))))
