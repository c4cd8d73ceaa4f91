"""The checkpoint loaders this package gives mmengine (``load_from``, ``load_checkpoint``,
``init_cfg=dict(type='Pretrained')`` of whole models).

At import, :func:`register_checkpoint_loaders` adds loaders for sources no other loader takes:
``*.pdparams`` files, http(s) URLs of them and ``paddleclas://B4/ssld_stage1`` names, each converted
to the classifier layout (``backbone.*``, ``head.*``), or, for a published detector (PaddleDetection's
RT-DETR), to this package's detector. mmengine's own loaders stay as they are.

:func:`use_safe_checkpoint_loading` is an explicit opt-in (this project's tools call it) that also
routes mmengine's local files and http(s) URLs through the safe readers: mmengine 0.10.7 unpickles
URLs with ``weights_only=False``, and local files too on torch < 2.6.
"""
from urllib.parse import urlparse

from .convert import backbone_state_dict, convert_state_dict, guess_arch
from .convert.detector import convert_detector, is_detector_checkpoint
from .fetch import download
from .load import PADDLECLAS_SCHEME, resolve_checkpoint
from .read import read_checkpoint

PDPARAMS_FILE = r'.*\.pdparams$'
# sorts before mmengine's 'http://' and 'https://' (mmengine tries longer-sorting prefixes first)
PDPARAMS_URL = r'https?://.*\.pdparams$'


# The loaders are named load_from_<backend>, as mmengine's are: it logs "Loads checkpoint by
# {name[10:]} backend".
def load_from_pdparams(checkpoint: str, map_location=None) -> dict:
    """An mmengine checkpoint dict of PaddleClas weights: the classifier-layout ``state_dict`` and
    ``meta`` with the source and the arch; of a published detector (PaddleDetection's RT-DETR),
    the detector converted as :func:`~.convert.detector.convert_detector` does."""
    raw = read_checkpoint(resolve_checkpoint(checkpoint), map_location=map_location or 'cpu')
    if is_detector_checkpoint(raw):
        return _detector_checkpoint(raw, checkpoint)
    state = convert_state_dict(raw)
    arch, exact = guess_arch(backbone_state_dict(state))
    return {'state_dict': state,
            'meta': {'source': checkpoint, 'arch': arch if exact else 'unknown'}}


def register_checkpoint_loaders() -> None:
    """Give mmengine loaders for ``*.pdparams`` paths and URLs and ``paddleclas://`` names."""
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefix in (PDPARAMS_FILE, PDPARAMS_URL, PADDLECLAS_SCHEME):
        CheckpointLoader.register_scheme(prefix, load_from_pdparams, force=True)


def _detector_checkpoint(raw, source: str) -> dict:
    """A published detector checkpoint (read, not yet converted) as an mmengine checkpoint dict."""
    state, info = convert_detector(raw)
    meta = {k: v for k, v in info.items() if k not in ('dfine', 'left_out')}
    return {'state_dict': state, 'meta': dict(meta, source=source)}


def load_from_safe_local(filename, map_location=None):
    checkpoint = read_checkpoint(filename, map_location=map_location or 'cpu')
    if is_detector_checkpoint(checkpoint) and 'meta' not in checkpoint:  # a release, not ours
        return _detector_checkpoint(checkpoint, filename)
    return checkpoint


def load_from_safe_http(filename, map_location=None, model_dir=None):
    if urlparse(filename).path.endswith('.pdparams'):
        return load_from_pdparams(filename, map_location)
    return read_checkpoint(download(filename, check=read_checkpoint), map_location=map_location or 'cpu')


def use_safe_checkpoint_loading() -> None:
    """Opt in: mmengine's loaders of local files and http(s) URLs read through
    :func:`~hgnet_backbones.weights.read.read_checkpoint` (``weights_only=True``, safetensors, the
    restricted unpickler) and download through :func:`~hgnet_backbones.weights.fetch.download`
    (timeouts, URL-keyed cache). A checkpoint that holds anything but tensors and plain containers
    is then refused instead of unpickled; this project's tools call it, and so can a user's script."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme('', load_from_safe_local, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), load_from_safe_http, force=True)
