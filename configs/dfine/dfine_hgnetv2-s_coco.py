# D-FINE-S (D-FINE's dfine_hgnetv2_s_coco.yml): HGNetV2-B0 trained whole (norms too), fusion blocks
# of one RepVGG block (round(3 * 0.34)) and CSP branches of expansion 0.5, a 3-layer decoder; AdamW
# lr 2e-4, wd 1e-4 (none on norms and biases), backbone lr 1e-4 (0.5x); 132 epochs, strong
# augmentations stop at epoch 120.
_base_ = './_base_/dfine_hgnetv2.py'

model = dict(
    backbone=dict(arch='B0', frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[256, 512, 1024], expansion=0.5, num_csp_blocks=1),  # stage_channels('B0')
    decoder=dict(num_layers=3))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(bias_decay_mult=0.0, custom_keys=dict(backbone=dict(lr_mult=0.5))))
max_epochs = 132
stop_epoch = 120
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [_base_.ema_hook,
                dict(_base_.custom_hooks[1], switch_epoch=stop_epoch)]
