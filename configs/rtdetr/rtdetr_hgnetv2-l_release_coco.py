# RT-DETR-L as PaddleDetection (rtdetr_hgnetv2_l_6x_coco.pdparams) and lyuwenyu/RT-DETR's
# rtdetrv2_pytorch (rtdetrv2_hgnetv2_l_6x_coco.yml) release it, for their converted weights
# (tools/convert_detector.py): HGNetV2-B4 (RT-DETR's "L"), hybrid encoder of width 256, 6-layer
# decoder of width 256, 300 queries, 4 points per level. Its images are RGB in [0, 1] with no mean or
# std, resized to 640x640 without keeping the ratio (rtdetr_reader.yml's EvalReader: interp 2, i.e.
# bicubic in Paddle; torchvision's bilinear in rtdetrv2_pytorch; mmdet's bilinear here). The whole
# model comes from load_from, so the backbone loads nothing of its own.
_base_ = './rtdetr_hgnetv2-b4_4xb4-72e_coco.py'

model = dict(
    data_preprocessor=dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0], bgr_to_rgb=True),
    backbone=dict(init_cfg=None))
