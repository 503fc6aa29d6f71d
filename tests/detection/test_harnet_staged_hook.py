# Copyright (c) mmattn contributors. All rights reserved.
"""StagedAttentionHook: HAR-Net's incremental training through mmengine's
Runner, including resume before and after the switch."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmattn  # noqa: F401  (registers the hook, makes resume work)
from mmattn.blocks import CrossLevelSE, SpatialAttention
from mmattn.detection.hooks import StagedAttentionHook

SWITCH = 3
ATTENTION = ('spatial_attention', 'cls_channel_attention')


class _ToyAttentionNet(BaseModel):
    """A conv, the two mmattn gates HARRetinaHead uses (same attribute
    names), and a linear regressor."""

    def __init__(self):
        super().__init__()
        self.main = nn.Conv2d(3, 8, 3, padding=1)
        self.spatial_attention = SpatialAttention(
            in_channels=8, channels=4, dilations=(1, 2, 1))
        self.cls_channel_attention = CrossLevelSE(
            channels=8, num_levels=1, reduced_channels=4)
        self.regressor = nn.Linear(8, 1)

    def forward(self, inputs, target=None, mode='tensor'):
        feat = F.relu(self.main(torch.stack(inputs)))
        feat = feat * self.spatial_attention(feat)
        feat = feat * self.cls_channel_attention([feat])
        out = self.regressor(feat.mean((2, 3))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(target))**2).mean())
        return out


class _ToyDataset(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(i)
        return dict(
            inputs=torch.rand(3, 8, 8, generator=gen),
            target=torch.tensor(float(i)))


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


class _Recorder(Hook):
    """Per iteration: requires_grad of the attention params, and which
    params the step changed."""

    priority = 'LOW'  # after StagedAttentionHook (NORMAL)

    def __init__(self):
        self.log = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._before = _snapshot(runner.model)
        self._grad_on = {
            n: p.requires_grad
            for n, p in runner.model.named_parameters()
        }

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        after = _snapshot(runner.model)
        changed = {
            n: not torch.equal(self._before[n], after[n])
            for n in after
        }
        self.log[runner.iter] = dict(grad_on=self._grad_on, changed=changed)


def _is_attention(name):
    return name.startswith(ATTENTION)


def _runner(work_dir, max_iters, hook, resume_from=None, by_epoch=False):
    recorder = _Recorder()
    train_cfg = dict(by_epoch=True, max_epochs=max_iters) if by_epoch \
        else dict(by_epoch=False, max_iters=max_iters)
    runner = Runner(
        model=_ToyAttentionNet(),
        work_dir=str(work_dir),
        experiment_name=f'staged_{osp.basename(str(work_dir))}_{max_iters}'
        f'_{resume_from is not None}',
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2),
        # momentum and weight decay: a frozen param must still not move
        optim_wrapper=dict(
            optimizer=dict(
                type='SGD', lr=0.05, momentum=0.9, weight_decay=0.1)),
        train_cfg=train_cfg,
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=by_epoch),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[hook, recorder],
        resume=resume_from is not None,
        load_from=resume_from,
        default_scope='mmdet',
        randomness=dict(seed=0))
    return runner, recorder


def _check_stage(entry, attention_on):
    for name, on in entry['grad_on'].items():
        if _is_attention(name):
            assert on is attention_on, name
        else:
            assert on, name
    for name, changed in entry['changed'].items():
        if _is_attention(name):
            assert changed is attention_on, name
        else:
            assert changed, name


@pytest.mark.parametrize('stage1', ['bypass', 'freeze'])
def test_switch_at_iteration_and_resume_both_sides(tmp_path, stage1):
    hook_cfg = dict(
        type='StagedAttentionHook', switch_iter=SWITCH, stage1=stage1)
    runner, rec = _runner(tmp_path / 'full', 5, dict(hook_cfg))
    runner.train()
    assert sorted(rec.log) == [0, 1, 2, 3, 4]
    for it in range(5):
        _check_stage(rec.log[it], attention_on=it >= SWITCH)
    final = _snapshot(runner.model)

    # resume after 2 iterations: iteration 2 is still stage 1
    ckpt = str(tmp_path / 'full' / 'iter_2.pth')
    runner, rec = _runner(
        tmp_path / 'before', 5, dict(hook_cfg), resume_from=ckpt)
    runner.train()
    assert sorted(rec.log) == [2, 3, 4]
    for it in (2, 3, 4):
        _check_stage(rec.log[it], attention_on=it >= SWITCH)
    resumed = _snapshot(runner.model)
    for name in final:  # same data order, same optimizer state
        assert torch.allclose(final[name], resumed[name], atol=1e-6), name

    # resume after 4 iterations: stage 2 from the first resumed iteration
    ckpt = str(tmp_path / 'full' / 'iter_4.pth')
    runner, rec = _runner(
        tmp_path / 'after', 5, dict(hook_cfg), resume_from=ckpt)
    runner.train()
    assert sorted(rec.log) == [4]
    _check_stage(rec.log[4], attention_on=True)


def test_switch_at_epoch(tmp_path):
    # 4 samples, batch 2: epoch 0 = iterations 0-1 (stage 1), epoch 1 =
    # iterations 2-3 (stage 2)
    runner, rec = _runner(
        tmp_path,
        2,
        dict(type='StagedAttentionHook', switch_epoch=1),
        by_epoch=True)
    runner.train()
    for it in range(4):
        _check_stage(rec.log[it], attention_on=it >= 2)


def _stub_runner(model, iteration=0, epoch=0, train_loop=None):
    return SimpleNamespace(
        model=model,
        iter=iteration,
        epoch=epoch,
        train_loop=train_loop,
        logger=MMLogger.get_instance('mmattn_staged_hook_test'))


def test_bypass_makes_the_gates_identity_and_freeze_does_not():
    x = torch.rand(2, 8, 5, 5)
    model = _ToyAttentionNet()
    hook = StagedAttentionHook(switch_iter=10)
    runner = _stub_runner(model)
    hook.before_train(runner)
    assert torch.equal(model.spatial_attention(x), torch.ones(2, 1, 5, 5))
    assert torch.equal(
        model.cls_channel_attention([x]), torch.ones(2, 8, 1, 1))
    runner.iter = 10
    hook.before_train_iter(runner, 10)
    mask = model.spatial_attention(x)
    assert mask.shape == (2, 1, 5,
                          5) and not torch.equal(mask, torch.ones_like(mask))
    assert all(p.requires_grad for p in model.parameters())

    frozen_model = _ToyAttentionNet()
    StagedAttentionHook(
        switch_iter=10,
        stage1='freeze').before_train(_stub_runner(frozen_model))
    mask = frozen_model.spatial_attention(x)
    assert not torch.equal(mask, torch.ones_like(mask))
    assert not any(p.requires_grad
                   for p in frozen_model.spatial_attention.parameters())


def test_switch_restores_the_built_requires_grad():
    model = _ToyAttentionNet()
    model.cls_channel_attention.fc_reduce.bias.requires_grad_(False)
    hook = StagedAttentionHook(switch_iter=1)
    runner = _stub_runner(model)
    hook.before_train(runner)
    assert not any(p.requires_grad
                   for p in model.cls_channel_attention.parameters())
    runner.iter = 1
    hook.before_train_iter(runner, 1)
    assert model.cls_channel_attention.fc_expand.weight.requires_grad
    assert not model.cls_channel_attention.fc_reduce.bias.requires_grad


@pytest.mark.parametrize('kwargs',
                         [dict(), dict(switch_iter=2, switch_epoch=1)])
def test_exactly_one_switch_point(kwargs):
    with pytest.raises(ValueError, match='switch_iter=.*switch_epoch='):
        StagedAttentionHook(**kwargs)


@pytest.mark.parametrize('kwargs,match', [
    (dict(switch_iter=-1), '-1'),
    (dict(switch_iter=1.5), '1.5'),
    (dict(switch_epoch='3'), "'3'"),
    (dict(switch_iter=1, patterns=[]), r'\[\]'),
    (dict(switch_iter=1, patterns='spatial'), "'spatial'"),
    (dict(switch_iter=1, patterns=['(']), r"'\('"),
    (dict(switch_iter=1, stage1='off'), "'off'"),
])
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StagedAttentionHook(**kwargs)


def test_pattern_matching_no_parameter_is_named():
    hook = StagedAttentionHook(
        switch_iter=1, patterns=['spatial_attention', 'reg_se'])
    with pytest.raises(ValueError, match="'reg_se'"):
        hook.before_train(_stub_runner(_ToyAttentionNet()))


def test_bypass_refuses_modules_it_cannot_take_out():
    hook = StagedAttentionHook(switch_iter=1, patterns=['regressor'])
    with pytest.raises(ValueError, match='regressor'):
        hook.before_train(_stub_runner(_ToyAttentionNet()))
    # freezing works for any parameter
    model = _ToyAttentionNet()
    StagedAttentionHook(
        switch_iter=1, patterns=['regressor'],
        stage1='freeze').before_train(_stub_runner(model))
    assert not model.regressor.weight.requires_grad


def test_switch_epoch_with_an_iteration_loop_raises():
    from mmengine.runner import IterBasedTrainLoop
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    hook = StagedAttentionHook(switch_epoch=1)
    with pytest.raises(ValueError, match='switch_epoch=1'):
        hook.before_train(_stub_runner(_ToyAttentionNet(), train_loop=loop))


def test_default_patterns_match_the_har_head():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    head = MODELS.build(
        dict(
            type='HARRetinaHead',
            num_classes=2,
            in_channels=16,
            feat_channels=16,
            stacked_convs=1,
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
            spatial_attention=dict(channels=4, dilations=(1, 2, 1)),
            channel_attention=dict(reduced_channels=4)))
    model = nn.Module()
    model.bbox_head = head
    hook = StagedAttentionHook(switch_iter=5)
    hook.before_train(_stub_runner(model))
    frozen = sorted({
        n.split('.')[1]
        for n, p in model.named_parameters() if not p.requires_grad
    })
    assert frozen == [
        'cls_channel_attention', 'reg_channel_attention', 'spatial_attention'
    ]
    assert sorted(hook._bypass_modules) == [
        'bbox_head.cls_channel_attention', 'bbox_head.reg_channel_attention',
        'bbox_head.spatial_attention'
    ]
    feats = [torch.rand(1, 16, s, s) for s in (16, 8, 4, 2, 1)]
    with torch.no_grad():
        cls_scores, bbox_preds = head(feats)
    assert len(cls_scores) == 5 and cls_scores[0].shape[-1] == 16


def test_bypass_turns_aligned_attention_into_identity():
    from mmattn.blocks import AlignedAttention
    model = nn.Module()
    model.aligned_attentions = nn.ModuleList([
        AlignedAttention(
            in_channels=8,
            mid_channels=8,
            deform_groups=1,
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    ])
    x = torch.rand(1, 8, 6, 6)  # non-negative, like a post-ReLU C4/C5
    with torch.no_grad():
        before = model.aligned_attentions[0](x)
    assert not torch.allclose(before, x)
    hook = StagedAttentionHook(switch_iter=1, patterns=['aligned_attention'])
    runner = _stub_runner(model)
    hook.before_train(runner)
    assert torch.equal(model.aligned_attentions[0](x), x)
    runner.iter = 1
    hook.before_train_iter(runner, 1)
    with torch.no_grad():
        assert torch.equal(model.aligned_attentions[0](x), before)


# --------------------------------------------------------------------------
# the shipped staged config, for real: the switch turns on a live branch
# --------------------------------------------------------------------------
class _ParamChange(Hook):
    """Relative change ``|w_after - w_before| / |w_before|`` per iteration
    of the spatial-attention convs and of the tower convs."""

    def __init__(self):
        self.log = {}

    def _weights(self, runner):
        head = runner.model.bbox_head
        return dict(
            sa=[m.conv.weight for m in head.spatial_attention.convs],
            tower=[m.conv.weight for m in head.cls_convs])

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._before = {k: [w.detach().clone() for w in ws]
                        for k, ws in self._weights(runner).items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        change = {}
        for key, weights in self._weights(runner).items():
            rel = [((w.detach() - b).norm() / b.norm()).item()
                   for w, b in zip(weights, self._before[key])]
            change[key] = sum(rel) / len(rel)
        self.log[runner.iter] = change


def test_staged_config_switches_on_a_live_spatial_attention(
        repo_root, synthetic_det_root, tmp_path):
    """harnet_r18_tiny_synthetic_staged.py through mmengine's Runner on
    generated images (switch at iteration 3 of 6, no warm-up): the branch
    does not move before the switch, and after it its weights move by a
    relative 1e-4 or more per step (the dead Normal(0.01) init: 2e-6)."""
    from mmattn.experiment import load_config, shorten_schedule, train_config
    cfg = load_config(
        f'{repo_root}/configs/harnet/harnet_r18_tiny_synthetic_staged.py', {
            'custom_hooks.0.switch_iter': 3,
            'model_wrapper_cfg': None,
        })
    shorten_schedule(cfg, 6, warmup=0)
    cfg.param_scheduler = []  # the config's lr (SGD 0.02) throughout
    root = synthetic_det_root + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0,
                           persistent_workers=False)
        cfg[loader].dataset.data_root = root
        for t in cfg[loader].dataset.pipeline:
            if t.type == 'Resize':
                t.scale = (64, 64)
    cfg.val_evaluator.ann_file = root + 'annotations/instances_val.json'
    cfg.train_cfg.val_interval = 100  # no validation
    recorder = _ParamChange()
    train_config(cfg, str(tmp_path / 'staged'), seed=0,
                 extra_hooks=[recorder])
    # runner.iter counts from 0 during an iteration: 0-2 stage 1, 3-5 stage 2
    assert sorted(recorder.log) == [0, 1, 2, 3, 4, 5]
    for it in (0, 1, 2):
        assert recorder.log[it]['sa'] == 0.0
        assert recorder.log[it]['tower'] > 0
    # Relative change of the branch's weights per step. With the dead
    # Normal(0.01) init of mmattn before 2026-12 it was about 2e-6.
    for it in (3, 4, 5):
        assert recorder.log[it]['sa'] > 5e-5, (it, recorder.log[it])


class _ForeignGate(nn.Module):
    """A gate from another package: no mmattn base class, only the
    ``bypass`` flag of mmattn.blocks.bypass."""

    def __init__(self, channels):
        super().__init__()
        self.bypass = False
        self.fc = nn.Conv2d(channels, 1, 1)
        self.calls = 0

    def forward(self, x):
        if self.bypass:
            return x.new_ones(x.shape[0], 1, *x.shape[2:])
        self.calls += 1
        return self.fc(x).sigmoid()


class _ForeignNet(_ToyAttentionNet):

    def __init__(self):
        super().__init__()
        self.spatial_attention = _ForeignGate(8)


def test_any_block_with_the_bypass_flag_is_postponed(tmp_path):
    """The hook only toggles ``bypass``: a block it has never heard of is
    taken out in stage 1, trained in stage 2, and left on after training."""
    hook = dict(type='StagedAttentionHook', switch_iter=2)
    runner, rec = _runner(tmp_path / 'foreign', 4, hook)
    runner.model = _ForeignNet()
    runner.train()
    gate = runner.model.spatial_attention
    # 2 stage-2 iterations called the gate; stage 1 never did
    assert gate.calls == 2
    assert gate.bypass is False
    assert runner.model.cls_channel_attention.bypass is False
    for it in range(4):
        assert rec.log[it]['grad_on']['spatial_attention.fc.weight'] is (
            it >= 2)


def test_bypassed_blocks_leave_the_features_unchanged():
    from mmattn.blocks import AlignedAttention, is_bypassable
    x = torch.randn(2, 8, 5, 7)
    sa = SpatialAttention(in_channels=8, channels=4, dilations=(1, 2, 1))
    se = CrossLevelSE(channels=8, num_levels=2, reduced_channels=4)
    aa = AlignedAttention(in_channels=8, mid_channels=8, deform_groups=1,
                          norm_cfg=dict(type='GN', num_groups=4),
                          deform_impl='torch')
    for block in (sa, se, aa):
        assert is_bypassable(block) and block.bypass is False
        block.bypass = True
    assert torch.equal(sa(x), torch.ones(2, 1, 5, 7))
    assert torch.equal(se([x, x[..., :3, :3]]), torch.ones(2, 8, 1, 1))
    assert torch.equal(aa(x), F.relu(x))
