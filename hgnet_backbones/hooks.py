"""Training hooks, registered where mmpretrain, mmdet and mmseg all find them."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from .registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainingHook(Hook):
    """Validate once before the first training iteration, and when training ends log the validation
    metrics from before and after it, e.g. to see how far a fine-tuning run moved the mIoU.

    ``before`` and ``after`` hold those metrics (dicts) once known. A resumed run does not validate its
    starting point again.
    """

    priority = 'LOW'

    def __init__(self):
        self.before: Optional[dict] = None
        self.after: Optional[dict] = None

    def before_train(self, runner) -> None:
        if runner.val_loop is None or runner.iter > 0:
            return
        self.before = dict(runner.val_loop.run())
        self.after = None

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        self.after = dict(metrics or {})

    def after_train(self, runner) -> None:
        if self.before is not None and self.after is not None:
            for when, metrics in (('before', self.before), ('after', self.after)):
                shown = {k: round(float(v), 4) for k, v in metrics.items()}
                print_log(f'validation {when} training: {shown}', logger='current')
