"""Tiny datasets made from the real photos scikit-image ships, for tests and for trying things on a
CPU. Nothing is downloaded; the same seed gives the same files."""
from .classification import make_tiny_imagenet
from .photos import load_photo, PHOTOS
from .segmentation import make_tiny_ade20k, SEG_CLASSES

__all__ = ['PHOTOS', 'load_photo', 'make_tiny_imagenet', 'make_tiny_ade20k', 'SEG_CLASSES']
