"""D-FINE in mmdet, for HGNetV2 backbones."""
