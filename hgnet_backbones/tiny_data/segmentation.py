"""A tiny semantic segmentation set in ADE20K's layout: crops of the photos pasted, in random shapes,
onto tinted textures, with the exact label map of what was pasted where."""
import os
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .photos import PHOTOS, TEXTURES, load_horse, load_photo, load_texture

# label value i + 1 in the annotation PNGs (0 is ADE20K's "other", ignored with reduce_zero_label)
SEG_CLASSES = ('background', *PHOTOS)


def _shape_mask(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A bool mask of size (h, w): an ellipse, a random polygon or scikit-image's horse silhouette."""
    kind = rng.integers(3)
    if kind == 2:
        horse = Image.fromarray(load_horse())
        if rng.random() < 0.5:
            horse = horse.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(horse.resize((w, h), Image.NEAREST), dtype=bool)
    canvas = Image.new('1', (w, h))
    draw = ImageDraw.Draw(canvas)
    if kind == 0:
        draw.ellipse((0, 0, w - 1, h - 1), fill=1)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
        radii = rng.uniform(0.5, 1.0, len(angles))
        draw.polygon([(float((1 + r * np.cos(a)) * (w - 1) / 2), float((1 + r * np.sin(a)) * (h - 1) / 2))
                      for a, r in zip(angles, radii)], fill=1)
    return np.asarray(canvas, dtype=bool)


def _photo_crop(photo: np.ndarray, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.75, 1.0) * min(pw / w, ph / h)
    cw, ch = int(w * scale), int(h * scale)
    x0, y0 = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
    crop = Image.fromarray(photo[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.BILINEAR)
    return np.asarray(crop)


def make_scene(rng: np.random.Generator, size: int = 128,
               max_objects: int = 3) -> Tuple[np.ndarray, np.ndarray]:
    """One ``(image, label)`` pair: an RGB uint8 image of ``size`` x ``size`` and its uint8 label map
    (values 1..len(SEG_CLASSES), later objects occluding earlier ones)."""
    texture = load_texture(TEXTURES[int(rng.integers(len(TEXTURES)))])
    tint = rng.uniform(0.5, 1.0, 3)
    image = _photo_crop(np.repeat(texture[..., None], 3, axis=2), rng, size, size) * tint
    image = image.astype(np.uint8)
    label = np.ones((size, size), np.uint8)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(1, len(SEG_CLASSES)))
        w, h = (int(v) for v in rng.integers(size * 3 // 10, size * 7 // 10, 2))
        x0, y0 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        mask = _shape_mask(rng, w, h)
        patch = _photo_crop(load_photo(SEG_CLASSES[cls]), rng, w, h)
        image[y0:y0 + h, x0:x0 + w][mask] = patch[mask]
        label[y0:y0 + h, x0:x0 + w][mask] = cls + 1
    return image, label


def make_tiny_ade20k(root: os.PathLike, num_train: int = 48, num_val: int = 16, size: int = 128,
                     max_objects: int = 3, seed: int = 0) -> Dict[str, int]:
    """Write ``root/images/{training,validation}/ADE_{train,val}_*.jpg`` and the label maps
    ``root/annotations/{training,validation}/*.png`` (0 unused, ``i + 1`` for ``SEG_CLASSES[i]``), as
    ADE20K lays them out (read them with ``reduce_zero_label=True``). Returns the images per split."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    counts = {}
    for split, tag, n in (('training', 'train', num_train), ('validation', 'val', num_val)):
        for folder in ('images', 'annotations'):
            (root / folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            image, label = make_scene(rng, size, max_objects)
            name = f'ADE_{tag}_{i:08d}'
            Image.fromarray(image).save(root / 'images' / split / f'{name}.jpg', quality=95)
            Image.fromarray(label).save(root / 'annotations' / split / f'{name}.png')
        counts[split] = n
    return counts
