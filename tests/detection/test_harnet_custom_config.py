# Copyright (c) mmattn contributors. All rights reserved.
"""configs/harnet/harnet_r50_fpn_1x_custom-coco.py, edited as
docs/get_started.md says (the block at its top), on a generated COCO-format
folder: the dataset loads with the user's class names, the head predicts
that many classes, and the evaluator reads the user's annotation file."""
import ast
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdet.registry import DATASETS, MODELS
from mmattn.synthetic import SYNTHETIC_DET_CLASSES

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATE = osp.join(REPO_ROOT, 'configs', 'harnet',
                    'harnet_r50_fpn_1x_custom-coco.py')
PARENT = osp.join(REPO_ROOT, 'configs', 'harnet', 'harnet_r50_fpn_1x_coco.py')


def edit_block(source: str, **values) -> str:
    """Replace the module-level assignments named in ``values``."""
    lines = source.split('\n')
    nodes = {
        target.id: node
        for node in ast.parse(source).body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)
    }
    for name, value in sorted(
            values.items(), key=lambda item: -nodes[item[0]].lineno):
        node = nodes[name]
        lines[node.lineno - 1:node.end_lineno] = [f'{name} = {value!r}']
    return '\n'.join(lines)


def edited_config(tmp_path, data_root, batch_size=4):
    with open(TEMPLATE) as f:
        text = f.read()
    text = edit_block(
        text,
        # The copy lives outside configs/harnet/: its parent by full path.
        _base_=[PARENT],
        data_root=data_root.rstrip('/') + '/',
        classes=tuple(SYNTHETIC_DET_CLASSES),
        train_ann_file='annotations/instances_train.json',
        train_img_dir='train/',
        val_ann_file='annotations/instances_val.json',
        val_img_dir='val/',
        batch_size=batch_size)
    path = tmp_path / 'my_harnet.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def test_template_defaults_name_a_coco_folder():
    cfg = Config.fromfile(TEMPLATE)
    assert cfg.model.bbox_head.type == 'HARRetinaHead'
    assert cfg.model.neck.type == 'AlignedFPN'
    assert cfg.model.bbox_head.num_classes == len(cfg.classes)
    assert cfg.train_dataloader.dataset.data_root == 'data/my_coco/'
    assert cfg.val_evaluator.ann_file == \
        'data/my_coco/annotations/instances_val.json'
    # linear scaling from the paper's batch 16 at lr 0.01
    assert cfg.optim_wrapper.optimizer.lr == 0.01 * 2 / 16


def test_edited_template_loads_the_folder_and_builds(synthetic_det_root,
                                                     tmp_path):
    cfg = edited_config(tmp_path, synthetic_det_root)
    classes = tuple(SYNTHETIC_DET_CLASSES)
    assert cfg.model.bbox_head.num_classes == len(classes)
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.optim_wrapper.optimizer.lr == 0.01 * 4 / 16
    assert osp.isfile(cfg.val_evaluator.ann_file)
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file
    # the HAR-Net parts of the parent config are kept
    assert cfg.model.neck.aligned_levels == (2, 3)
    assert cfg.model.test_cfg.box_voting.iou_thr == 0.6

    with DefaultScope.overwrite_default_scope('mmdet'):
        train = DATASETS.build(cfg.train_dataloader.dataset)
        val = DATASETS.build(cfg.val_dataloader.dataset)
        model = MODELS.build(cfg.model)
    assert train.metainfo['classes'] == classes
    assert val.metainfo['classes'] == classes
    assert len(train) > 0 and len(val) > 0
    labels = [
        inst['bbox_label'] for i in range(len(train))
        for inst in train.get_data_info(i)['instances']
    ]
    assert labels and min(labels) >= 0 and max(labels) < len(classes)
    assert train.get_data_info(0)['img_path'].startswith(
        osp.join(synthetic_det_root, 'train'))

    # one output channel per (anchor, class) at every level
    model.eval()
    with torch.no_grad():
        cls_scores, _ = model(torch.rand(1, 3, 128, 128), mode='tensor')
    num_anchors = model.bbox_head.num_base_priors
    assert len(cls_scores) == 5
    assert all(s.shape[1] == num_anchors * len(classes) for s in cls_scores)
