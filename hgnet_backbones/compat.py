"""What mmengine 0.10.7 needs on torch >= 2.6 (``torch.load(weights_only=True)`` by default) and NumPy 2,
applied when this package is imported.

mmengine's own checkpoints hold NumPy arrays and scalars and ``HistoryBuffer`` objects (the message
hub), none of which ``weights_only`` loading accepts, so ``--resume`` fails. Rather than loading with
``weights_only=False`` (which runs arbitrary pickles), this allowlists exactly those types, under both
NumPy module names, and stops ``HistoryBuffer`` from pickling its default statistics as bound methods
(``builtins.getattr`` references, which torch rightly refuses); custom statistics are still saved.

mmengine writes checkpoints straight to their final name, so a run killed while saving leaves a
truncated ``epoch_N.pth``; local writes here go to a temporary file that is then renamed.
"""
import os

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer

try:  # NumPy >= 2
    from numpy._core import multiarray
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray

_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getstate(self) -> dict:
    state = self.__dict__.copy()
    custom = {k: v for k, v in self._statistics_methods.items() if k not in _DEFAULT_STATISTICS}
    if custom:
        state['statistics_methods'] = custom
    return state


def _safe_globals() -> list:
    allowed = [HistoryBuffer, np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    # NumPy 2 pickles some dtypes through their classes (numpy.dtypes.Float64DType, ...)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return allowed


def _atomic_put(self, obj: bytes, filepath) -> None:
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f'.{os.path.basename(filepath)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(obj)
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def apply() -> None:
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    LocalBackend.put = _atomic_put
    torch.serialization.add_safe_globals(_safe_globals())


apply()
