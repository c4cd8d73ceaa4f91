"""Adaptations to mmengine 0.10.7 (rows ``config-bases`` and ``weights-only-resume`` of
:data:`hgnet_backbones.compat.ADAPTATIONS`)."""
import collections
import contextlib
from pathlib import Path

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

PACKAGE = 'hgnet_backbones'
# configs, tools and model-index.yml: in the wheel, copies; in a source checkout, links to the
# repository's. Found from this package's own files, which an editable install keeps in the checkout.
MIM_DIR = Path(__file__).resolve().parents[1] / '.mim'


def package_config_path(path: str) -> str:
    """The file a ``hgnet_backbones::path`` base names, looked up as mmengine looks up ``mmdet::path``
    (a config named in the model index, else a file under ``.mim/configs``)."""
    from mmengine.config.utils import _get_external_cfg_base_path, _get_external_cfg_path
    try:
        return _get_external_cfg_path(str(MIM_DIR.parent), path)
    except ValueError:
        return _get_external_cfg_base_path(str(MIM_DIR.parent), path)


@contextlib.contextmanager
def package_config_bases():
    """Meanwhile, config bases may name this package's configs as ``hgnet_backbones::path``, as they
    name mmdet's with ``mmdet::``, whether this package is installed from a wheel, in editable mode or
    found on ``PYTHONPATH``.

    mmengine 0.10.7 resolves that prefix only for the packages of its fixed ``MODULE2PACKAGE`` table
    (open-mmlab/mmengine#1410), and looks for their files in the distribution's install folder, where
    an editable install has only its import finder. ``Config._get_cfg_path`` answers for this package
    during the call only; other prefixes and relative bases go to mmengine's own."""
    from mmengine.config import Config
    original = Config.__dict__['_get_cfg_path']

    def get_cfg_path(cfg_path: str, filename: str):
        package, sep, path = cfg_path.partition('::')
        if sep and package == PACKAGE:
            return package_config_path(path), PACKAGE  # the scope mmengine gives a prefixed base
        return original.__func__(cfg_path, filename)

    Config._get_cfg_path = staticmethod(get_cfg_path)
    try:
        yield
    finally:
        Config._get_cfg_path = original


_MARK = '__hgnet_backbones__'


def to_weights_only(obj):
    """``obj`` with mmengine's ``HistoryBuffer`` objects and NumPy arrays and scalars replaced by
    marked dicts of tensors and Python values (new containers; ``obj`` is not changed), so that
    ``torch.load(weights_only=True)`` reads it.

    mmengine 0.10.7 saves its message hub (``HistoryBuffer``, NumPy values) in every checkpoint and
    resumes with ``torch.load``'s default, which torch >= 2.6 makes ``weights_only=True``: its own
    checkpoints then fail to resume (open-mmlab/mmengine#1655)."""
    if isinstance(obj, HistoryBuffer):
        return {_MARK: 'HistoryBuffer', 'max_length': obj.max_length,
                'log_history': torch.from_numpy(np.array(obj._log_history)),
                'count_history': torch.from_numpy(np.array(obj._count_history))}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return {_MARK: 'ndarray-list', 'value': to_weights_only(obj.tolist())}
        return {_MARK: 'ndarray', 'value': torch.from_numpy(np.array(obj))}
    if isinstance(obj, np.generic):  # before float/int: np.float64 is a float
        return {_MARK: 'numpy-scalar', 'value': obj.item(), 'dtype': str(obj.dtype)}
    return _map_containers(obj, to_weights_only)


def _map_containers(obj, fn):
    """``obj`` with ``fn`` applied to the values of its dicts, lists and tuples (new containers)."""
    if isinstance(obj, dict):
        items = ((k, fn(v)) for k, v in obj.items())
        return collections.OrderedDict(items) if isinstance(obj, collections.OrderedDict) else dict(items)
    if type(obj) in (list, tuple):
        return type(obj)(fn(v) for v in obj)
    return obj


def from_weights_only(obj):
    """The inverse of :func:`to_weights_only`."""
    if isinstance(obj, dict):
        kind = obj.get(_MARK)
        if kind == 'HistoryBuffer':
            return HistoryBuffer(obj['log_history'].numpy(), obj['count_history'].numpy(),
                                 obj['max_length'])
        if kind == 'ndarray':
            return obj['value'].numpy()
        if kind == 'ndarray-list':
            return np.array(from_weights_only(obj['value']), dtype=object)
        if kind == 'numpy-scalar':
            return np.dtype(obj['dtype']).type(obj['value'])
    return _map_containers(obj, from_weights_only)
