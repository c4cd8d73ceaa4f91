import hashlib

from PIL import Image

from hgnet_backbones.tiny_data import PHOTOS, load_photo, make_tiny_imagenet


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
