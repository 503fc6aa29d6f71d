# Copyright (c) mmattn contributors. All rights reserved.
"""Data-parallel training beyond one process (docs/distributed.md).

End to end: tools/dist_train.sh starts 2 CPU processes (torchrun, gloo)
that train the tiny HAR-Net and SAL-Net configs for 2 iterations on the
generated data; every rank saves its weights (dist_weights_dump_hook.py)
and both ranks must end with exactly the same weights, changed from the
initial ones. Each rank reads different images, so only the gradient
averaging of DistributedDataParallel keeps them equal. tools/dist_test.sh
then evaluates the SAL-Net checkpoint with 2 processes.

And the SyncBN variants: what they build, what a single-process run makes
of them (mmengine's own reversion to BN) and the error of a CPU
multi-process run.
"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmattn.segmentation.score_file import dump_mask_scores
from mmattn.utils import distributed

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))
HARNET_TINY = osp.join(REPO_ROOT, 'configs', 'harnet',
                       'harnet_r18_tiny_synthetic.py')
SALNET_TINY = osp.join(REPO_ROOT, 'configs', 'sal',
                       'salnet_r18_tiny_synthetic.py')
HARNET_SYNCBN = osp.join(REPO_ROOT, 'configs', 'harnet',
                         'harnet_r50_fpn_syncbn_1x_coco.py')
SALNET_P5 = osp.join(REPO_ROOT, 'configs', 'sal',
                     'salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py')
SALNET_P5_BN = osp.join(REPO_ROOT, 'configs', 'sal',
                        'salnet-p5_r101-d8_bn_1xb7-15k_voc12aug-321x321.py')
WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _wrap_config(tmp_path, base: str, dump_dir: str, **overrides) -> str:
    """A config that adds the weight-dumping hook to ``base``."""
    lines = [
        f'_base_ = [{base!r}]',
        "custom_imports = dict(imports=['mmattn', 'dist_weights_dump_hook'],"
        ' allow_failed_imports=False)',
        f"custom_hooks = [dict(type='DumpRankWeightsHook', "
        f'out_dir={dump_dir!r})]',
    ] + [f'{key} = {value!r}' for key, value in overrides.items()]
    path = tmp_path / f'dist_{osp.basename(base)}'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _launch(script: str, args, tmp_path) -> str:
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(_free_port()),
        MASTER_ADDR='127.0.0.1',
        OMP_NUM_THREADS='1',
        PYTHONWARNINGS='ignore',
        # the hook module; tools/dist_*.sh put the checkout first
        PYTHONPATH=os.pathsep.join(
            p for p in (HERE, os.environ.get('PYTHONPATH')) if p))
    env.pop('CUDA_VISIBLE_DEVICES', None)
    result = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', script)] + list(args),
        cwd=str(tmp_path),  # mmengine's .dist_test folder lands here
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return log


def _load_dumps(dump_dir):
    dumps = {}
    for rank in range(WORLD_SIZE):
        for stage in ('before', 'after'):
            path = osp.join(dump_dir, f'rank{rank}_{stage}.pth')
            assert osp.isfile(path), f'rank {rank} wrote no {stage} weights'
            dumps[rank, stage] = torch.load(path, weights_only=False)
    return dumps


def _assert_ranks_agree_and_trained(dump_dir):
    dumps = _load_dumps(dump_dir)
    for dump in dumps.values():
        assert dump['world_size'] == WORLD_SIZE
        assert dump['wrapper'] == 'CPUDistributedDataParallel'
        # mmengine wraps with broadcast_buffers=False: BN running statistics
        # would stay per rank and differ. The tiny configs use GN only.
        assert dump['bn_layers'] == []
    for stage in ('before', 'after'):
        rank0 = dumps[0, stage]['state_dict']
        rank1 = dumps[1, stage]['state_dict']
        assert rank0.keys() == rank1.keys()
        differ = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
        assert not differ, f'ranks differ {stage} training: {differ[:5]}'
    before = dumps[0, 'before']['state_dict']
    after = dumps[0, 'after']['state_dict']
    changed = [
        k for k in before if before[k].is_floating_point()
        and not torch.equal(before[k], after[k])
    ]
    floating = [k for k in before if before[k].is_floating_point()]
    assert len(changed) > 0.9 * len(floating), (
        f'only {len(changed)} of {len(floating)} tensors changed')
    assert any(k.startswith('backbone.') for k in changed)


def _transform_index(config, transform_type):
    """Where ``transform_type`` sits in the config's train pipeline, for
    --cfg-options keys such as ``train_dataloader.dataset.pipeline.2.scale``.
    """
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    types = [transform['type'] for transform in pipeline]
    assert transform_type in types, types
    return types.index(transform_type)


def _data_options(data_root, loaders):
    options = []
    for loader in loaders:
        options += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return options


def test_two_cpu_processes_train_harnet_to_identical_weights(
        synthetic_det_root, tmp_path):
    dump_dir = str(tmp_path / 'weights')
    # No validation: the test is about training; val needs COCO files.
    config = _wrap_config(
        tmp_path,
        HARNET_TINY,
        dump_dir,
        val_cfg=None,
        val_dataloader=None,
        val_evaluator=None)
    log = _launch('dist_train.sh', [
        config,
        str(WORLD_SIZE), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_iters=2',
        'train_dataloader.batch_size=1', 'default_hooks.checkpoint=None',
        'train_dataloader.dataset.pipeline.'
        f'{_transform_index(HARNET_TINY, "Resize")}.scale=(64,64)'
    ] + _data_options(synthetic_det_root + '/', ['train_dataloader']),
                  tmp_path)
    # The config keeps mmengine's nccl default; tools/train.py switches.
    assert 'nccl -> gloo' in log
    _assert_ranks_agree_and_trained(dump_dir)


def test_two_cpu_processes_train_and_test_salnet(synthetic_seg_root, tmp_path):
    with open(
            osp.join(synthetic_seg_root, 'ImageSets', 'Segmentation',
                     'train.txt')) as f:
        image_ids = f.read().split()
    score_file = str(tmp_path / 'mask_scores.json')
    dump_mask_scores(
        {
            image_id: dict(AC=0.8, CD=1.0, SC=0.8, P=0.9, SF=0.9)
            for image_id in image_ids
        }, score_file)
    dump_dir = str(tmp_path / 'weights')
    config = _wrap_config(tmp_path, SALNET_TINY, dump_dir)
    size = '(64,64)'
    loaders = ['train_dataloader', 'val_dataloader', 'test_dataloader']
    common = ['env_cfg.dist_cfg.backend=gloo'] + _data_options(
        synthetic_seg_root, loaders)
    work_dir = str(tmp_path / 'work')
    log = _launch('dist_train.sh', [
        config,
        str(WORLD_SIZE), '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=1000',
        'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=1',
        f'train_dataloader.dataset.score_file={score_file}',
        f'model.data_preprocessor.size={size}',
        'train_dataloader.dataset.pipeline.'
        f'{_transform_index(SALNET_TINY, "RandomResize")}.scale={size}',
        'train_dataloader.dataset.pipeline.'
        f'{_transform_index(SALNET_TINY, "RandomCrop")}.crop_size={size}'
    ] + common, tmp_path)
    # Asked for gloo explicitly: nothing to switch.
    assert 'nccl -> gloo' not in log
    _assert_ranks_agree_and_trained(dump_dir)

    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint)
    # One image per batch: each rank's share of the val split shows in the
    # iteration count that the test loop logs with the metrics.
    with open(
            osp.join(synthetic_seg_root, 'ImageSets', 'Segmentation',
                     'val.txt')) as f:
        num_val = len(f.read().split())
    log = _launch('dist_test.sh', [
        SALNET_TINY, checkpoint,
        str(WORLD_SIZE), '--work-dir', work_dir, '--cfg-options',
        'test_dataloader.batch_size=1'
    ] + common, tmp_path)
    per_rank = -(-num_val // WORLD_SIZE)
    assert re.search(
        rf'Iter\(test\) \[{per_rank}/{per_rank}\]\s+aAcc: [\d.]+\s+'
        r'mIoU: [\d.]+', log), log[-3000:]


# ---------------------------------------------------------------------------
# SyncBN variants
# ---------------------------------------------------------------------------
def _norm_layers(model):
    counts = {}
    for _, layer in model.named_modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            name = type(layer).__name__
            counts[name] = counts.get(name, 0) + 1
    return counts


def _build(path, scope):
    cfg = Config.fromfile(path)
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return cfg, MODELS.build(cfg.model)


def test_harnet_syncbn_config_has_syncbn_backbone():
    cfg, model = _build(HARNET_SYNCBN, 'mmdet')
    with open(HARNET_SYNCBN) as f:
        assert f.readline().startswith('# HAR-Net Table IV')
    assert cfg.model.backbone.norm_eval is False
    # All 53 BN layers of the R-50 backbone; neck and head use GN / CLGN.
    assert _norm_layers(model.backbone) == {'SyncBatchNorm': 53}
    assert _norm_layers(model) == {'SyncBatchNorm': 53}
    # norm_eval=False: train() leaves the BN layers of the trained stages in
    # training mode, where SyncBN synchronises; the stem and stage 1 stay
    # frozen (frozen_stages=1, as in the row it varies).
    model.train()
    assert cfg.model.backbone.frozen_stages == 1
    for stage in ('layer2', 'layer3', 'layer4'):
        assert all(
            layer.training
            for layer in getattr(model.backbone, stage).modules()
            if isinstance(layer, torch.nn.SyncBatchNorm))
    assert not model.backbone.layer1[0].bn1.training
    # Nothing else differs from the row it varies.
    base = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'harnet', 'harnet_r50_fpn_1x_coco.py'))
    base.model.backbone.norm_cfg = dict(type='SyncBN', requires_grad=True)
    base.model.backbone.norm_eval = False
    # (building fills train_cfg/test_cfg into cfg.model: reload it)
    assert base.model.to_dict() == Config.fromfile(
        HARNET_SYNCBN).model.to_dict()


def test_salnet_r101_rows_use_syncbn_and_the_bn_variant_does_not():
    _, syncbn_model = _build(SALNET_P5, 'mmseg')
    bn_cfg, bn_model = _build(SALNET_P5_BN, 'mmseg')
    with open(SALNET_P5_BN) as f:
        assert f.readline().startswith('# Table VI, row ResNet101, column P5')
    # backbone 106 + ASPP (image pool, 4 branches, bottleneck) 6
    assert _norm_layers(syncbn_model) == {'SyncBatchNorm': 112}
    assert _norm_layers(bn_model) == {'BatchNorm2d': 112}
    assert bn_cfg.model.backbone.norm_cfg.type == 'BN'
    assert bn_cfg.model.decode_head.norm_cfg.type == 'BN'
    syncbn_names = [
        n for n, m in syncbn_model.named_modules()
        if isinstance(m, torch.nn.SyncBatchNorm)
    ]
    bn_names = [
        n for n, m in bn_model.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    ]
    assert syncbn_names == bn_names


def test_single_process_run_reverts_syncbn_with_mmengine_message(tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(HARNET_SYNCBN)
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    cfg.visualizer = dict(type='DetLocalVisualizer', vis_backends=[])
    runner = Runner.from_cfg(cfg)
    # mmengine's revert_sync_batchnorm: plain BN of any dimension
    assert _norm_layers(runner.model) == {'_BatchNormXd': 53}
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    assert ('all SyncBatchNorm (SyncBN) layers in the model will be '
            'automatically reverted') in log


def test_cpu_multi_process_run_refuses_syncbn_clearly():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.SyncBatchNorm(4))
    with pytest.raises(
            ValueError,
            match=r'SyncBN needs a distributed run '
            r"on GPUs.*1 SyncBatchNorm layers \(first: '1'\)"):
        distributed.CPUDistributedDataParallel(model, device_ids=[0])


def test_prepare_cpu_distributed_leaves_other_runs_alone():
    cfg = Config(
        dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert distributed.prepare_cpu_distributed(cfg) is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only set-up')
def test_prepare_cpu_distributed_explains_a_wrong_start(monkeypatch):
    with pytest.raises(ValueError, match="launcher 'slurm' needs GPUs"):
        distributed.prepare_cpu_distributed(Config(dict(launcher='slurm')))
    # python tools/train.py --launcher pytorch, without torchrun
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    cfg = Config(dict(launcher='pytorch'))
    with pytest.raises(ValueError, match=r"torchrun sets, missing \['RANK'"):
        distributed.prepare_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg
