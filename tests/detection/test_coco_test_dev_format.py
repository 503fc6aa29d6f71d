# Copyright (c) mmattn contributors. All rights reserved.
"""COCO test-dev submission files (docs/leaderboards.md): tools/test.py with
mmdet's CocoMetric(format_only=True) on an image-info-only file, as
test-dev ships, writes the server's result json and evaluates nothing."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                       'harnet_r18_tiny_synthetic.py')
TEST_DEV_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                           'harnet_r50_fpn_1x_coco_test-dev.py')
# COCO's category ids are not the label indices (1..90 with gaps for 80
# classes): the generated file is rewritten to ids with gaps, and image ids
# far from dataset indices, so a mix-up of either cannot pass.
CATEGORY_IDS = (1, 3, 5, 7, 9)
IMAGE_ID_OFFSET = 1000
# untrained detector: keep every box (score ~0.01) and keep the run short
MODEL_OPTIONS = ['model.test_cfg.score_thr=0.0', 'model.test_cfg.nms_pre=50']


def _write_image_info(data_root, path):
    """An image-info file as COCO's image_info_test-dev2017.json: images and
    categories, no annotations. Returns it as a dict."""
    with open(osp.join(data_root, 'annotations', 'instances_val.json')) as f:
        val = json.load(f)
    images = [
        dict(image, id=image['id'] * 7 + IMAGE_ID_OFFSET)
        for image in val['images']
    ]
    categories = [
        dict(category, id=new_id)
        for category, new_id in zip(val['categories'], CATEGORY_IDS)
    ]
    info = dict(info=val.get('info', {}), images=images, categories=categories)
    with open(path, 'w') as f:
        json.dump(info, f)
    return info


@pytest.fixture(scope='module')
def test_dev_run(synthetic_det_root, tmp_path_factory, run_tool):
    """Random-init tiny HAR-Net, run once through tools/test.py in
    format-only mode; returns paths, the image-info dict and the log."""
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    tmp = tmp_path_factory.mktemp('coco_test_dev')
    info_file = str(tmp / 'image_info_test-dev.json')
    info = _write_image_info(synthetic_det_root, info_file)

    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp / 'random_init.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'dataset_meta': {
                    'classes': cfg.classes
                }
            }
        }, checkpoint)

    prefix = str(tmp / 'out' / 'test')
    options = MODEL_OPTIONS + [
        f'test_dataloader.dataset.data_root={synthetic_det_root}/',
        f'test_dataloader.dataset.ann_file={info_file}',
        'test_dataloader.dataset.data_prefix.img=val/',
        'test_dataloader.batch_size=1',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'test_evaluator.ann_file={info_file}',
        'test_evaluator.format_only=True',
        f'test_evaluator.outfile_prefix={prefix}',
    ]
    result = run_tool([
        'tools/test.py', TINY_CONFIG, checkpoint, '--work-dir',
        str(tmp / 'work'), '--cfg-options'
    ] + options)
    log = result.stdout + result.stderr
    return dict(
        prefix=prefix,
        info=info,
        info_file=info_file,
        checkpoint=checkpoint,
        log=log)


def test_test_dev_config_reads_image_info_and_only_formats():
    cfg = Config.fromfile(TEST_DEV_CONFIG)
    base = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'harnet', 'harnet_r50_fpn_1x_coco.py'))
    # the model of the Table IV "HA" row, unchanged
    assert cfg.model == base.model
    dataset = cfg.test_dataloader.dataset
    assert dataset.type == 'CocoDataset'
    assert dataset.ann_file == 'annotations/image_info_test-dev2017.json'
    assert dataset.data_prefix == dict(img='test2017/')
    assert dataset.test_mode
    # the val pipeline minus LoadAnnotations (test-dev has no annotations)
    val_pipeline = [
        step for step in base.test_dataloader.dataset.pipeline
        if step['type'] != 'LoadAnnotations'
    ]
    assert dataset.pipeline == val_pipeline
    evaluator = cfg.test_evaluator
    assert evaluator.type == 'CocoMetric'
    assert evaluator.format_only is True
    assert evaluator.metric == 'bbox'
    assert evaluator.outfile_prefix == './work_dirs/harnet_coco_detection/test'
    assert evaluator.ann_file == (
        cfg.data_root + 'annotations/image_info_test-dev2017.json')


def test_format_only_writes_the_result_json_and_evaluates_nothing(
        test_dev_run):
    out_dir = osp.dirname(test_dev_run['prefix'])
    # no ground truth needed (none converted), nothing evaluated
    assert 'annotations' not in test_dev_run['info']
    assert os.listdir(out_dir) == ['test.bbox.json']
    assert 'bbox_mAP' not in test_dev_run['log']

    with open(test_dev_run['prefix'] + '.bbox.json') as f:
        detections = json.load(f)
    images = {image['id']: image for image in test_dev_run['info']['images']}
    assert isinstance(detections, list) and detections
    for det in detections:
        assert set(det) == {'image_id', 'category_id', 'bbox', 'score'}
        image = images[det['image_id']]
        assert det['category_id'] in CATEGORY_IDS
        assert 0.0 <= det['score'] <= 1.0
        x, y, w, h = det['bbox']
        assert all(isinstance(v, float) for v in det['bbox'])
        assert x >= -1e-3 and y >= -1e-3 and w >= 0 and h >= 0
        assert x + w <= image['width'] + 1e-3
        assert y + h <= image['height'] + 1e-3
    assert {det['image_id'] for det in detections} == set(images)
    # an untrained head spreads its boxes over the classes: label indices
    # (0..4) or label + 1 would show up here
    assert len({det['category_id'] for det in detections}) >= 3


def test_detections_are_the_models_with_the_files_category_ids(
        test_dev_run, synthetic_det_root):
    from mmdet.apis import inference_detector, init_detector
    from mmengine.registry import DefaultScope

    info = test_dev_run['info']
    image = info['images'][0]
    name_to_id = {c['name']: c['id'] for c in info['categories']}
    # init_detector sets the default scope; keep it from leaking out
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_detector(
            TINY_CONFIG,
            test_dev_run['checkpoint'],
            device='cpu',
            cfg_options=dict(
                model=dict(test_cfg=dict(score_thr=0.0, nms_pre=50))))
        pred = inference_detector(
            model, osp.join(synthetic_det_root, 'val',
                            image['file_name'])).pred_instances
    classes = Config.fromfile(TINY_CONFIG).classes
    expected = sorted(
        (float(score), name_to_id[classes[int(label)]], *box[:2],
         *(box[2:] - box[:2])) for score, label, box in zip(
             pred.scores.numpy(), pred.labels.numpy(), pred.bboxes.numpy()))

    with open(test_dev_run['prefix'] + '.bbox.json') as f:
        written = sorted((d['score'], d['category_id'], *d['bbox'])
                         for d in json.load(f) if d['image_id'] == image['id'])
    assert len(written) == len(expected) > 0
    written, expected = np.array(written), np.array(expected)
    np.testing.assert_array_equal(written[:, 1], expected[:, 1])
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-4)
