"""SafeCheckpointHook: checkpoints that survive a kill, retention after the save, one training per
work dir, and checkpoints that resume under torch's weights_only loading. A toy model keeps it fast."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner

import hgnet_backbones  # noqa: F401  (registers the hooks)
from hgnet_backbones.compat.mmengine import from_weights_only, to_weights_only
from hgnet_backbones.hooks import WorkDirBusyError


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        loss = (self.linear(inputs).squeeze(1) - labels).square().mean()  # batches come collated
        return dict(loss=loss) if mode == 'loss' else loss


class ToyDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]), labels=torch.tensor(float(i)))


def _runner(work_dir, hook='SafeCheckpointHook', max_epochs=3, resume=False):
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type=hook, interval=1, max_keep_ckpts=1)),
        default_scope='mmengine', experiment_name=f'toy-{hook}-{max_epochs}-{resume}-{work_dir.name}')


def _killed_during_second_save(monkeypatch):
    """Make the second checkpoint save die half-way through writing its file, as a kill would."""
    import mmengine.runner.runner as runner_module
    real, calls = runner_module.save_checkpoint, []

    def save(checkpoint, filename, **kwargs):
        calls.append(filename)
        if len(calls) == 2:
            with open(filename, 'wb') as f:
                f.write(b'PK\x03\x04 half a checkpoint')
            raise KeyboardInterrupt('killed while saving')
        return real(checkpoint, filename, **kwargs)

    monkeypatch.setattr(runner_module, 'save_checkpoint', save)


def test_mmengines_checkpoint_hook_loses_the_only_checkpoint_when_a_save_is_killed(tmp_path,
                                                                                  monkeypatch):
    # what SafeCheckpointHook fixes: mmengine removes the old checkpoint before writing the new one
    _killed_during_second_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path, hook='CheckpointHook').train()
    assert not (tmp_path / 'epoch_1.pth').exists()
    assert (tmp_path / 'epoch_2.pth').read_bytes().startswith(b'PK\x03\x04 half')


def test_killed_save_keeps_the_last_checkpoint_and_the_next_run_resumes_from_it(tmp_path,
                                                                               monkeypatch):
    _killed_during_second_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path).train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    assert not list(tmp_path.glob('.epoch_2.pth.*'))  # the failed save removed its temporary
    # a SIGKILL would have left it: put one there, as fileio.atomic_path names them
    partial = tmp_path / '.epoch_2.pth.k3j4h5ab.tmp.pth'
    partial.write_bytes(b'PK\x03\x04 half a checkpoint')
    monkeypatch.undo()

    runner = _runner(tmp_path, resume=True)
    runner.train()
    assert runner.epoch == 3
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_3.pth']  # max_keep_ckpts=1
    assert not partial.exists()  # the killed save's temporary is cleaned up
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_3.pth')


def test_checkpoint_loads_with_weights_only_and_resume_restores_the_message_hub(tmp_path):
    runner = _runner(tmp_path, max_epochs=2)
    runner.train()
    saved = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)  # torch >= 2.6's default
    losses = runner.message_hub.log_scalars['train/loss']

    resumed = _runner(tmp_path, max_epochs=3, resume=True)
    resumed.load_or_resume()
    restored = resumed.message_hub.log_scalars['train/loss']
    assert isinstance(restored, HistoryBuffer)
    np.testing.assert_array_equal(restored.data[0], losses.data[0])
    assert restored.mean() == losses.mean()
    assert resumed.message_hub.get_info('keep_ckpt_ids') == [2]
    assert saved['meta']['epoch'] == 2


def test_second_training_in_a_busy_work_dir_is_refused(tmp_path):
    # another process holds the work dir, as a running training does
    holder = subprocess.Popen(
        [sys.executable, '-c', textwrap.dedent(f"""
            import sys, time
            from filelock import FileLock
            lock = FileLock({str(tmp_path / '.train.lock')!r})
            lock.acquire()
            print('held', flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(WorkDirBusyError, match=f'work dir {tmp_path} is in use by another training'):
            _runner(tmp_path).train()
        assert not list(tmp_path.glob('*.pth'))
    finally:
        holder.communicate('', timeout=30)
    _runner(tmp_path, max_epochs=1).train()  # free again once the other run ended
    assert (tmp_path / 'epoch_1.pth').exists()


def test_weights_only_form_round_trips_numpy_values_and_history_buffers():
    buffer = HistoryBuffer()
    for value in (0.5, 0.25, 2.0):
        buffer.update(value)
    state = {'hub': {'loss': buffer}, 'best': np.float64(0.75), 'ids': [np.int64(3), 4],
             'arr': np.arange(6, dtype=np.int16).reshape(2, 3), 'text': ('a', None)}
    plain = to_weights_only(state)
    restored = from_weights_only(plain)
    assert type(restored['best']) is np.float64 and restored['best'] == 0.75
    assert type(restored['ids'][0]) is np.int64 and restored['ids'] == [3, 4]
    assert restored['arr'].dtype == np.int16 and (restored['arr'] == state['arr']).all()
    assert restored['text'] == ('a', None)
    np.testing.assert_array_equal(restored['hub']['loss'].data[0], buffer.data[0])
    assert isinstance(state['hub']['loss'], HistoryBuffer)  # the input is left as it was
