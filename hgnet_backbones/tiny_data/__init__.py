"""Tiny datasets made from the real photos scikit-image ships, for tests and for trying things on a
CPU. Nothing is downloaded; the same seed gives the same files. Needs scikit-image, the ``demo`` extra:
``pip install 'hgnet_backbones[demo]'``."""
from .classification import make_tiny_imagenet
from .detection import SHAPES, make_tiny_coco
from .photos import load_photo, PHOTOS
from .segmentation import make_tiny_ade20k, SEG_CLASSES

__all__ = ['PHOTOS', 'SEG_CLASSES', 'SHAPES', 'load_photo', 'make_tiny_ade20k', 'make_tiny_coco',
           'make_tiny_imagenet']
