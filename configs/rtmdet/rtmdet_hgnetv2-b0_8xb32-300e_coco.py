# RTMDet-S's neck and head widths (mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py) over HGNetV2-B0
_base_ = './rtmdet_hgnetv2-b4_8xb32-300e_coco.py'
model = dict(
    backbone=dict(arch='B0'),
    neck=[
        dict(_base_.model.neck[0], in_channels=[256, 512, 1024], out_channels=128),  # stage_channels('B0')[1:]
        dict(_base_.model.neck[1], in_channels=[128, 128, 128], out_channels=128, num_csp_blocks=1),
    ],
    bbox_head=dict(in_channels=128, feat_channels=128, exp_on_reg=False))
