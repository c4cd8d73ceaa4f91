# RT-DETR-X as PaddleDetection (rtdetr_hgnetv2_x_6x_coco.pdparams) and lyuwenyu/RT-DETR's
# rtdetrv2_pytorch (rtdetrv2_hgnetv2_x_6x_coco.yml) release it: HGNetV2-B5 (RT-DETR's "X"), hybrid
# encoder of width 384 with an FFN of 2048, the decoder of width 256. Preprocessing as
# ./rtdetr_hgnetv2-l_release_coco.py: RGB in [0, 1], 640x640 without keeping the ratio.
_base_ = './rtdetr_hgnetv2-b5_4xb4-72e_coco.py'

model = dict(
    data_preprocessor=dict(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0], bgr_to_rgb=True),
    backbone=dict(init_cfg=None))
