"""What the tools call: configs of any codebase (:mod:`.config`), training and testing
(:mod:`.runner`), inference for the three tasks (:mod:`.inference`) and the tiny detection run of the
main job (:mod:`.demo`)."""
from .config import build_model, codebase_of, load_config
from .inference import classify, detect, infer, list_images, load_fitting_checkpoint, segment
from .runner import test, train

__all__ = ['build_model', 'classify', 'codebase_of', 'detect', 'infer', 'list_images', 'load_config',
           'load_fitting_checkpoint', 'segment', 'test', 'train']
