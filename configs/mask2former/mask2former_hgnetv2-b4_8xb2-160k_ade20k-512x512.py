_base_ = './mask2former_hgnetv2-b0_8xb2-160k_ade20k-512x512.py'
# hgnet_backbones.stage_channels('B4')
model = dict(backbone=dict(arch='B4'), decode_head=dict(in_channels=[128, 512, 1024, 2048]))
