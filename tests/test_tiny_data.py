import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from scipy.ndimage import binary_erosion

from hgnet_backbones.tiny_data import (PHOTOS, SEG_CLASSES, SHAPES, load_photo, make_tiny_ade20k,
                                       make_tiny_coco, make_tiny_imagenet, segmentation)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob('*')):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_photos_are_real_rgb_images():
    for name in PHOTOS:
        photo = load_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 200
        assert photo.std() > 20  # a photo, not a flat image


def test_tiny_imagenet_layout_labels_and_determinism(tmp_path):
    counts = make_tiny_imagenet(tmp_path / 'a', num_train=3, num_val=2, size=64, seed=1)
    assert counts == {'train': 3 * len(PHOTOS), 'val': 2 * len(PHOTOS)}
    root = tmp_path / 'a'
    classes = (root / 'classes.txt').read_text().split()
    assert classes == list(PHOTOS)
    for split in ('train', 'val'):
        for line in (root / 'meta' / f'{split}.txt').read_text().splitlines():
            rel, label = line.split()
            assert rel.split('/')[0] == classes[int(label)]
            assert Image.open(root / split / rel).size == (64, 64)
    make_tiny_imagenet(tmp_path / 'b', num_train=3, num_val=2, size=64, seed=1)
    make_tiny_imagenet(tmp_path / 'c', num_train=3, num_val=2, size=64, seed=2)
    assert _digest(root) == _digest(tmp_path / 'b') != _digest(tmp_path / 'c')


def test_tiny_coco_boxes_areas_and_polygons_match_the_drawn_shapes(tmp_path):
    root = tmp_path / 'a'
    assert make_tiny_coco(root, num_train=4, num_val=2, seed=1) == {'train': 4, 'val': 2}
    for split, num in (('train', 4), ('val', 2)):
        coco = json.loads((root / 'annotations' / f'instances_{split}.json').read_text())
        assert [c['name'] for c in coco['categories']] == list(SHAPES)
        assert len(coco['images']) == num
        assert {a['image_id'] for a in coco['annotations']} == {i['id'] for i in coco['images']}
        pixels = {i['id']: np.asarray(Image.open(root / split / i['file_name']).convert('RGB'), float)
                  for i in coco['images']}
        for image in coco['images']:
            assert pixels[image['id']].shape == (image['height'], image['width'], 3)
        assert any(p.shape[0] % 32 or p.shape[1] % 32 for p in pixels.values())
        for ann in coco['annotations']:
            h, w = pixels[ann['image_id']].shape[:2]
            poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
            x, y, bw, bh = ann['bbox']
            np.testing.assert_allclose([x, y, x + bw, y + bh], [*poly.min(0), *poly.max(0)], atol=0.01)
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
            # the polygon rasterised by pycocotools covers one uniformly coloured shape
            mask = mask_utils.decode(mask_utils.frPyObjects(ann['segmentation'], h, w))[..., 0]
            assert mask_utils.area(mask_utils.encode(np.asfortranarray(mask))) == \
                pytest.approx(ann['area'], rel=0.15)
            inside = pixels[ann['image_id']][binary_erosion(mask.astype(bool), iterations=2)]
            assert inside.std(0).max() < 6, ann  # one fill colour (JPEG noise aside)
    make_tiny_coco(tmp_path / 'b', num_train=4, num_val=2, seed=1)
    make_tiny_coco(tmp_path / 'c', num_train=4, num_val=2, seed=2)
    assert _digest(root) == _digest(tmp_path / 'b') != _digest(tmp_path / 'c')


def test_tiny_coco_refuses_shapes_larger_than_the_images(tmp_path):
    with pytest.raises(ValueError, match=r'radius_range \(10, 80\)'):
        make_tiny_coco(tmp_path, radius_range=(10, 80))


def test_tiny_ade20k_label_maps_say_exactly_which_photo_each_pixel_shows(monkeypatch):
    # every photo one flat colour with a zero channel, the texture flat grey (tinted, every channel > 0):
    # the colour of a pixel then names its source, which must be its label
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], np.uint8)
    monkeypatch.setattr(segmentation, 'load_photo',
                        lambda name: np.broadcast_to(colours[list(PHOTOS).index(name)], (300, 400, 3)))
    monkeypatch.setattr(segmentation, 'load_texture', lambda name: np.full((300, 300), 200, np.uint8))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(10):
        image, label = segmentation.make_scene(rng, size=96, max_objects=3)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and label.shape == (96, 96)
        source = np.ones((96, 96), np.uint8)  # background
        for i, colour in enumerate(colours):
            source[(image == colour).all(axis=2)] = i + 2
        assert (source == 1).sum() > 0 and (image[source == 1] > 0).all()
        np.testing.assert_array_equal(label, source)
        seen.update(np.unique(label).tolist())
    assert seen == set(range(1, len(SEG_CLASSES) + 1))


def test_tiny_ade20k_layout_and_determinism(tmp_path):
    counts = make_tiny_ade20k(tmp_path / 'a', num_train=3, num_val=2, size=64, seed=1)
    assert counts == {'training': 3, 'validation': 2}
    root = tmp_path / 'a'
    for split, tag, n in (('training', 'train', 3), ('validation', 'val', 2)):
        names = [f'ADE_{tag}_{i:08d}' for i in range(1, n + 1)]
        assert sorted(p.stem for p in (root / 'images' / split).iterdir()) == names
        assert sorted(p.name for p in (root / 'annotations' / split).iterdir()) == \
            [f'{name}.png' for name in names]
        for name in names:
            assert Image.open(root / 'images' / split / f'{name}.jpg').size == (64, 64)
            label = Image.open(root / 'annotations' / split / f'{name}.png')
            assert label.mode == 'L' and label.size == (64, 64)
            values = set(np.unique(np.asarray(label)).tolist())
            assert 1 in values and len(values) > 1 and values <= set(range(1, len(SEG_CLASSES) + 1))
    make_tiny_ade20k(tmp_path / 'b', num_train=3, num_val=2, size=64, seed=1)
    make_tiny_ade20k(tmp_path / 'c', num_train=3, num_val=2, size=64, seed=2)
    assert _digest(root) == _digest(tmp_path / 'b') != _digest(tmp_path / 'c')


def test_without_scikit_image_the_tiny_data_names_the_demo_extra():
    # in a fresh interpreter where importing skimage fails, as where it is not installed
    code = textwrap.dedent("""
        import sys
        sys.modules['skimage'] = None
        try:
            import hgnet_backbones.tiny_data
        except ModuleNotFoundError as e:
            print(e)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert "pip install 'hgnet_backbones[demo]'" in out.stdout, out.stdout + out.stderr[-2000:]
