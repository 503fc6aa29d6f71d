# Copyright (c) mmattn contributors. All rights reserved.
"""docs/wsss_from_tags.md, executed as written on a tiny generated folder.

The page's blocks (each preceded by ``<!-- walkthrough: NAME -->``) are read
with the helpers of ``test_sal_walkthrough.py`` and run in the page's
order. Only paths are replaced (``data/synthetic_seg`` by a temporary
folder, the work dirs by temporary ones, ``configs/wsss/my_data.py`` by a
temporary copy), the generated folder is 8 images of 48x48, and training
gets command-line overrides for speed (2 iterations on 48x48 crops, two
scales at test time); the proxies of step 3 come from that 2-iteration
checkpoint. A renamed option, a changed output field or a step
that stops working fails here.
"""
import importlib.util
import os.path as osp
import re
import shlex

import numpy as np

from mmattn.segmentation.mask_scoring import (read_id_list, read_label_map,
                                              read_reference, read_tags)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO_ROOT, 'docs', 'wsss_from_tags.md')
TINY = osp.join(REPO_ROOT, 'configs', 'wsss', 'cam_r18_tiny_synthetic.py')
ORDER = ('make-data', 'tags-csv', 'make-tags', 'train', 'test', 'cams-python',
         'own-classes-tags', 'own-classes-config', 'own-classes-train',
         'make-proxies')


def _walkthrough_helpers():
    """doc_blocks, substitute and run_shell of test_sal_walkthrough.py."""
    path = osp.join(
        osp.dirname(osp.abspath(__file__)), 'test_sal_walkthrough.py')
    spec = importlib.util.spec_from_file_location('_sal_walkthrough', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.doc_blocks, module.substitute, module.run_shell


doc_blocks, substitute, run_shell = _walkthrough_helpers()


def _fast(data, *loaders):
    """Overrides that make a run tiny; the data root of each loader."""
    options = []
    for loader in loaders:
        options += [
            f'{loader}.dataset.data_root={data}', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    return options


TRAIN_FAST = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    'train_dataloader.batch_size=2',
    'train_dataloader.dataset.pipeline.1.scale=(48,48)',
    'train_dataloader.dataset.pipeline.2.crop_size=(48,48)',
    'model.data_preprocessor.size=(48,48)', 'model.test_cfg.scales=(1.0,0.5)'
]


def test_page_runs_in_order(tmp_path):
    blocks = doc_blocks(DOC)
    assert list(blocks) == list(ORDER)
    data = str(tmp_path / 'synthetic_seg')
    work = str(tmp_path / 'cam')
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')

    # 0. The folder, and the user's tag CSV.
    run_shell(
        substitute(
            blocks['make-data'], {
                'data/synthetic_seg':
                data,
                '--num-images 300':
                '--num-images 8 --img-size 48 48 '
                '--no-progress'
            }))
    truth = read_tags(osp.join(data, 'cls_labels.npy'))
    script = tmp_path / 'tags_csv.py'
    script.write_text(
        substitute(blocks['tags-csv'], {'data/synthetic_seg': data}))
    run_shell(f'python {shlex.quote(str(script))}')
    assert osp.isfile(osp.join(data, 'tags.csv'))

    # 1. make_tags: the same tags as the generator's.
    out = run_shell(
        substitute(blocks['make-tags'], {'data/synthetic_seg': data}))
    assert 'wrote' in out and '8 images' in out
    tags = read_tags(osp.join(data, 'cls_labels.npy'))
    assert list(tags) == list(truth)
    for image_id in truth:
        np.testing.assert_array_equal(tags[image_id], truth[image_id])

    # 2. Train (Runner), score the CAM seeds, get CAMs in Python.
    log = run_shell(
        substitute(blocks['train'], {'work_dirs/cam_r18_tiny_synthetic': work})
        + ' --cfg-options ' + shlex.join(_fast(data, *loaders) + TRAIN_FAST))
    assert 'loss_cls: ' in log and 'mIoU: ' in log
    log = run_shell(
        substitute(blocks['test'], {
            'work_dirs/cam_r18_tiny_synthetic': work,
            'iter_300': 'iter_2'
        }) + f' --work-dir {tmp_path / "test"} --cfg-options ' + shlex.join(
            _fast(data, 'test_dataloader') +
            ['model.test_cfg.scales=(1.0,0.5)']))
    assert 'mIoU: ' in log
    script = tmp_path / 'cams.py'
    script.write_text(
        substitute(
            blocks['cams-python'], {
                'work_dirs/cam_r18_tiny_synthetic': work,
                'iter_300': 'iter_2',
                'data/synthetic_seg': data
            }))
    out = run_shell(f'python {shlex.quote(str(script))}')
    assert 'classes kept:' in out and 'CAM peaks:' in out

    # Own classes: 4-entry tags, WeakSegDataset with five classes.
    run_shell(
        substitute(blocks['own-classes-tags'], {'data/synthetic_seg': data}))
    own = read_tags(osp.join(data, 'cls_labels_4.npy'))
    for image_id in truth:
        np.testing.assert_array_equal(own[image_id], truth[image_id][:4])
    config = tmp_path / 'my_data.py'
    config.write_text(
        substitute(blocks['own-classes-config'], {
            './cam_r18_tiny_synthetic.py': TINY,
            'data/synthetic_seg': data
        }))
    own_work = str(tmp_path / 'own')
    log = run_shell(
        substitute(
            blocks['own-classes-train'], {
                'configs/wsss/my_data.py': str(config),
                'work_dirs/my_data_cam': own_work
            }) + ' --cfg-options ' +
        shlex.join(_fast(data, *loaders) + TRAIN_FAST))
    assert 'mIoU: ' in log
    # The val table lists the five classes, not VOC's 21.
    rows = re.findall(r'^\|\s*([a-z]+)\s*\|\s*[\d.na]+\s*\|', log, re.M)
    assert rows == ['background', 'aeroplane', 'bicycle', 'bird', 'boat']

    # 3. Proxies from the CAMs of the step-2 classifier (VOC classes).
    out = run_shell(
        substitute(
            blocks['make-proxies'], {
                'work_dirs/cam_r18_tiny_synthetic': work,
                'iter_300': 'iter_2',
                'data/synthetic_seg': data
            }) + ' --no-progress')
    train_ids = read_id_list(
        osp.join(data, 'ImageSets', 'Segmentation', 'train.txt'))
    assert f'wrote {len(train_ids)} proxy mask(s)' in out
    for image_id in train_ids:
        proxy = read_label_map(osp.join(data, 'CAMProxy', image_id + '.png'))
        classes = {0, 255} | {k + 1 for k in np.flatnonzero(truth[image_id])}
        assert set(np.unique(proxy).tolist()) <= classes
        ref = read_reference(osp.join(data, 'CAMRef', image_id + '.png'))
        assert ref.shape == proxy.shape
