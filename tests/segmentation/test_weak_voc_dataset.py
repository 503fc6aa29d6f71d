# Copyright (c) mmattn contributors. All rights reserved.
"""WeakVOCDataset + PackWeakSegInputs: tags and scores from the files to
the head's losses, and the missing-data policies."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import mmattn  # noqa: F401  (registers the modules)
from mmattn.segmentation.losses import AttentionLoss, SelectionLoss
from mmattn.segmentation.score_file import MaskScoreFileError, dump_mask_scores
from mmattn.synthetic import make_seg_dataset, read_label_png
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

TRAIN = 'ImageSets/Segmentation/train.txt'


def _scores_for(ids):
    # distinct, easily recognised values per image
    return {
        img_id:
        dict(
            AC=0.5,
            CD=0.9,
            SC=0.45,
            P=round(0.6 + 0.05 * i, 2),
            SF=round(0.5 + 0.1 * i, 2))
        for i, img_id in enumerate(ids)
    }


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    init_default_scope('mmseg')
    root = str(tmp_path_factory.mktemp('weak_voc'))
    make_seg_dataset(
        root,
        num_images=6,
        seed=3,
        img_size=(40, 40),
        val_fraction=1 / 3,
        num_classes=3,
        show_progress=False)
    ids = _train_ids(root)
    dump_mask_scores(_scores_for(ids), osp.join(root, 'mask_scores.json'))
    return root


def _train_ids(root):
    with open(osp.join(root, TRAIN)) as f:
        return [line.strip() for line in f if line.strip()]


def _tags(root):
    return np.load(osp.join(root, 'cls_labels.npy'), allow_pickle=True).item()


def _dataset(root, **kwargs):
    cfg = dict(
        type='WeakVOCDataset', data_root=root, ann_file=TRAIN, pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_dataset_attaches_tags_and_scores(voc_root):
    dataset = _dataset(voc_root)
    ids = _train_ids(voc_root)
    tags, scores = _tags(voc_root), _scores_for(ids)
    assert len(dataset) == len(ids) == 4
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        img_id = info['img_id']
        assert info['seg_map_path'].endswith(
            osp.join('SegmentationClassProxy', f'{img_id}.png'))
        assert info['img_tags'].dtype == np.float32
        np.testing.assert_array_equal(info['img_tags'], tags[img_id])
        assert info['mask_scores'] == scores[img_id]


def test_tags_and_scores_reach_the_head_losses(voc_root, monkeypatch):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackWeakSegInputs')
    ]
    dataset = _dataset(voc_root, pipeline=pipeline)
    batch = pseudo_collate([dataset[0], dataset[1]])
    sample = batch['data_samples'][0]
    assert sample.img_tags.dtype == torch.float32
    assert sample.img_tags.shape == (20, )

    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                size=(40, 40)),
            backbone=dict(
                type='ResNetV1c',
                depth=18,
                stem_channels=16,
                base_channels=8,
                out_indices=(3, ),
                dilations=(1, 1, 2, 4),
                strides=(1, 2, 1, 1)),
            decode_head=dict(
                type='SALHead',
                in_channels=64,
                in_index=0,
                channels=8,
                num_classes=21,
                cls_branch=dict(channels=8),
                loss_decode=dict(type='SelectionLoss', tau=0.55)),
            train_cfg=dict(),
            test_cfg=dict(mode='whole')))
    seen = {}
    sel_forward, att_forward = SelectionLoss.forward, AttentionLoss.forward

    def spy_sel(self, pred, target, scores=None, **kwargs):
        seen['scores'] = scores.clone()
        seen['target'] = target.clone()
        return sel_forward(self, pred, target, scores=scores, **kwargs)

    def spy_att(self, cls_logits, tags, **kwargs):
        seen['tags'] = tags.clone()
        return att_forward(self, cls_logits, tags, **kwargs)

    monkeypatch.setattr(SelectionLoss, 'forward', spy_sel)
    monkeypatch.setattr(AttentionLoss, 'forward', spy_att)
    data = model.data_preprocessor(batch, training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'decode.loss_sel', 'decode.loss_att'} <= set(losses)

    ids = [s.img_id for s in batch['data_samples']]
    scores, tags = _scores_for(_train_ids(voc_root)), _tags(voc_root)
    assert seen['scores'].tolist() == pytest.approx(
        [scores[i]['SF'] for i in ids])
    assert torch.equal(seen['tags'],
                       torch.from_numpy(np.stack([tags[i] for i in ids])))
    proxy = read_label_png(
        osp.join(voc_root, 'SegmentationClassProxy', f'{ids[0]}.png'))
    assert torch.equal(seen['target'][0], torch.from_numpy(proxy).long())


def test_tags_from_masks(voc_root):
    dataset = _dataset(voc_root, tags_from_masks=True, tag_file=None)
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        labels = set(np.unique(read_label_png(info['seg_map_path'])))
        expected = [float(k + 1 in labels) for k in range(20)]
        assert info['img_tags'].tolist() == expected


def test_missing_tag_policy(voc_root, tmp_path):
    ids = _train_ids(voc_root)
    tags = _tags(voc_root)
    del tags[ids[1]]
    tag_file = str(tmp_path / 'cls_labels_partial.npy')
    np.save(tag_file, tags)
    with pytest.raises(ValueError, match=f'{ids[1]}.*cls_labels_partial'):
        _dataset(voc_root, tag_file=tag_file)
    dataset = _dataset(voc_root, tag_file=tag_file, on_missing_tag='skip')
    assert [dataset.get_data_info(i)['img_id']
            for i in range(len(dataset))] == [ids[0], ids[2], ids[3]]


def test_image_absent_from_score_file_policy(voc_root, tmp_path):
    ids = _train_ids(voc_root)
    scores = _scores_for(ids)
    del scores[ids[2]]
    score_file = str(tmp_path / 'partial_scores.json')
    dump_mask_scores(scores, score_file)
    with pytest.raises(
            MaskScoreFileError, match=f'partial_scores.json.*{ids[2]}'):
        _dataset(voc_root, score_file=score_file)
    dataset = _dataset(
        voc_root, score_file=score_file, on_unscored_image='skip')
    assert len(dataset) == 3
    dataset = _dataset(voc_root, score_file=score_file, on_unscored_image=0.25)
    info = dataset.get_data_info(2)
    assert info['img_id'] == ids[2]
    assert set(info['mask_scores'].values()) == {0.25}


def test_missing_score_policy(voc_root, tmp_path):
    ids = _train_ids(voc_root)
    scores = _scores_for(ids)
    scores[ids[0]].update(P=None, SF=None)  # only coarse-scored
    score_file = str(tmp_path / 'coarse_scores.json')
    dump_mask_scores(scores, score_file)
    with pytest.raises(
            MaskScoreFileError, match=f"coarse_scores.json.*{ids[0]}.*'SF'"):
        _dataset(voc_root, score_file=score_file)
    assert len(
        _dataset(voc_root, score_file=score_file,
                 on_missing_score='skip')) == 3
    filled = _dataset(voc_root, score_file=score_file, on_missing_score=0.0)
    assert filled.get_data_info(0)['mask_scores']['SF'] == 0.0
    # SC is present for every image: requiring only SC keeps all
    coarse = _dataset(
        voc_root, score_file=score_file, required_scores=('SC', ))
    assert len(coarse) == 4
    assert coarse.get_data_info(0)['mask_scores']['SF'] is None


def test_without_score_file(voc_root):
    plain = _dataset(voc_root, score_file=None)
    assert 'mask_scores' not in plain.get_data_info(0)
    strong = _dataset(voc_root, score_file=None, on_unscored_image=1.0)
    assert set(strong.get_data_info(0)['mask_scores'].values()) == {1.0}


@pytest.mark.parametrize('kwargs, message', [
    (dict(on_missing_tag=0.5), 'on_missing_tag must be'),
    (dict(on_unscored_image='ignore'), "got 'ignore'"),
    (dict(on_missing_score=1.5), 'got 1.5'),
    (dict(required_scores=('XX', )), "got \\['XX'\\]"),
    (dict(tag_file=None), 'tag_file is None'),
])
def test_bad_policies_raise_at_build(voc_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _dataset(voc_root, **kwargs)


def test_pack_keeps_weak_keys_with_custom_meta_keys():
    pack = TRANSFORMS.build(
        dict(type='PackWeakSegInputs', meta_keys=('img_path', )))
    results = dict(
        img=np.zeros((4, 4, 3), dtype=np.uint8),
        gt_seg_map=np.zeros((4, 4), dtype=np.uint8),
        img_path='a.jpg',
        img_id='a',
        img_tags=np.eye(20, dtype=np.float32)[3],
        mask_scores=dict(SF=0.7))
    sample = pack(results)['data_samples']
    assert sample.img_id == 'a'
    assert sample.mask_scores == dict(SF=0.7)
    assert isinstance(sample.img_tags, torch.Tensor)
    assert sample.img_tags.argmax().item() == 3


def test_semi_supervised_concat_of_strong_and_weak(voc_root):
    # The Table IX layout: ground truth with tags from the masks and score 1,
    # concatenated with the scored proxy set.
    strong = dict(
        type='WeakVOCDataset',
        data_root=voc_root,
        ann_file=TRAIN,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        tags_from_masks=True,
        tag_file=None,
        score_file=None,
        on_unscored_image=1.0)
    weak = dict(type='WeakVOCDataset', data_root=voc_root, ann_file=TRAIN)
    dataset = DATASETS.build(
        dict(type='ConcatDataset', datasets=[strong, weak]))
    assert len(dataset) == 8
    ids = _train_ids(voc_root)
    tags = _tags(voc_root)
    first_strong, first_weak = dataset.get_data_info(0), dataset.get_data_info(
        4)
    assert set(first_strong['mask_scores'].values()) == {1.0}
    # GT-derived tags agree with the generator's cls_labels.npy
    np.testing.assert_array_equal(first_strong['img_tags'], tags[ids[0]])
    assert first_weak['mask_scores'] == _scores_for(ids)[ids[0]]


def test_weak_seg_dataset_takes_its_classes_from_the_config(voc_root):
    # The generated masks use labels 1..3; name them as a user's own set.
    classes = ('background', 'left', 'middle', 'right')
    dataset = _dataset(
        voc_root,
        type='WeakSegDataset',
        metainfo=dict(classes=classes),
        tags_from_masks=True,
        tag_file=None)
    assert dataset.metainfo['classes'] == classes
    assert dataset.label_map is None  # labels are used as they are
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        labels = set(np.unique(read_label_png(info['seg_map_path'])))
        assert info['img_tags'].tolist() == [
            float(k in labels) for k in (1, 2, 3)
        ]
    # The VOC dataset refuses the same class list (mmseg's subset check).
    with pytest.raises(ValueError, match='subset'):
        _dataset(
            voc_root,
            metainfo=dict(classes=classes),
            tags_from_masks=True,
            tag_file=None)
    # VOC-sized tags for a 3-class set: an error naming the image.
    with pytest.raises(ValueError, match='expected 3'):
        _dataset(
            voc_root, type='WeakSegDataset', metainfo=dict(classes=classes))


@pytest.mark.parametrize('metainfo', [None, dict(), dict(classes='abc'),
                                      dict(classes=('background', ))])
def test_weak_seg_dataset_needs_a_class_list(voc_root, metainfo):
    with pytest.raises(ValueError, match='WeakSegDataset needs metainfo'):
        _dataset(voc_root, type='WeakSegDataset', metainfo=metainfo)
