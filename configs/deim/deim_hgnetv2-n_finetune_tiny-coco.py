# DEIM-D-FINE-N fine-tuned from a COCO checkpoint on the tiny set's 3 classes: D-FINE-N's fine-tune
# config (../dfine/dfine_hgnetv2-n_finetune_tiny-coco.py; DEIM's releases have D-FINE's architecture
# and convert alike with tools/convert_detector.py) with DEIM's matchability-aware loss and its
# unfrozen backbone.
_base_ = ['../dfine/dfine_hgnetv2-n_finetune_tiny-coco.py', './_base_/dense_o2o.py']

load_from = 'checkpoints/deim_dfine_hgnetv2_n_coco.pth'
model = dict(backbone=_base_.deim_backbone, bbox_head=dict(loss_cls=_base_.deim_loss_cls))
