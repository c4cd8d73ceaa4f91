"""A tiny ImageNet-format classification set: one class per photo, samples made by random crops,
flips, small rotations and colour changes."""
import os
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
from PIL import Image, ImageEnhance

from .photos import PHOTOS, load_photo


def _augment(photo: Image.Image, rng: np.random.Generator, size: int) -> Image.Image:
    w, h = photo.size
    area = rng.uniform(0.3, 1.0) * w * h
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = photo.crop((x0, y0, x0 + cw, y0 + ch))
    img = img.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR, expand=False)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enhance(img).enhance(float(rng.uniform(0.7, 1.3)))
    return img.resize((size, size), Image.BICUBIC)


def make_tiny_imagenet(root: os.PathLike, classes: Sequence[str] = tuple(PHOTOS),
                       num_train: int = 24, num_val: int = 8, size: int = 128,
                       seed: int = 0) -> Dict[str, int]:
    """Write ``root/{train,val}/<class>/*.JPEG``, ``root/meta/{train,val}.txt`` (``path label``, as
    mmpretrain's ImageNet format) and ``root/classes.txt``. Returns the number of images per split."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, n in (('train', num_train), ('val', num_val)):
        lines = []
        for label, name in enumerate(classes):
            photo = Image.fromarray(load_photo(name))
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f'{name}/{name}_{i:04d}.JPEG'
                _augment(photo, rng, size).save(root / split / rel, quality=92)
                lines.append(f'{rel} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
        counts[split] = len(lines)
    (root / 'classes.txt').write_text('\n'.join(classes) + '\n')
    return counts
