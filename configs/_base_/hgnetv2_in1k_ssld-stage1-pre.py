# Fine-tuning from PaddleClas's SSLD stage-1 weights (distilled on ImageNet-1k + 22k; PaddleClas
# recommends them for downstream tasks), as PaddleClas's fine-tune example does: the recipe of
# hgnetv2_in1k.py with 30 epochs at lr 0.05. The backbone's 'ssld_stage1' follows its arch.
_base_ = './hgnetv2_in1k.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1')))
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=25, eta_min=0.0, by_epoch=True, begin=5, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30)
