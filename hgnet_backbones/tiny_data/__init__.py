"""Tiny datasets made from the real photos scikit-image ships, for tests and for trying things on a
CPU. Nothing is downloaded; the same seed gives the same files."""
from .classification import make_tiny_imagenet
from .detection import SHAPES, make_tiny_coco
from .photos import load_photo, PHOTOS

__all__ = ['PHOTOS', 'SHAPES', 'load_photo', 'make_tiny_coco', 'make_tiny_imagenet']
