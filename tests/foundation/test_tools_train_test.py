# Copyright (c) mmattn contributors. All rights reserved.
"""tools/train.py and tools/test.py, run as a user runs them: train a tiny
config on generated data, evaluate the checkpoint with COCO metrics, then
resume with --resume and train on."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                  'retinanet_r18_tiny_synthetic.py')


def _options(data_root, max_iters):
    root = data_root + '/'
    options = [
        f'train_cfg.max_iters={max_iters}',
        'train_cfg.val_interval=1000',
        'default_hooks.checkpoint.interval=2',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        # untrained: keep low scores so the metric sees boxes
        'model.test_cfg.score_thr=0.0',
        'model.test_cfg.nms_pre=50',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={root}', f'{loader}.batch_size=2',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return options


def test_train_test_resume_from_the_command_line(synthetic_det_root, tmp_path,
                                                 run_tool):
    work_dir = str(tmp_path / 'work')
    run_tool(
        ['tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options'] +
        _options(synthetic_det_root, 2))
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint)

    result = run_tool([
        'tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir,
        '--cfg-options'
    ] + _options(synthetic_det_root, 2))
    assert 'coco/bbox_mAP' in result.stdout + result.stderr

    result = run_tool([
        'tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
        '--cfg-options'
    ] + _options(synthetic_det_root, 3))
    assert 'resumed epoch: 0, iter: 2' in result.stdout + result.stderr
    # the last iteration is always saved (CheckpointHook's save_last)
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_3.pth')
