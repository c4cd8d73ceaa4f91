"""Training hooks, registered where mmpretrain, mmdet and mmseg all find them."""
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from .compat.mmengine import from_weights_only, to_weights_only
from .fileio import atomic_path, is_temporary, write_text
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


@HOOKS.register_module()
class EagerOptimizerStepHook(Hook):
    """Keep the optimizer update (backward, gradient clipping, step) out of the ``train_step`` that
    mmengine's ``cfg.compile`` compiles, leaving the forward and the loss to ``torch.compile``
    (backward then runs AOTAutograd's compiled graph).

    Without it TorchDynamo fails on the optimizer step of mmengine 0.10.7's optimizers built with a
    ``paramwise_cfg`` (their param groups are ``ConfigDict``s) and unrolls one loop per param group.
    :func:`hgnet_backbones.apis.train` adds it when the config sets ``compile``.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        wrapper = runner.optim_wrapper
        if hasattr(wrapper, 'update_params'):  # built by now (Runner.train builds it first)
            wrapper.update_params = torch.compiler.disable(wrapper.update_params)


class WorkDirBusyError(RuntimeError):
    """Another training holds the work dir."""


# work dir -> the lock this process holds on it; a run that raised keeps it until a later run of this
# process in the same work dir ends (mmengine has no hook for a failed run), or until the process ends
_HELD_WORK_DIRS: dict = {}


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments), with checkpoints that survive a kill and
    resume under torch's ``weights_only`` loading; a drop-in for ``default_hooks.checkpoint``.

    - Each checkpoint, and ``last_checkpoint``, is written to a temporary file beside it and renamed
      over the final name once complete: a kill during a save leaves the previous checkpoints whole.
      Temporary files of killed saves are removed when the next training in the work dir starts.
    - With ``max_keep_ckpts``, the oldest checkpoint is removed only after the new one is on disk
      (mmengine removes it first, so with ``max_keep_ckpts=1`` a kill during the save leaves none).
    - One training per work dir: a lock (``filelock``, released when the process ends, even by a
      kill) refuses a second training in a work dir that another process's training holds.
    - The message hub's ``HistoryBuffer`` objects and NumPy values are saved as tensors and plain
      containers and restored on load, so mmengine 0.10.7 resumes on torch >= 2.6, whose
      ``torch.load`` defaults to ``weights_only=True``, without allowlisting any class (row
      ``weights-only-resume`` of :data:`hgnet_backbones.compat.ADAPTATIONS`). Checkpoints written
      by plain mmengine still load where they loaded before.

    The atomic writes and the lock need a local ``out_dir``; elsewhere the hook saves as
    ``CheckpointHook`` does. Best checkpoints (``save_best``) are saved as ``CheckpointHook`` does.
    """

    LOCK_NAME = '.train.lock'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._work_dir = None

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not (is_main_process() and self._is_local()):
            return
        self._hold_work_dir(runner.work_dir)
        if osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):
                if is_temporary(name):
                    os.remove(osp.join(self.out_dir, name))
                    runner.logger.info(f'removed {name}, left by a save that did not finish')

    def _hold_work_dir(self, work_dir: str) -> None:
        from filelock import FileLock, Timeout
        key = osp.realpath(work_dir)
        if key not in _HELD_WORK_DIRS:
            lock = FileLock(osp.join(work_dir, self.LOCK_NAME), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise WorkDirBusyError(
                    f'work dir {work_dir} is in use by another training (it holds {lock.lock_file}); '
                    'wait for it to end, or give this run another --work-dir') from None
            _HELD_WORK_DIRS[key] = lock
        self._work_dir = key

    def after_run(self, runner) -> None:
        lock = _HELD_WORK_DIRS.pop(self._work_dir, None)
        if lock is not None:
            lock.release()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            checkpoint[key] = to_weights_only(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            checkpoint[key] = from_weights_only(checkpoint[key])

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids[0])
            self.keep_ckpt_ids.append(step)  # the deque drops the oldest id itself
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.last_ckpt = osp.join(self.out_dir, self.filename_tmpl.format(step))
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not is_main_process():
            return  # the runner saves on the main process only
        with atomic_path(self.last_ckpt) as tmp:
            runner.save_checkpoint(
                self.out_dir, osp.basename(tmp), self.file_client_args,
                save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in stale:  # only now that the new checkpoint is whole
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
