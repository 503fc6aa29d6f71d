# Copyright (c) mmattn contributors. All rights reserved.
"""benchmarks/harnet_ablation.py: every variant is the twin plus exactly the
part its name says, and the parts add up to the shipped HA config."""
import importlib.util
import os.path as osp

import pytest

from mmattn.experiment import apply_overrides, load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _bench():
    spec = importlib.util.spec_from_file_location(
        'harnet_ablation', osp.join(REPO, 'benchmarks', 'harnet_ablation.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
PARTS = ('neck', 'cross_level_norm', 'spatial_attention', 'channel_attention',
         'extra_conv', 'spatial_attention_loss')


def _parts(cfg):
    head = cfg.model.bbox_head
    return dict(
        neck=cfg.model.neck.type,
        cross_level_norm=head.get('cross_level_norm') is not None,
        spatial_attention=head.get('spatial_attention') is not None,
        channel_attention=head.get('channel_attention') is not None,
        extra_conv=bool(head.get('extra_conv')),
        spatial_attention_loss=head.get('spatial_attention_loss'))


EXPECTED = {
    'RetinaNet': dict(),
    '+CLGN': dict(cross_level_norm=True),
    '+SA': dict(spatial_attention=True),
    '+CLSE': dict(channel_attention=True, extra_conv=True),
    '+AA': dict(neck='AlignedFPN'),
    'HA': dict(neck='AlignedFPN', cross_level_norm=True,
               spatial_attention=True, channel_attention=True,
               extra_conv=True),
    '+SA-obj': dict(spatial_attention=True,
                    spatial_attention_loss=dict(loss_weight=0.2)),
    'HA-obj': dict(neck='AlignedFPN', cross_level_norm=True,
                   spatial_attention=True, channel_attention=True,
                   extra_conv=True,
                   spatial_attention_loss=dict(loss_weight=0.2)),
    '+SA-m0.5': dict(spatial_attention=True),
    '+SA-staged': dict(spatial_attention=True),
    'HA-staged': dict(neck='AlignedFPN', cross_level_norm=True,
                      spatial_attention=True, channel_attention=True,
                      extra_conv=True),
}


@pytest.mark.parametrize('name', list(BENCH.VARIANTS))
def test_each_variant_switches_on_what_its_name_says(name):
    path, overrides = BENCH.VARIANTS[name]
    cfg = load_config(path, overrides)
    want = dict(neck='FPN', cross_level_norm=False, spatial_attention=False,
                channel_attention=False, extra_conv=False,
                spatial_attention_loss=None)
    want.update(EXPECTED[name])
    assert _parts(cfg) == want
    # same data, schedule and post-processing as the twin
    twin = load_config(BENCH.TWIN)
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'randomness', 'demo_data'):
        assert cfg[key] == twin[key], key
    assert cfg.model.test_cfg == twin.model.test_cfg
    if name == '+SA-m0.5':
        assert cfg.model.bbox_head.spatial_attention.mask_init == 0.5
    staged = [h for h in cfg.get('custom_hooks', [])
              if h['type'] == 'StagedAttentionHook']
    assert bool(staged) == name.endswith('-staged')


def test_staged_variants_switch_half_way(tmp_path):
    from types import SimpleNamespace
    args = SimpleNamespace(overrides='{}', iters=300)
    cfg = BENCH.build_variant('HA-staged', args, str(tmp_path))
    hook, = [h for h in cfg.custom_hooks
             if h['type'] == 'StagedAttentionHook']
    assert hook['switch_iter'] == 150
    assert hook['patterns'] == ['spatial_attention', 'channel_attention']
    assert cfg.train_cfg.max_iters == 300


def test_the_parts_add_up_to_the_shipped_ha_config():
    cfg = load_config(BENCH.TWIN)
    for name in ('+CLGN', '+SA', '+CLSE', '+AA'):
        apply_overrides(cfg, BENCH.VARIANTS[name][1])
    assert cfg.model.to_dict() == load_config(BENCH.HARNET).model.to_dict()


def test_apply_overrides_names_a_missing_parent():
    cfg = load_config(BENCH.TWIN)
    with pytest.raises(KeyError, match="'bbox_haed' is not in the config"):
        apply_overrides(cfg, {'model.bbox_haed.spatial_attention': None})
