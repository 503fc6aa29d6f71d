# Copyright (c) mmattn contributors. All rights reserved.
"""Bad checkpoints under mmattn: what safe loading accepts and refuses
(empty and string numpy arrays yes; object arrays, ``bytes(n)`` and
arbitrary globals no), files that are not checkpoints, and strict loading
(the helper, the one-line WARNING for ``load_from``, and the tools that
refuse a checkpoint of another model)."""
import logging
import os
import pickle
import pickletools

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint, save_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

import mmattn  # noqa: F401  (safe globals, checked local loader)
from mmattn.utils import (CheckpointFileError, CheckpointMismatchError,
                          CheckpointMismatchHook, StateDictMismatch,
                          compare_state_dict, empty_bytes,
                          load_checkpoint_strict)
from mmattn.utils.checkpoint_mismatch_hook import pop_mismatch_hooks



# ---------------------------------------------------------------------- #
# safe loading: what numpy needs is allowed, nothing more
# ---------------------------------------------------------------------- #
def _globals_in(path):
    """GLOBAL opcodes of the checkpoint's data.pkl (module.name strings)."""
    import zipfile
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith('data.pkl'))
        data = archive.read(name)
    return {
        arg.replace(' ', '.')
        for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL'
    }


def test_empty_array_pickles_bytes_without_arguments(tmp_path):
    """What the stand-in has to accept: torch.save (protocol 2) writes the
    raw data of an empty array as a call of builtins.bytes with no
    arguments, and non-empty data through _codecs.encode."""
    path = tmp_path / 'empty.pth'
    torch.save({'a': np.array([], dtype=np.float64)}, path)
    found = _globals_in(path)
    assert '__builtin__.bytes' in found or 'builtins.bytes' in found
    data = pickle.dumps(b'', protocol=2)
    ops = [
        op.name for op, _, _ in pickletools.genops(data)
        if 'PUT' not in op.name  # memo bookkeeping
    ]
    assert ops == ['PROTO', 'GLOBAL', 'EMPTY_TUPLE', 'REDUCE', 'STOP']


@pytest.mark.parametrize(
    'value',
    [
        np.array([], dtype=np.float64),
        np.zeros((0, 3), dtype=np.float32),
        np.array(['a', 'bcd']),  # <U3: numpy.dtypes.StrDType
        np.array([b'xy', b'z']),  # |S2: numpy.dtypes.BytesDType
        np.array([], dtype='<U1'),
    ],
    ids=['empty-float', 'empty-2d', 'str', 'bytes', 'empty-str'])
def test_numpy_arrays_load_under_safe_loading(tmp_path, value):
    path = tmp_path / 'meta.pth'
    torch.save({'meta': {'value': value}}, path)
    loaded = torch.load(path)  # torch's default: weights_only=True
    np.testing.assert_array_equal(loaded['meta']['value'], value)
    assert loaded['meta']['value'].dtype == value.dtype
    # and through mmengine's loader, as load_from / resume read it
    loaded = _load_checkpoint(str(path), map_location='cpu')
    np.testing.assert_array_equal(loaded['meta']['value'], value)


def test_empty_history_buffer_loads(tmp_path):
    path = tmp_path / 'hub.pth'
    full = HistoryBuffer()
    full.update(2.0)
    torch.save({'message_hub': {'empty': HistoryBuffer(), 'full': full}},
               path)
    hub = torch.load(path)['message_hub']
    assert isinstance(hub['empty'], HistoryBuffer)
    assert len(hub['empty'].data[0]) == 0
    hub['empty'].update(3.0)  # a working buffer, statistics included
    assert hub['empty'].current() == 3.0
    assert hub['full'].mean() == 2.0


class _HugeBytes:
    """Pickles as ``bytes(10**12)``: a terabyte allocation if allowed."""

    def __reduce__(self):
        return bytes, (10**12, )


class _System:
    """Pickles as ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_safe_loading_still_refuses_objects_bytes_and_globals(tmp_path):
    obj = tmp_path / 'object_array.pth'
    torch.save({'meta': np.array([{'a': 1}, None], dtype=object)}, obj)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(obj)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(obj), map_location='cpu')

    huge = tmp_path / 'huge_bytes.pth'
    torch.save({'x': _HugeBytes()}, huge)
    with pytest.raises(pickle.UnpicklingError, match=r'refused bytes\(1000'):
        torch.load(huge)

    marker = tmp_path / 'pwned'
    system = tmp_path / 'system.pth'
    torch.save({'x': _System(f'touch {marker}')}, system)
    for load in (torch.load, lambda p: _load_checkpoint(str(p))):
        with pytest.raises(pickle.UnpicklingError):
            load(system)
    assert not marker.exists()


def test_empty_bytes_stand_in_accepts_only_no_arguments():
    assert empty_bytes() == b''
    for args in ((10**12, ), (b'abc', ), ('abc', 'utf-8'), ([1, 2], )):
        with pytest.raises(pickle.UnpicklingError, match='refused bytes'):
            empty_bytes(*args)


# ---------------------------------------------------------------------- #
# files that are not checkpoints
# ---------------------------------------------------------------------- #
class _Net(nn.Module):

    def __init__(self, width=4, extra=False):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, 2)
        if extra:
            self.extra = nn.Linear(2, 2)


def test_text_file_is_not_a_checkpoint(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('this is not a checkpoint\n')
    for load in (lambda: _load_checkpoint(str(text)),
                 lambda: load_checkpoint(_Net(), str(text)),
                 lambda: load_checkpoint_strict(_Net(), str(text))):
        with pytest.raises(CheckpointFileError) as info:
            load()
        message = str(info.value)
        assert str(text) in message
        assert 'not a PyTorch checkpoint' in message
        assert 'looks like text' in message
        # not torch's advice to turn safe loading off
        assert 'weights_only' not in message
        assert 'arbitrary code' not in message


def test_empty_and_truncated_files_are_named(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointFileError, match='empty.pth is empty'):
        _load_checkpoint(str(empty))

    good = tmp_path / 'good.pth'
    torch.save({'state_dict': _Net().state_dict()}, good)
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        cut_file = tmp_path / f'cut_{cut}.pth'
        cut_file.write_bytes(data[:cut])
        with pytest.raises(CheckpointFileError,
                           match=f'cut_{cut}.pth is truncated or corrupt'
                           ) as info:
            _load_checkpoint(str(cut_file))
        assert info.value.corrupt
    # the complete file still loads
    assert set(_load_checkpoint(str(good))['state_dict']) == set(
        _Net().state_dict())


def test_zip_archive_that_is_not_a_checkpoint(tmp_path):
    import zipfile
    path = tmp_path / 'archive.pth'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('readme.txt', 'hello')
    with pytest.raises(CheckpointFileError, match='has no data.pkl'):
        _load_checkpoint(str(path))


# ---------------------------------------------------------------------- #
# strict loading
# ---------------------------------------------------------------------- #
def test_strict_loader_loads_a_matching_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = _Net()
    path = str(tmp_path / 'net.pth')
    state = source.state_dict()
    del state['bn.num_batches_tracked']  # mmengine allows this one missing
    save_checkpoint({'state_dict': state, 'meta': {}}, path)
    target = _Net()
    checkpoint = load_checkpoint_strict(target, path)
    assert checkpoint['meta'] == {}
    for key, value in source.state_dict().items():
        if 'num_batches_tracked' not in key:
            torch.testing.assert_close(target.state_dict()[key], value)


def test_strict_loader_refuses_and_names_every_kind_of_mismatch(tmp_path):
    torch.manual_seed(0)
    path = str(tmp_path / 'wide.pth')
    save_checkpoint(
        {
            'state_dict': _Net(width=8, extra=True).state_dict(),
            'meta': {
                'experiment_name': 'wide_net_20250101_000000'
            }
        }, path)
    target = _Net(width=4)
    target.add_module('tail', nn.Linear(2, 1))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint_strict(target, path, config='configs/x.py')
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith(f'checkpoint {path} does not load strictly '
                              'into the model of configs/x.py')
    assert "'wide_net_20250101_000000'" in message
    # conv.weight, conv.bias, bn.{weight,bias,running_mean,running_var},
    # head.weight differ in shape; 7 of them, 3 named
    assert '7 shape mismatches (conv.weight: checkpoint (8, 3, 3, 3), ' \
        'model (4, 3, 3, 3); conv.bias' in message
    assert 'and 4 more' in message
    assert '2 keys missing from the checkpoint (tail.weight; tail.bias)' \
        in message
    assert '2 keys the model does not have (extra.weight; extra.bias)' \
        in message
    mismatch = info.value.mismatch
    assert sorted(mismatch.missing) == ['tail.bias', 'tail.weight']
    assert sorted(mismatch.unexpected) == ['extra.bias', 'extra.weight']
    assert len(mismatch.shape) == 7
    # nothing was copied in
    for key, value in target.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_compare_state_dict_strips_module_prefix_and_bare_dicts():
    net = _Net()
    wrapped = {'module.' + k: v for k, v in net.state_dict().items()}
    assert not compare_state_dict(_Net(), wrapped)
    assert not compare_state_dict(_Net(), {'state_dict': wrapped})
    assert StateDictMismatch().summary() == 'none'


# ---------------------------------------------------------------------- #
# load_from in training: mmengine's behaviour plus one WARNING line
# ---------------------------------------------------------------------- #
class _ToyModel(BaseModel):

    def __init__(self, width=1):
        super().__init__()
        self.linear = nn.Linear(2, width)

    def forward(self, x, y, mode='tensor'):
        out = self.linear(torch.stack(x))[:, 0]
        if mode == 'loss':
            return dict(loss=((out - torch.stack(y))**2).mean())
        return out


class _ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([1.0, float(i)]), y=torch.tensor(i / 8))


def _toy_runner(work_dir, width, load_from=None, custom_hooks=None):
    return Runner(
        model=_ToyModel(width),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        default_hooks=dict(checkpoint=None),
        custom_hooks=custom_hooks,
        load_from=load_from,
        default_scope='mmengine')


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_load_from_mismatch_is_one_warning_line(tmp_path, capsys):
    path = str(tmp_path / 'wide.pth')
    save_checkpoint({'state_dict': _ToyModel(width=3).state_dict()}, path)
    runner = _toy_runner(
        tmp_path / 'work',
        width=1,
        load_from=path,
        # as a user adds it in a config; tools/train.py registers it itself
        custom_hooks=[dict(type='CheckpointMismatchHook')])
    handler = _Records()
    runner.logger.addHandler(handler)
    try:
        runner.load_or_resume()  # mmengine's non-strict load goes on
    finally:
        runner.logger.removeHandler(handler)
    ours = [
        r.getMessage() for r in handler.records
        if r.getMessage().startswith('checkpoint ')
    ]
    assert len(ours) == 1, [r.getMessage() for r in handler.records]
    line = ours[0]
    assert '\n' not in line
    assert line.startswith(f'checkpoint {path} does not match the model: '
                           '2 shape mismatches (linear.weight: checkpoint '
                           '(3, 2), model (1, 2); linear.bias: checkpoint '
                           '(3,), model (1,))')
    # mmengine's own multi-line message is still printed (behaviour kept)
    assert 'size mismatch for linear.weight' in capsys.readouterr().out


def test_strict_hook_stops_a_runner_before_it_loads(tmp_path):
    path = str(tmp_path / 'wide.pth')
    save_checkpoint({'state_dict': _ToyModel(width=3).state_dict()}, path)
    runner = _toy_runner(tmp_path / 'work', width=1, load_from=path)
    runner.register_hook(
        CheckpointMismatchHook(strict=True, checkpoint=path, config='c.py'))
    before = runner.model.linear.weight.detach().clone()
    with pytest.raises(CheckpointMismatchError,
                       match=r'wide.pth does not load strictly into the '
                       r'model of c.py: 2 shape mismatches'):
        runner.load_or_resume()
    torch.testing.assert_close(runner.model.linear.weight.detach(), before)


class _LoudMismatchHook(CheckpointMismatchHook):
    """A subclass may do more than report: tools leave it registered."""


def test_pop_mismatch_hooks_unregisters_the_configs_hooks(tmp_path):
    runner = _toy_runner(
        tmp_path / 'work',
        width=1,
        custom_hooks=[
            dict(type='CheckpointMismatchHook', config='a.py'),
            dict(type='mmengine.CheckpointMismatchHook', advice='Use b.'),
            CheckpointMismatchHook(strict=True, checkpoint='c.pth'),
            _LoudMismatchHook(),
        ])
    kwargs = pop_mismatch_hooks(runner)
    assert kwargs == dict(
        config='a.py', advice='Use b.', checkpoint='c.pth', strict=True)
    assert [
        type(hook) for hook in runner.hooks
        if isinstance(hook, CheckpointMismatchHook)
    ] == [_LoudMismatchHook]
    assert pop_mismatch_hooks(runner) == {}
    # none listed: nothing changes, and a non-strict one gives no strict
    runner = _toy_runner(tmp_path / 'plain', width=1)
    hooks = list(runner.hooks)
    assert pop_mismatch_hooks(runner) == {}
    assert runner.hooks == hooks
    runner = _toy_runner(
        tmp_path / 'lenient',
        width=1,
        custom_hooks=[dict(type='CheckpointMismatchHook')])
    assert pop_mismatch_hooks(runner) == {}
