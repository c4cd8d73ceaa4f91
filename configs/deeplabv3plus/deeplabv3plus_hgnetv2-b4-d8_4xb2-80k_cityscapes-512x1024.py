_base_ = './deeplabv3plus_hgnetv2-b0-d8_4xb2-80k_cityscapes-512x1024.py'
model = dict(
    backbone=dict(arch='B4'),
    # hgnet_backbones.stage_channels('B4')
    decode_head=dict(in_channels=2048, c1_in_channels=128),
    auxiliary_head=dict(in_channels=1024))
