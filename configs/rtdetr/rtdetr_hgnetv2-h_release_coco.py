# RT-DETR-H as lyuwenyu/RT-DETR's rtdetrv2_pytorch releases it (rtdetrv2_hgnetv2_h_6x_coco.yml):
# HGNetV2-B6 (RT-DETR's "H"), hybrid encoder of width 512 with an FFN of 2048 and 2 AIFI layers, the
# decoder of width 256; its backbone learns at 5e-6 (0.05x). Preprocessing as
# ./rtdetr_hgnetv2-l_release_coco.py: RGB in [0, 1], 640x640 without keeping the ratio.
_base_ = './rtdetr_hgnetv2-x_release_coco.py'

encoder_dims = 512
model = dict(
    backbone=dict(arch='B6'),
    neck=dict(
        in_channels=[512, 1024, 2048],  # hgnet_backbones.stage_channels('B6')[1:]
        embed_dims=encoder_dims,
        encoder=dict(num_layers=2, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=encoder_dims),
            ffn_cfg=dict(embed_dims=encoder_dims, feedforward_channels=2048)))))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.05))))
