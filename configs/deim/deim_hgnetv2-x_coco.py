# DEIM-D-FINE-X: D-FINE-X (../dfine/dfine_hgnetv2-x_coco.py) trained as DEIM does
# (_base_/dense_o2o.py): Dense O2O, the Matchability-Aware Loss, the flat-cosine lr and DEIM's epochs.
_base_ = ['../dfine/dfine_hgnetv2-x_coco.py', './_base_/dense_o2o.py']
deim = _base_.deim_variants.x

model = dict(backbone=_base_.deim_backbone, bbox_head=dict(loss_cls=_base_.deim_loss_cls))
optim_wrapper = dict(optimizer=dict(lr=deim.lr))
train_cfg = dict(max_epochs=deim.max_epochs)
param_scheduler = deim.param_scheduler
train_dataloader = dict(dataset=dict(pipeline=_base_.deim_no_aug_pipeline))
custom_hooks = _base_.custom_hooks + deim.switch_hooks
