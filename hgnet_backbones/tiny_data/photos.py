"""The colour photos bundled with scikit-image (no download), as RGB uint8 arrays."""
import numpy as np

from ..extras import needs_extra

with needs_extra('demo'):
    import skimage.data

# name -> scikit-image loader; all ship inside the skimage package
PHOTOS = {
    'cat': 'chelsea',
    'coffee': 'coffee',
    'rocket': 'rocket',
    'motorcycle': 'stereo_motorcycle',
    'astronaut': 'astronaut',
}


def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 photo by name (see :data:`PHOTOS`)."""
    if name not in PHOTOS:
        raise ValueError(f'unknown photo {name!r}; choose one of {sorted(PHOTOS)}')
    image = getattr(skimage.data, PHOTOS[name])()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    return np.ascontiguousarray(image[..., :3])

# greyscale textures bundled with scikit-image, for backgrounds
TEXTURES = ('brick', 'grass', 'gravel')


def load_texture(name: str) -> np.ndarray:
    """A greyscale uint8 texture by name (see :data:`TEXTURES`)."""
    if name not in TEXTURES:
        raise ValueError(f'unknown texture {name!r}; choose one of {list(TEXTURES)}')
    return getattr(skimage.data, name)()


def load_horse() -> np.ndarray:
    """scikit-image's horse silhouette: a bool mask, True on the horse."""
    return ~skimage.data.horse()  # stored False on a True ground
