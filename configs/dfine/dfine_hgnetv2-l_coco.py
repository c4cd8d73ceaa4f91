# D-FINE-L: HGNetV2-B4, the shared settings of ./_base_/dfine_hgnetv2.py (D-FINE's
# dfine_hgnetv2_l_coco.yml): 80 epochs, strong augmentations stop at epoch 72, backbone lr 1.25e-5.
_base_ = './_base_/dfine_hgnetv2.py'
