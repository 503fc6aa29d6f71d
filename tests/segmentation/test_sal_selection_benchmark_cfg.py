# Copyright (c) mmattn contributors. All rights reserved.
"""The selection benchmark's variants: each one must train what its name
says (masks, score file, selection, initialisation), and its overrides must
be the ones that make the shipped paper configs, since a mislabelled
variant would silently change every number in docs/benchmarks_sal.md."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER = osp.join(REPO_ROOT, 'configs', 'sal',
                 'salnet-{}_r101-d8_1xb7-15k_voc12aug-321x321.py')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location(
        'mmattn_bench_sal_selection',
        osp.join(REPO_ROOT, 'benchmarks', 'sal_selection_benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selections(tmp_path):
    return {
        'SC': dict(score_file=str(tmp_path / 'coarse.json'), tau=0.61,
                   key='SC', rule='keep-fraction 0.4'),
        'SF': dict(score_file=str(tmp_path / 'fine.json'), tau=0.52,
                   key='SF', rule='keep-fraction 0.4'),
        'oracle': dict(score_file=str(tmp_path / 'oracle.json'), tau=0.8,
                       key='SF', rule='fixed 0.8'),
    }


def test_selection_only_is_what_makes_the_paper_p4(bench):
    """P3/P4 differ from P5 by exactly SELECTION_ONLY (and the score), as
    the shipped salnet-p3/p4 configs differ from salnet-p5."""
    p5 = Config.fromfile(PAPER.format('p5')).model.decode_head
    for name in ('p3', 'p4'):
        head = Config.fromfile(PAPER.format(name)).model.decode_head
        differ = {k for k in set(head) | set(p5)
                  if k != 'loss_decode' and head.get(k) != p5.get(k)}
        assert {f'model.decode_head.{k}' for k in differ} == \
            set(bench.SELECTION_ONLY)
        for key, value in bench.SELECTION_ONLY.items():
            assert head[key.rsplit('.', 1)[1]] == value


def test_variants_train_what_they_say(bench, tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    sel = _selections(tmp_path)

    def build(name):
        cfg = bench.build_cfg(name, args, str(tmp_path), sel, backbone=None)
        ds = cfg.train_dataloader.dataset
        return cfg.model.decode_head, ds.data_prefix.seg_map_path, ds

    head, masks, ds = build('P2')
    assert head.type == 'ASPPHead' and masks == 'SegmentationClassProxy'
    assert ds.get('score_file') is None
    head, masks, _ = build('clean')
    assert head.type == 'ASPPHead' and masks == 'SegmentationClass'

    for name, score in (('P3', 'SC'), ('P4', 'SF'), ('P5', 'SF'),
                        ('P4-oracle', 'oracle'), ('P5-oracle', 'oracle')):
        head, masks, ds = build(name)
        assert head.type == 'SALHead' and masks == 'SegmentationClassProxy'
        assert ds.score_file == sel[score]['score_file'], name
        assert head.loss_decode.score_key == sel[score]['key'], name
        assert head.loss_decode.tau == sel[score]['tau'], name
        assert tuple(ds.required_scores) == (sel[score]['key'], )
        full = name.startswith('P5')
        assert (head.cls_branch is not None) == full, name
        assert (head.loss_attention is not None) == full, name
        assert head.attention_guided is full, name

    # What P4's selection could reach with perfect labels.
    head, masks, ds = build('clean-selected')
    assert masks == 'SegmentationClass'
    assert ds.score_file == sel['SF']['score_file']
    assert head.loss_decode.tau == sel['SF']['tau']
    # Scores of the proxies on ground-truth masks: stale by design.
    assert ds.on_stale_scores == 'warn'
    for name in ('P3', 'P4', 'P5'):
        assert build(name)[2].get('on_stale_scores', 'error') == 'error'

    head, _, _ = build('P5-oracle-no-eq11')
    assert head.cls_branch is not None and head.attention_guided is False
    head, _, _ = build('P4-oracle-soft')
    assert head.loss_decode.weighting == 'soft'


def test_runs_share_size_schedule_and_data(bench, tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path), '--img-size', '40',
                             '--iters', '100', '--eval-last', '3',
                             '--eval-interval', '10'])
    sel = _selections(tmp_path)
    for name in bench.VARIANTS:
        cfg = bench.build_cfg(name, args, '/data', sel, '/ckpt/bb.pth')
        assert cfg.model.data_preprocessor.size == (40, 40)
        kinds = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
        assert kinds['RandomResize']['scale'] == (40, 40)
        assert kinds['RandomCrop']['crop_size'] == (40, 40)
        assert cfg.train_cfg.max_iters == 100
        # Validations at 80, 90 and 100: the last three, averaged.
        assert (cfg.train_cfg.val_begin, cfg.train_cfg.val_interval) == \
            (80, 10)
        assert cfg.param_scheduler[0].end == 100
        for loader in ('train_dataloader', 'val_dataloader'):
            assert cfg[loader].dataset.data_root == '/data'
        assert cfg.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint='/ckpt/bb.pth'), name
        assert cfg.model.decode_head.in_channels == 8 * args.backbone_width


def test_work_dir_is_absolute(bench, tmp_path, monkeypatch):
    """A relative --work-dir once made the dataset look for the score file
    under its data_root (data/work_dirs/...) and every SAL run crash."""
    monkeypatch.chdir(tmp_path)
    args = bench.parse_args(['--work-dir', 'bench'])
    assert args.work_dir == str(tmp_path / 'bench')


def test_work_dir_settings_are_fixed(bench, tmp_path):
    bench.check_settings(bench.parse_args(['--work-dir', str(tmp_path)]))
    # Seeds and variants may differ between invocations sharing the dir.
    bench.check_settings(
        bench.parse_args(['--work-dir', str(tmp_path), '--seeds', '7',
                          '--variants', 'P2']))
    with pytest.raises(SystemExit, match='iters'):
        bench.check_settings(
            bench.parse_args(['--work-dir', str(tmp_path), '--iters', '9']))
    with open(tmp_path / 'settings.json') as f:
        assert json.load(f)['iters'] == 2000


def test_an_option_added_later_is_accepted_at_its_default(bench, tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    defaults = bench.parse_args(['--work-dir', str(tmp_path)])
    bench.check_settings(args)
    # A work dir made before --scorer-config existed.
    path = tmp_path / 'settings.json'
    settings = json.loads(path.read_text())
    del settings['scorer_config']
    path.write_text(json.dumps(settings))
    bench.check_settings(args, defaults=defaults)
    other = bench.parse_args(['--work-dir', str(tmp_path), '--scorer-config',
                              bench.PLAIN_CFG])
    with pytest.raises(SystemExit, match='scorer_config'):
        bench.check_settings(other, defaults=defaults)
    with pytest.raises(SystemExit, match='scorer_config'):
        bench.check_settings(args)  # without defaults: refused as before


def test_paired_differences_and_targets(bench):
    runs = {
        'P2': {1: dict(mIoU=50.0), 2: dict(mIoU=52.0), 3: dict(mIoU=51.0)},
        'P4': {1: dict(mIoU=53.0), 2: dict(mIoU=53.0), 3: dict(mIoU=55.0)},
        'clean': {1: dict(mIoU=56.0), 2: dict(mIoU=58.0),
                  3: dict(mIoU=57.0)},
    }
    d = bench.paired(runs, 'P2', 'P4')
    assert d['diffs'] == [3.0, 1.0, 4.0]
    # std of (3, 1, 4) = 1.5275; / sqrt(3)
    assert d['mean'] == pytest.approx(8 / 3)
    assert d['se'] == pytest.approx(1.5275252 / 3**0.5, rel=1e-6)
    summary = bench.summarize(runs)
    # (53.67 - 51) / (57 - 51)
    assert summary['P4']['gap'] == pytest.approx((161 / 3 - 51) / 6)
    lines = bench.targets(runs, summary)
    assert any('P4 recovers' in line and 'MISSED' in line for line in lines)


@pytest.mark.parametrize('argv, message', [
    (['--pretrain-iters', '5', '--pretrain-data-seed', '0'], 'disjoint'),
    (['--pretrain-iters', '-1'], 'pretrain-iters'),
    (['--class-ids', '1', '1'], 'class-ids'),
    (['--backbone-width', '48'], 'backbone-width'),
    (['--eval-last', '5', '--iters', '40', '--eval-interval', '10'],
     'eval-last'),
])
def test_bad_options_are_named(bench, capsys, argv, message):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


def test_class_ids_set_the_number_of_classes(bench):
    args = bench.parse_args(['--class-ids', '7', '1'])
    assert args.num_classes == 2
    assert bench.class_ids(args) == [1, 7]


def test_the_pipeline_scores_sf_with_the_scorer_config_given(bench, tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    assert osp.isfile(args.scorer_config)
    assert Config.fromfile(args.scorer_config).model.get(
        'num_classes') is None  # the paper's binary scorer by default
    sf = bench.pipeline_command(args, 'DATA', 'SF')
    assert sf[sf.index('--scorer-config') + 1] == args.scorer_config
    assert sf[sf.index('--synthesis-options') + 1:][:3] == list(
        bench.DEFAULT_SYNTHESIS)
    assert '--scorer-config' not in bench.pipeline_command(args, 'DATA', 'SC')
    cls = osp.join(bench.ROOT, 'configs', 'mask_scoring',
                   'mask-scorer-tiny-cls_1xb16-20e_synthetic-48x48.py')
    args = bench.parse_args(['--work-dir', str(tmp_path), '--scorer-config',
                             cls])
    sf = bench.pipeline_command(args, 'DATA', 'SF')
    assert sf[sf.index('--scorer-config') + 1] == cls
