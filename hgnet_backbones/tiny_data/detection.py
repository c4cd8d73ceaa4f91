"""A tiny COCO-format detection and instance-segmentation set: filled shapes drawn on crops of the real
photos, each annotated with its exact polygon, box and area.

The shapes are drawn from the same vertices that are written as their ``segmentation``, so boxes and
masks are exact; shapes never overlap, so every one is fully visible. Image sides vary and are not
multiples of 32.
"""
import json
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import write_text
from .photos import PHOTOS, load_photo

SHAPES = ('circle', 'triangle', 'square')
# corners of each shape on the unit circle; the circle is a 32-gon, exact as drawn
_CORNERS = {'circle': 32, 'triangle': 3, 'square': 4}


def _shape_polygon(shape: str, center: Tuple[float, float], radius: float,
                   angle: float) -> np.ndarray:
    """(N, 2) vertices of a regular ``shape`` of circumradius ``radius``, rotated by ``angle``."""
    n = _CORNERS[shape]
    theta = angle + 2 * np.pi * np.arange(n) / n
    poly = np.stack([center[0] + radius * np.cos(theta), center[1] + radius * np.sin(theta)], 1)
    return poly.round(2)  # the vertices drawn are those written


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _background(photos: List[Image.Image], rng: np.random.Generator, width: int,
                height: int) -> Image.Image:
    photo = photos[int(rng.integers(len(photos)))]
    w, h = photo.size
    scale = rng.uniform(0.5, 1.0) * min(w / width, h / height)
    cw, ch = int(width * scale), int(height * scale)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return photo.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.BILINEAR)


def _place_shapes(rng: np.random.Generator, width: int, height: int, max_objects: int,
                  radius_range: Tuple[float, float]) -> List[Tuple[str, np.ndarray]]:
    """Up to ``max_objects`` (at least one) non-overlapping shapes inside the image."""
    placed, circles = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(50):
            r = rng.uniform(*radius_range)
            cx, cy = rng.uniform(r + 1, width - r - 1), rng.uniform(r + 1, height - r - 1)
            if all(np.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in circles):
                break
        else:
            continue
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        circles.append((cx, cy, r))
        placed.append((shape, _shape_polygon(shape, (cx, cy), r, rng.uniform(0, 2 * np.pi))))
    return placed


def make_tiny_coco(root: os.PathLike, num_train: int = 192, num_val: int = 24,
                   width_range: Sequence[int] = (150, 220), height_range: Sequence[int] = (120, 180),
                   radius_range: Sequence[float] = (14, 40), max_objects: int = 5,
                   seed: int = 0) -> Dict[str, int]:
    """Write ``root/{train,val}/*.jpg`` and ``root/annotations/instances_{train,val}.json`` (COCO
    format: ``bbox`` as x, y, w, h; ``segmentation`` as one polygon; categories :data:`SHAPES` with
    ids from 1). Returns the number of images per split.

    Args:
        root: Output folder.
        num_train, num_val: Images per split.
        width_range, height_range: Image sides are drawn uniformly from these (inclusive) ranges.
        radius_range: Circumradius of the shapes, in pixels.
        max_objects: Most shapes per image (each image has at least one).
        seed: The same seed writes the same files.
    """
    for name, (low, high) in (('width_range', width_range), ('height_range', height_range),
                              ('radius_range', radius_range)):
        if not 0 < low <= high:
            raise ValueError(f'{name} must be (low, high) with 0 < low <= high, got {(low, high)}')
    if 2 * radius_range[1] + 4 > min(width_range[0], height_range[0]):
        raise ValueError(f'radius_range {tuple(radius_range)} does not fit images as small as '
                         f'{width_range[0]}x{height_range[0]}')
    if max_objects < 1:
        raise ValueError(f'max_objects must be >= 1, got {max_objects}')
    root = Path(root)
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(load_photo(name)) for name in PHOTOS]
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(SHAPES)]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, num_images in (('train', num_train), ('val', num_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, num_images + 1):
            width = int(rng.integers(width_range[0], width_range[1] + 1))
            height = int(rng.integers(height_range[0], height_range[1] + 1))
            image = _background(photos, rng, width, height)
            draw = ImageDraw.Draw(image)
            for shape, poly in _place_shapes(rng, width, height, max_objects, radius_range):
                colour = tuple(int(c) for c in rng.integers(0, 256, 3))
                draw.polygon([tuple(p) for p in poly], fill=colour)
                (x0, y0), (x1, y1) = poly.min(0), poly.max(0)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id,
                    category_id=SHAPES.index(shape) + 1, iscrowd=0,
                    bbox=[round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                    area=round(_polygon_area(poly), 2),
                    segmentation=[poly.reshape(-1).tolist()]))
            file_name = f'{split}_{image_id:04d}.jpg'
            image.save(root / split / file_name, quality=95)
            images.append(dict(id=image_id, file_name=file_name, width=width, height=height))
        write_text(root / 'annotations' / f'instances_{split}.json',
                   json.dumps(dict(images=images, annotations=annotations, categories=categories)))
        counts[split] = num_images
    return counts
