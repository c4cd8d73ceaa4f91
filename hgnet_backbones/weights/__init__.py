"""Everything about checkpoints: safe reading (:mod:`.read`), key conversion (:mod:`.convert`),
downloads (:mod:`.fetch`), the published weights (:mod:`.zoo`), loading into a model or a file
(:mod:`.load`) and the loaders mmengine calls (:mod:`.mmengine`)."""
from .convert import convert_state_dict, detect_format, guess_arch
from .fetch import DownloadError
from .load import convert_checkpoint_file, load_pretrained_backbone, resolve_checkpoint
from .mmengine import register_checkpoint_loaders, use_safe_checkpoint_loading
from .read import CheckpointError, UnsafePickleError, read_checkpoint, read_pdparams

__all__ = ['CheckpointError', 'DownloadError', 'UnsafePickleError', 'convert_checkpoint_file',
           'convert_state_dict', 'detect_format', 'guess_arch', 'load_pretrained_backbone',
           'read_checkpoint', 'read_pdparams', 'register_checkpoint_loaders', 'resolve_checkpoint',
           'use_safe_checkpoint_loading']
