"""Adaptation to mmpretrain 1.2.0 (row ``mmpretrain-after-import`` of
:data:`hgnet_backbones.compat.ADAPTATIONS`): the classification head and the converted weights' names
are registered with mmpretrain right after the user's program imports it, never before.

mmpretrain is optional here, slow to import, and its ``mmpretrain.models`` fails to import beside
transformers >= 4.52, so ``import hgnet_backbones`` must not import it; yet its registry and
``ModelHub`` are module-level state that only exists once it is imported. A finder at the front of
``sys.meta_path`` waits for the two modules and leaves once both have run.
"""
import importlib.abc
import importlib.util
import sys
from typing import Callable, Dict

from .mmengine import MIM_DIR

__all__ = ['register_mmpretrain_models', 'register_when_imported', 'register_with_mmpretrain']


class _ThenRun(importlib.abc.Loader):
    """A module's own loader, followed by a callback once the module has run."""

    def __init__(self, loader, callback: Callable[[], None]):
        self.loader, self.callback = loader, callback

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader
        self.callback()

    def __getattr__(self, name):  # get_source, get_resource_reader, ...: the module's own loader
        return getattr(self.loader, name)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a callback right after a named module is first imported, then leaves ``sys.meta_path``."""

    def __init__(self):
        self.callbacks: Dict[str, Callable[[], None]] = {}

    def find_spec(self, fullname, path, target=None):
        callback = self.callbacks.pop(fullname, None)
        if callback is None:
            return None
        if not self.callbacks and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the other finders: this one has let go of it
        if spec is None or spec.loader is None:
            return None
        spec.loader = _ThenRun(spec.loader, callback)
        return spec


_AFTER_IMPORT = _AfterImport()
_models_registered = False


def register_when_imported(module: str, callback: Callable[[], None]) -> None:
    """``callback()`` now if ``module`` is imported already, else right after its first import."""
    if module in sys.modules:
        callback()
        return
    _AFTER_IMPORT.callbacks[module] = callback
    if _AFTER_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _AFTER_IMPORT)


def _register_head() -> None:
    from ..models import heads  # noqa: F401  (registers HGNetV2ClsHead)


def register_mmpretrain_models() -> None:
    """Add the converted weights of ``configs/hgnetv2/metafile.yml`` to mmpretrain's ``ModelHub``
    (``list_models``, ``get_model``), with configs from this package's ``.mim`` folder. Once."""
    from mmpretrain.apis.model import ModelHub
    index = MIM_DIR / 'model-index.yml'
    if not index.is_file():
        return  # a source checkout without its .mim links: nothing to register
    global _models_registered
    if not _models_registered:
        ModelHub.register_model_index(index, config_prefix=MIM_DIR)
        _models_registered = True


def register_with_mmpretrain() -> None:
    """What ``import hgnet_backbones`` arranges for mmpretrain (see the module docstring)."""
    register_when_imported('mmpretrain.models.heads', _register_head)
    register_when_imported('mmpretrain.apis.model', register_mmpretrain_models)
