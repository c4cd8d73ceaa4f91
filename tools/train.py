"""Train any config of this project (mmpretrain, mmdet or mmseg, told by its default_scope).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
        [--cfg-options k=v ...]
    tools/dist_train.sh CONFIG NUM_PROCS [...]      # several processes (torchrun), CPU or GPU
    tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [...]   # Slurm (srun), GPUs
"""
import argparse
import os

from mmengine.config import DictAction

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the learning rate by the global batch over the config's "
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    train(args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
          launcher=args.launcher, cfg_options=args.cfg_options, no_validate=args.no_validate,
          auto_scale_lr=args.auto_scale_lr)


if __name__ == '__main__':
    main()
