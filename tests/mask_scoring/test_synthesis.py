# Copyright (c) mmattn contributors. All rights reserved.
"""Training-set synthesis (SAL Sec. III-B.2, Fig. 5)."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest

import mmattn  # noqa: F401
from mmattn.segmentation.mask_scoring import (MaskScoringDataset,
                                              SynthesisConfig,
                                              accuracy_score, read_reference,
                                              synthesize_scoring_set)
from mmattn.synthetic import make_seg_dataset

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBinaryMask'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='PackMaskScoringInputs'),
]


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('seg'))
    make_seg_dataset(root, num_images=24, seed=3, img_size=(64, 64),
                     val_fraction=0.25, show_progress=False)
    return root


def synth(seg_root, out, cfg=None, seed=0, **kw):
    return synthesize_scoring_set(
        out, proxy_dir=osp.join(seg_root, 'SegmentationClassProxy'),
        ref_dir=osp.join(seg_root, 'SaliencyRef'),
        img_dir=osp.join(seg_root, 'JPEGImages'),
        gt_dir=osp.join(seg_root, 'SegmentationClass'), cfg=cfg, seed=seed,
        show_progress=False, **kw)


def load_list(out, split='train'):
    with open(osp.join(out, f'{split}.json')) as f:
        return json.load(f)['data_list']


@pytest.fixture(scope='module')
def synthesised(seg_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('scoring'))
    cfg = SynthesisConfig(intermediate_ratio=1.0, paste_ratio=1.0,
                          val_fraction=0.25)
    summary = synth(seg_root, out, cfg)
    return out, summary


def test_scores_land_in_promised_ranges(synthesised):
    out, summary = synthesised
    samples = load_list(out) + load_list(out, 'val')
    kinds = {s['kind'] for s in samples}
    # The generated data has clean and severely noisy proxies: all kinds.
    assert {'positive', 'negative', 'paste'} <= kinds
    assert kinds & {'erode', 'erase'}
    sources = summary['source_scores']
    for s in samples:
        score = s['gt_score']
        assert s['gt_score'] == s['score_reference']  # paper target
        assert 0 <= score <= 1
        if s['kind'] == 'positive':
            assert score >= 0.8
        elif s['kind'] == 'negative':
            assert score <= 0.3
        elif s['kind'] in ('erode', 'erase'):
            assert 0.3 < score < 0.8
            assert sources[s['source_ids'][0]]['AC'] >= 0.8
        else:  # paste: host AC >= 0.3, object from an AC >= 0.9 mask
            host, src = s['source_ids']
            assert sources[host]['AC'] >= 0.3 and sources[src]['AC'] >= 0.9
            assert host != src


def test_target_is_ac_against_the_reference(synthesised, seg_root):
    out, _ = synthesised
    for s in load_list(out):
        if s['kind'] == 'paste':
            continue
        img_path = osp.normpath(osp.join(out, s['img_path']))
        image = mmcv.imread(img_path)
        mask = mmcv.imread(osp.join(out, s['mask_path']), 'unchanged') > 0
        ref = read_reference(
            osp.join(seg_root, 'SaliencyRef', s['source_ids'][0] + '.png'))
        assert accuracy_score(mask, ref, image) == \
            pytest.approx(s['gt_score'], abs=1e-9)


def test_split_by_source_and_dataset_loads(synthesised):
    out, summary = synthesised
    train, val = load_list(out), load_list(out, 'val')
    assert train and val
    # no source image contributes to both files
    train_src = {i for s in train for i in s['source_ids']}
    val_src = {i for s in val for i in s['source_ids']}
    assert not train_src & val_src
    ds = MaskScoringDataset(data_root=out, ann_file='train.json',
                            pipeline=PIPELINE)
    assert len(ds) == len(train)
    item = ds[0]
    assert item['inputs'].shape == (4, 32, 32)
    assert set(item['inputs'][3].unique().tolist()) <= {0, 1}
    assert float(item['data_samples'].gt_score) == \
        pytest.approx(train[0]['gt_score'], abs=1e-6)


def test_deterministic_and_thresholds_configurable(seg_root, tmp_path):
    cfg = SynthesisConfig(positive_thr=0.7, negative_thr=0.4,
                          paste_source_thr=0.85, intermediate_ratio=0.5,
                          paste_ratio=0.5, ops=('erode', 'erase', 'dilate'),
                          target='gt')
    a = synth(seg_root, str(tmp_path / 'a'), cfg, seed=5)
    b = synth(seg_root, str(tmp_path / 'b'), cfg, seed=5)
    la, lb = load_list(str(tmp_path / 'a')), load_list(str(tmp_path / 'b'))
    assert la == lb and a['kinds'] == b['kinds']
    for s in la:
        assert s['gt_score'] == s['score_gt']  # target='gt'
        if s['kind'] == 'positive':
            assert s['score_reference'] >= 0.7
        elif s['kind'] == 'negative':
            assert s['score_reference'] <= 0.4
        elif s['kind'] in ('erode', 'erase', 'dilate'):
            assert 0.4 < s['score_reference'] < 0.7
    c = synth(seg_root, str(tmp_path / 'c'), cfg, seed=6)
    assert load_list(str(tmp_path / 'c')) != la or c['kinds'] != a['kinds']


def test_refusals_and_bad_values(seg_root, tmp_path):
    out = str(tmp_path / 'o')
    synth(seg_root, out, SynthesisConfig(intermediate_ratio=0,
                                         paste_ratio=0))
    with pytest.raises(FileExistsError, match='train.json'):
        synth(seg_root, out)
    synth(seg_root, out, SynthesisConfig(intermediate_ratio=0,
                                         paste_ratio=0), overwrite=True)
    with pytest.raises(ValueError, match='negative_thr'):
        SynthesisConfig(positive_thr=0.3, negative_thr=0.5)
    with pytest.raises(ValueError, match='ops'):
        SynthesisConfig(ops=('blur', ))
    with pytest.raises(ValueError, match='gt_dir'):
        synthesize_scoring_set(str(tmp_path / 'x'), 'p', 'r', 'i',
                               cfg=SynthesisConfig(target='gt'))


def test_bad_inputs_name_the_file(seg_root, tmp_path):
    import shutil
    root = str(tmp_path / 'bad')
    shutil.copytree(seg_root, root)
    ids = sorted(open(osp.join(root, 'ImageSets/Segmentation/train.txt'))
                 .read().split())
    bad = osp.join(root, 'SegmentationClassProxy', ids[0] + '.png')
    mmcv.imwrite(np.full((64, 64), 30, np.uint8), bad)  # label 30 of 21
    with pytest.raises(ValueError, match=f'{ids[0]}.png.*outside'):
        synth(root, str(tmp_path / 'o1'))
    mmcv.imwrite(np.zeros((50, 64), np.uint8), bad)  # wrong size
    with pytest.raises(ValueError, match=f'{ids[0]}.png: size'):
        synth(root, str(tmp_path / 'o2'))


def test_runner_trains_the_scorer(synthesised, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(
        osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
            __file__)))), 'configs', 'mask_scoring',
            'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py'))
    out, _ = synthesised
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = out
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
    metrics = runner.val_loop.run()
    assert {'mask_score/pearson', 'mask_score/spearman',
            'mask_score/mae'} <= set(metrics)
    assert 0 <= metrics['mask_score/mae'] <= 1


def test_cli_ratios_and_ops(seg_root, tmp_path, load_tool):
    main = load_tool('synthesize_scoring_set').main
    out = str(tmp_path / 'cli')
    summary = main([
        '--data-root', seg_root, '--split', 'train', '--out', out, '--ops',
        'dilate', '--intermediate-ratio', '2', '--paste-ratio', '0'
    ])
    cfg = summary['config']
    assert cfg['ops'] == ('dilate', ) or cfg['ops'] == ['dilate']
    assert cfg['intermediate_ratio'] == 2.0 and cfg['paste_ratio'] == 0.0
    # Only the requested degradation, and no cut-paste at all.
    assert set(summary['kinds']) <= {'positive', 'negative', 'dilate'}
    assert summary['kinds'].get('dilate', 0) > 0
    for s in load_list(out) + load_list(out, 'val'):
        if s['kind'] == 'dilate':
            assert 0.3 < s['score_reference'] < 0.8


def test_cli_errors_name_the_file(seg_root, tmp_path, run_tool):
    """Bad input stops the tool with one line naming the file, no
    traceback; an existing synthesis is never overwritten unasked."""
    missing = str(tmp_path / 'no_such_root')
    result = run_tool(['tools/synthesize_scoring_set.py', '--data-root',
                       missing, '--out', str(tmp_path / 'o')], check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.startswith('error: ') and missing in result.stderr

    out = tmp_path / 'twice'
    args = ['tools/synthesize_scoring_set.py', '--data-root', seg_root,
            '--out', str(out), '--paste-ratio', '0']
    run_tool(args)
    before = (out / 'train.json').read_bytes()
    again = run_tool(args, check=False)
    assert again.returncode == 1 and 'Traceback' not in again.stderr
    assert str(out / 'train.json') in again.stderr
    assert (out / 'train.json').read_bytes() == before
