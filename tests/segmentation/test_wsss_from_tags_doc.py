# Copyright (c) mmattn contributors. All rights reserved.
"""docs/wsss_from_tags.md, executed as written on a tiny generated folder.

The page's blocks (each preceded by ``<!-- walkthrough: NAME -->``) are read
with the helpers of ``test_sal_walkthrough.py`` and run in the page's
order. Only paths are replaced (``data/synthetic_seg`` by a temporary
folder, the work dirs by temporary ones, ``configs/wsss/my_data.py`` by a
temporary copy), the generated folder is 8 images of 48x48, and training
gets command-line overrides for speed (2 iterations on 48x48 crops, two
scales at test time, a fixed seed); the proxies of step 3 come from that
2-iteration checkpoint. Step 4's pipeline trains the tiny scorer for one
epoch and SAL-Net for 2 iterations on 48x48 crops, and the whole chain of
section 5 runs again, with the same overrides, on a folder of images, val
ground truth and the tag CSV only. A renamed option, a changed output
field or a step that stops working fails here.
"""
import importlib.util
import json
import os
import os.path as osp
import re
import shlex

import numpy as np
from mmengine.config import Config

from mmattn.segmentation.mask_scoring import (read_id_list, read_label_map,
                                              read_reference, read_tags)
from mmattn.segmentation.pipeline import STAGES
from mmattn.segmentation.score_file import load_mask_score_file

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO_ROOT, 'docs', 'wsss_from_tags.md')
TINY = osp.join(REPO_ROOT, 'configs', 'wsss', 'cam_r18_tiny_synthetic.py')
ORDER = ('make-data', 'tags-csv', 'make-tags', 'train', 'test', 'cams-python',
         'own-classes-tags', 'own-classes-config', 'own-classes-train',
         'make-proxies', 'sal-pipeline', 'train-gt', 'chain-folder', 'chain')


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
    'model.data_preprocessor.size=(48,48)', 'model.test_cfg.scales=(1.0,0.5)',
    # Seeded, so that the CAM proxies (and with them the scorer's positive
    # samples in step 4) are the same on every run.
    'randomness.seed=0'
]
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# The tiny SAL-Net (configs/sal/salnet_r18_tiny_synthetic.py) for 2
# iterations on 48x48 crops; its RandomResize is pipeline step 2, its
# RandomCrop step 3.
SAL_FAST = [
    'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
    'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
    'train_dataloader.dataset.pipeline.2.scale=(48,48)',
    'train_dataloader.dataset.pipeline.3.crop_size=(48,48)',
    'model.data_preprocessor.size=(48,48)'
] + [
    f'{loader}.{key}' for loader in LOADERS
    for key in ('num_workers=0', 'persistent_workers=False')
]
# The pipeline's tiny scorer (no workers already) for one epoch, its
# SAL-Net as above (no validation during training: the eval stage scores
# the last checkpoint). The CAMs of a 2-iteration classifier on 6 training
# images are weak, and few of their proxies reach the paper's AC >= 0.8
# against their references (one or two, depending on the seed); a positive
# threshold of 0.6 gives the scorer positives to learn from on every run
# (the full-size page keeps 0.8).
PIPELINE_FAST = (' --no-progress --scorer-cfg-options train_cfg.max_epochs=1'
                 ' --synthesis-options positive_thr=0.6'
                 ' --sal-cfg-options ' +
                 shlex.join(SAL_FAST + ['train_cfg.val_interval=1000']))
_STAGE_DONE = re.compile(r'^\[sal_pipeline\] stage \d/9 (\w+): done in',
                         re.M)


def check_pipeline_run(log: str, work: str, data: str, proxy_dir: str,
                       ref_dir: str) -> float:
    """Every stage ran, on the proxies of ``proxy_dir``; the fine scores
    cover every training image, the retrained checkpoint exists and the
    val mIoU is in the metrics and the report. Returns that mIoU."""
    assert _STAGE_DONE.findall(log) == list(STAGES), log[-3000:]
    train_ids = read_id_list(
        osp.join(data, 'ImageSets', 'Segmentation', 'train.txt'))
    fine = load_mask_score_file(
        osp.join(work, 'fine_scores', 'mask_scores.json'))
    assert sorted(fine.scores) == sorted(train_ids)
    for s in fine.scores.values():
        # CAM proxies hold only tagged classes: CD = 1, SF = P.
        assert s['CD'] == 1.0 and s['SF'] == s['P']
    summary = json.load(open(osp.join(work, 'scoring_set', 'summary.json')))
    assert summary['num_positive_sources'] > 0
    assert summary['num_sources'] == len(train_ids)
    tau = json.load(open(osp.join(work, 'tau', 'tau.json')))
    assert tau['score_key'] == 'SF' and 0 < tau['kept'] <= len(train_ids)
    assert f"keeps {tau['kept']}/{len(train_ids)} training images" in log
    # The retraining read the proxies and the score file of this run.
    cfg = Config.fromfile(osp.join(work, 'sal', 'sal_config.py'))
    dataset = cfg.train_dataloader.dataset
    assert dataset.data_root == data
    assert dataset.data_prefix.seg_map_path == osp.join(data, proxy_dir)
    assert dataset.score_file == osp.join(work, 'fine_scores',
                                          'mask_scores.json')
    assert cfg.model.decode_head.loss_decode.tau == tau['tau']
    assert osp.isfile(osp.join(work, 'sal', 'train', 'iter_2.pth'))
    report = json.load(open(osp.join(work, 'report', 'report.json')))
    assert report['files']['sal_checkpoint'] == osp.join(
        work, 'sal', 'train', 'iter_2.pth')
    coarse = json.load(
        open(osp.join(work, 'coarse_scores', 'mask_scores_coarse.json')))
    assert coarse['meta']['ref_dir'] == osp.join(data, ref_dir), \
        coarse['meta']
    # The val mIoU: printed, in metrics.json and in the report.
    metrics = json.load(open(osp.join(work, 'eval', 'metrics.json')))
    miou = metrics['mIoU']
    assert 0 <= miou <= 100
    assert re.search(r'Iter\(test\).* mIoU: [\d.]+', log), log[-3000:]
    assert f'| mIoU | {miou:.2f} |' in open(
        osp.join(work, 'report', 'report.md')).read()
    for png in ('score_histogram.png', 'examples.png'):
        assert osp.isfile(osp.join(work, 'report', png))
    return miou


def test_page_runs_in_order(tmp_path):
    blocks = doc_blocks(DOC)
    assert list(blocks) == list(ORDER)
    data = str(tmp_path / 'synthetic_seg')
    work = str(tmp_path / 'cam')
    loaders = LOADERS

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

    # 4. SAL-Net retrained on the CAM proxies by the pipeline.
    sal_work = str(tmp_path / 'wsss_sal')
    log = run_shell(
        substitute(blocks['sal-pipeline'], {
            'data/synthetic_seg': data,
            'work_dirs/wsss_sal': sal_work
        }) + PIPELINE_FAST)
    check_pipeline_run(log, sal_work, data, 'CAMProxy', 'CAMRef')

    # The same config on the ground truth of the training images.
    gt_work = str(tmp_path / 'wsss_gt')
    log = run_shell(
        substitute(blocks['train-gt'], {'work_dirs/wsss_gt': gt_work}) +
        ' --cfg-options ' + shlex.join(
            _fast(data, *loaders) + SAL_FAST + ['train_cfg.val_interval=2']))
    assert re.search(r'Iter\(val\).* mIoU: [\d.]+', log), log[-3000:]
    assert osp.isfile(osp.join(gt_work, 'iter_2.pth'))
    cfg = Config.fromfile(osp.join(gt_work, 'salnet_r18_tiny_synthetic.py'))
    dataset = cfg.train_dataloader.dataset
    assert dataset.data_prefix.seg_map_path == 'SegmentationClass'
    assert dataset.score_file is None and cfg.randomness.seed == 0
    assert cfg.model.decode_head.loss_decode.weighting == 'none'
    assert len(re.findall(r'decode\.loss_sel: [\d.]+', log)) == 2

    # 5. The whole chain, on a folder of images, splits, tags.csv and the
    # val ground truth only.
    tags_only = str(tmp_path / 'tags_only')
    run_shell(
        substitute(blocks['chain-folder'], {
            'data/synthetic_seg': data,
            'data/tags_only': tags_only
        }))
    val_ids = read_id_list(
        osp.join(tags_only, 'ImageSets', 'Segmentation', 'val.txt'))
    assert sorted(os.listdir(tags_only)) == [
        'ImageSets', 'JPEGImages', 'SegmentationClass', 'tags.csv'
    ]
    assert sorted(os.listdir(osp.join(tags_only, 'SegmentationClass'))) == \
        sorted(i + '.png' for i in val_ids)
    chain_work = str(tmp_path / 'chain')
    chain = substitute(
        blocks['chain'], {
            'DATA=data/tags_only': f'DATA={shlex.quote(tags_only)}',
            'WORK=work_dirs/tags_only': f'WORK={shlex.quote(chain_work)}',
            'test_dataloader.dataset.data_root=$DATA':
            'test_dataloader.dataset.data_root=$DATA ' + shlex.join(
                [o for loader in loaders
                 for o in _fast('$DATA', loader)[1:]] + TRAIN_FAST),
            '$(cat $WORK/cam/last_checkpoint) $DATA':
            '$(cat $WORK/cam/last_checkpoint) $DATA --no-progress',
            '--sal-config $SAL_CONFIG':
            '--sal-config $SAL_CONFIG' + PIPELINE_FAST,
        })
    out = run_shell('set -euo pipefail\n' + chain)
    tags = read_tags(osp.join(tags_only, 'cls_labels.npy'))
    assert sorted(tags) == sorted(truth)
    for image_id in truth:
        np.testing.assert_array_equal(tags[image_id], truth[image_id])
    assert osp.isfile(osp.join(chain_work, 'cam', 'iter_2.pth'))
    for image_id in train_ids:
        for folder in ('SegmentationClassProxy', 'SaliencyRef'):
            assert osp.isfile(osp.join(tags_only, folder, image_id + '.png'))
    miou = check_pipeline_run(out, osp.join(chain_work, 'sal'), tags_only,
                              'SegmentationClassProxy', 'SaliencyRef')
    # The listing's last line prints the metrics file.
    metrics = osp.join(chain_work, 'sal', 'eval', 'metrics.json')
    with open(metrics) as f:
        text = f.read()
    assert text in out and json.loads(text)['mIoU'] == miou
