# D-FINE-N fine-tuned from a COCO checkpoint (80 classes) on the tiny set's 3 classes: the tiny
# recipe (./dfine_hgnetv2-n_1xb4-6e_tiny-coco.py) with every weight from load_from, a tenth of its
# learning rate. load_from is D-FINE's release converted by tools/convert_detector.py (or the
# release itself, converted as it is read under the safe-loading opt-in). Its class-dependent
# weights (the classifiers, the denoising label embedding) do not fit 3 classes: mmengine skips them
# with a size-mismatch warning, and they keep this model's initialisation.
_base_ = './dfine_hgnetv2-n_1xb4-6e_tiny-coco.py'

load_from = 'checkpoints/dfine_hgnetv2-n_coco.pth'
model = dict(backbone=dict(init_cfg=None))
optim_wrapper = dict(optimizer=dict(lr=2e-4))
