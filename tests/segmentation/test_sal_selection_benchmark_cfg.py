# Copyright (c) mmattn contributors. All rights reserved.
"""The selection benchmark's variants: each one must train what its name
says (masks, score file, weighting, initialisation), since a mislabelled
variant would silently change every number in docs/benchmarks_sal.md."""
import importlib.util
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location(
        'mmattn_bench_sal_selection',
        osp.join(REPO_ROOT, 'benchmarks', 'sal_selection_benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data(tmp_path, pretrained=None):
    files = {
        name: str(tmp_path / f'mask_scores_{name}.json')
        for name in ('coarse', 'oracle', 'scorer')
    }
    data = dict(data_root=str(tmp_path), files=files)
    if pretrained:
        data['pretrained_backbone'] = pretrained
    return data


def test_variants_train_what_they_say(bench, tmp_path):
    args = bench.parse_args(
        ['--work-dir',
         str(tmp_path), '--tau-oracle', '0.7', '--tau-sc', '0.6'])
    data = _data(tmp_path)

    def build(variant):
        cfg = bench.build_cfg(variant, 3, args, data)
        return (cfg, cfg.model.decode_head,
                cfg.train_dataloader.dataset.data_prefix.seg_map_path)

    cfg, head, masks = build('P2')
    assert head.type == 'ASPPHead' and masks == 'SegmentationClassProxy'
    assert cfg.randomness.seed == 3

    cfg, head, masks = build('clean')
    assert head.type == 'ASPPHead' and masks == 'SegmentationClass'

    cfg, head, masks = build('P3')
    assert masks == 'SegmentationClassProxy'
    assert (head.loss_decode.score_key, head.loss_decode.tau) == ('SC', 0.6)
    assert cfg.train_dataloader.dataset.score_file == data['files']['coarse']
    assert head.cls_branch is None and head.loss_attention is None

    # The ceiling of hard selection: the same selection, ground-truth masks.
    oracle_cfg, oracle_head, oracle_masks = build('P4-oracle')
    cfg, head, masks = build('clean-selected')
    assert (oracle_masks, masks) == ('SegmentationClassProxy',
                                     'SegmentationClass')
    for h, c in ((oracle_head, oracle_cfg), (head, cfg)):
        assert (h.loss_decode.score_key, h.loss_decode.tau) == ('SF', 0.7)
        assert h.loss_decode.get('weighting', 'hard') == 'hard'
        assert c.train_dataloader.dataset.score_file == data['files'][
            'oracle']
        assert h.cls_branch is None

    cfg, head, masks = build('P4-oracle-soft')
    assert head.loss_decode.weighting == 'soft'
    assert head.loss_decode.normalize == 'weighted_pixels'
    assert cfg.train_dataloader.dataset.score_file == data['files']['oracle']

    cfg, head, masks = build('P5-oracle')
    assert head.cls_branch is not None and head.loss_attention is not None
    assert head.attention_guided is True

    # The attention loss alone, without Eq. 11's product in the selection.
    _, head, _ = build('P5-oracle-no-eq11')
    assert head.cls_branch is not None and head.loss_attention is not None
    assert head.attention_guided is False
    assert head.loss_decode.score_key == 'SF'
    assert 'init_cfg' not in cfg.model.backbone or \
        cfg.model.backbone.init_cfg is None


def test_pretrained_backbone_reaches_every_variant(bench, tmp_path):
    args = bench.parse_args(
        ['--work-dir', str(tmp_path), '--pretrain-iters', '5'])
    assert args.pretrain_data_seed == args.data_seed + 1
    data = _data(tmp_path, pretrained='/ckpt/backbone.pth')
    for variant in ('P2', 'P3', 'P4-oracle', 'P5-oracle', 'clean',
                    'clean-selected'):
        cfg = bench.build_cfg(variant, 0, args, data)
        assert cfg.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint='/ckpt/backbone.pth'), variant


@pytest.mark.parametrize('argv, message', [
    (['--pretrain-iters', '5', '--pretrain-data-seed', '0'], 'disjoint'),
    (['--pretrain-iters', '-1'], 'pretrain-iters'),
    (['--class-ids', '1', '1'], 'class-ids'),
    (['--class-ids', '0', '7'], 'class-ids'),
])
def test_bad_options_are_named(bench, capsys, argv, message):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


def test_class_ids_set_the_number_of_classes(bench):
    args = bench.parse_args(['--class-ids', '7', '1'])
    assert args.num_classes == 2
    assert bench._class_ids(args) == [1, 7]
