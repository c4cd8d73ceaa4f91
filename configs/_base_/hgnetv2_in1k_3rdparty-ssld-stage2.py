# Evaluating PaddleClas's converted SSLD stage-2 weights (the published top-1/top-5); variant configs
# set load_from = 'paddleclas://B*/ssld_stage2'. PaddleClas evaluates these with resize_short 236
# (PPHGNetV2_B4_ssld_stage2.yaml), not the 232 of the plain recipe.
_base_ = './hgnetv2_in1k.py'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=236, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
