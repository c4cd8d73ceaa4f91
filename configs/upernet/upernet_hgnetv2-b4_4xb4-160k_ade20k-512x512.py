_base_ = './upernet_hgnetv2-b0_4xb4-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(arch='B4'),
    # hgnet_backbones.stage_channels('B4')
    decode_head=dict(in_channels=[128, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
