"""Where this package registers what it adds to other libraries, and nothing else:

- its modules and hooks in mmengine's root ``MODELS`` and ``HOOKS`` registries. mmpretrain's, mmdet's
  and mmseg's registries are children of the root, and a child looks a plain ``type='HGNetV2'`` up in
  its ancestors when it lacks it, so one registration serves all three codebases, and importing this
  package needs none of them;
- for mmpretrain, once the user's program imports it (never before: it is optional, slow to import
  and fails beside transformers >= 4.52), the classification head
  (:class:`~hgnet_backbones.models.heads.HGNetV2ClsHead`) and the names of the converted weights
  (``configs/hgnetv2/metafile.yml``) in ``mmpretrain.list_models`` / ``get_model``.
"""
import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Callable, Dict

from mmengine.registry import HOOKS, MODELS

MIM_DIR = Path(__file__).resolve().parent / '.mim'

__all__ = ['HOOKS', 'MODELS', 'register_mmpretrain_models', 'register_when_imported']


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
    from .models import heads  # noqa: F401  (registers HGNetV2ClsHead)


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


def register_with_codebases() -> None:
    """What ``import hgnet_backbones`` arranges for mmpretrain (see the module docstring)."""
    register_when_imported('mmpretrain.models.heads', _register_head)
    register_when_imported('mmpretrain.apis.model', register_mmpretrain_models)
