# D-FINE-M (D-FINE's dfine_hgnetv2_m_coco.yml): HGNetV2-B2 trained whole (norms too), fusion blocks
# of round(3 * 0.67) = 2 RepVGG blocks, a 4-layer decoder; AdamW lr 2e-4, wd 1e-4 (none on norms and
# biases), backbone lr 2e-5 (0.1x); 132 epochs, strong augmentations stop at epoch 120.
_base_ = './_base_/dfine_hgnetv2.py'

model = dict(
    backbone=dict(arch='B2', frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[384, 768, 1536], num_csp_blocks=2),  # stage_channels('B2')[1:]
    decoder=dict(num_layers=4))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(bias_decay_mult=0.0, custom_keys=dict(backbone=dict(lr_mult=0.1))))
max_epochs = 132
stop_epoch = 120
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [_base_.ema_hook,
                dict(_base_.custom_hooks[1], switch_epoch=stop_epoch)]
