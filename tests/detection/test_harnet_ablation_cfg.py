# Copyright (c) mmattn contributors. All rights reserved.
"""benchmarks/harnet_ablation.py: every variant is the twin plus exactly the
part its name says, and the parts add up to the shipped HA config."""
import importlib.util
import os.path as osp

import pytest
import torch

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


RETINANET_VARIANTS = [n for n in BENCH.VARIANTS
                      if n not in BENCH.SUITES['heads']]


@pytest.mark.parametrize('name', RETINANET_VARIANTS)
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


def test_apply_overrides_replaces_dicts_whole_at_every_depth():
    """A dict value replaces the key's value, top-level keys included
    (whose parent is the Config, not a dict): no stray key survives."""
    from mmengine.config import Config
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=9,
                                     val_interval=3),
                      model=dict(head=dict(a=1, b=2))))
    apply_overrides(cfg, {'train_cfg': dict(type='IterBasedTrainLoop',
                                            max_iters=4),
                          'model.head': dict(a=5)})
    assert cfg.train_cfg.to_dict() == dict(type='IterBasedTrainLoop',
                                           max_iters=4)
    assert cfg.model.head.to_dict() == dict(a=5)


def test_apply_overrides_names_a_missing_parent():
    cfg = load_config(BENCH.TWIN)
    with pytest.raises(KeyError, match="'bbox_haed' is not in the config"):
        apply_overrides(cfg, {'model.bbox_haed.spatial_attention': None})


def test_suites_and_baselines():
    # the default suite is the earlier default list of variants
    assert BENCH.SUITES['retinanet'] == list(BENCH.VARIANTS)[:6]
    assert BENCH.SUITES['heads'] == ['ATSS', 'ATSS+HA', 'ATSS+DyHead']
    assert all(n in BENCH.VARIANTS for s in BENCH.SUITES.values() for n in s)
    for name in RETINANET_VARIANTS:
        want = None if name == 'RetinaNet' else 'RetinaNet'
        assert BENCH.baseline_of(name) == want, name
    assert BENCH.baseline_of('ATSS') is None
    assert BENCH.baseline_of('ATSS+HA') == 'ATSS'
    assert BENCH.baseline_of('ATSS+DyHead') == 'ATSS'


@pytest.mark.parametrize('name, path', [('ATSS', 'ATSS'),
                                        ('ATSS+HA', 'ATSS_HA'),
                                        ('ATSS+DyHead', 'ATSS_DYHEAD')])
def test_head_variants_are_the_shipped_atss_demo_configs(name, path):
    # what each of them adds to ATSS: tests/detection/test_atss_demo_twins.py
    assert BENCH.VARIANTS[name] == (getattr(BENCH, path), {})
    cfg = load_config(getattr(BENCH, path))
    assert cfg.model.type == 'ATSS'
    assert cfg.demo_data == load_config(BENCH.TWIN).demo_data


def test_head_variants_are_paired_with_atss():
    def run(ap):
        return dict(AP=ap, AP50=0.0)
    runs = {'RetinaNet': {1: run(10.0), 2: run(11.0)},
            'HA': {1: run(12.0), 2: run(14.0)},
            'ATSS': {1: run(20.0), 2: run(21.0)},
            'ATSS+HA': {1: run(21.5), 2: run(20.0)},
            'ATSS+DyHead': {2: run(25.0), 3: run(30.0)}}
    assert BENCH.paired(runs, 'HA') == ([1, 2], [2.0, 3.0])
    assert BENCH.paired(runs, 'ATSS+HA') == ([1, 2], [1.5, -1.0])
    assert BENCH.paired(runs, 'ATSS+DyHead') == ([2], [4.0])


def test_report_names_each_rows_baseline(tmp_path):
    import json
    from types import SimpleNamespace
    runs_dir = tmp_path / 'runs'
    runs_dir.mkdir()
    for name, aps in (('ATSS', (20.0, 21.0, 19.0)),
                      ('ATSS+HA', (21.0, 23.0, 20.0))):
        for seed, ap in zip((1, 2, 3), aps):
            (runs_dir / f'{name}_seed{seed}.json').write_text(json.dumps(
                dict(variant=name, seed=seed, AP=ap, AP50=2 * ap,
                     seconds=1.0, empty=False)))
    args = SimpleNamespace(work_dir=str(tmp_path), iters=300, data_seed=0,
                           overrides='{}')
    text = BENCH.report(args)
    row, = [line for line in text.splitlines()
            if line.startswith('| ATSS+HA |')]
    assert row.split(' | ')[1] == 'ATSS'
    assert '+1.0, +2.0, +1.0' in row and '+1.33 ± 0.33' in row
    assert (tmp_path / 'ablation.png').is_file()
    # Run files without a recorded schedule: the header says it is --iters.
    assert text.startswith('300 (--iters; the run files do not record it) '
                           'iters')
    # The runs' own schedule wins over a different --iters.
    for path in runs_dir.iterdir():
        row = json.loads(path.read_text())
        path.write_text(json.dumps(dict(row, iters=250)))
    assert BENCH.report(args).startswith('250 iters x batch 8')


def test_shared_init_copies_the_baselines_initial_values(tmp_path):
    from types import SimpleNamespace
    args = SimpleNamespace(overrides='{}', iters=300)
    state = torch.get_rng_state()
    atss = BENCH.initial_state(
        BENCH.build_variant('ATSS', args, str(tmp_path)), seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # RNG left alone
    for name, not_shared in (('ATSS+HA', '.gn.'), ('ATSS+DyHead', '_convs.')):
        cfg = BENCH.build_variant(name, args, str(tmp_path))
        from mmdet.registry import MODELS
        torch.manual_seed(1)
        model = MODELS.build(cfg.model)
        model.init_weights()
        twin = model.state_dict()
        # without the copy the same seed gives other values
        assert not torch.equal(twin['backbone.conv1.weight'],
                               atss['backbone.conv1.weight'])
        copied = BENCH.copy_shared(model, atss)
        twin = model.state_dict()
        left = [k for k in atss
                if BENCH.reference_key(k) == k and k not in copied and
                k.replace('neck.', 'neck.0.', 1) not in copied]
        # everything of ATSS is copied but what the twin does not have:
        # the tower GNs (CLGN holds them) or the whole tower (DyHead)
        assert left and all('bbox_head.' in k and not_shared in k
                            for k in left), left
        for key in copied:
            assert torch.equal(twin[key], atss[BENCH.reference_key(key)])
        assert 'backbone.conv1.weight' in copied
        assert 'bbox_head.atss_cls.weight' in copied
        assert any(k.startswith('neck.') and 'lateral' in k for k in copied)
