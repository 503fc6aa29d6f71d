# Copyright (c) mmattn contributors. All rights reserved.
"""Do mmattn's attention blocks train from step one? An audit at init.

Builds each model from its shipped config, calls the real
``init_weights()`` (as the Runner does), feeds unit-variance inputs (the
real backbone for the SAL head) and one backward pass of the model's own
loss, and prints per block:

- the spread of the block's output at init (std over positions/channels of
  the gate's logit, or of the residual branch relative to its input);
- the mean |weight gradient| of the block's layers relative to the layers
  it sits next to (tower convs, decode convs);
- the fraction of active units after each ReLU of the block.

    python benchmarks/attention_init_audit.py
    python benchmarks/attention_init_audit.py --sa-init-cfg normal0.01

``--sa-init-cfg normal0.01`` measures HAR-Net's spatial attention under the
mmdet-style Normal(0.01) init mmattn used before 2026-12 (the dead branch).
Results are recorded in docs/benchmarks_harnet.md ("Attention at init").
"""
import argparse
import copy
import math
import os.path as osp
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import mmattn  # noqa: E402,F401
from mmattn.experiment import load_config  # noqa: E402

HAR = osp.join(ROOT, 'configs', 'harnet', 'harnet_r50_fpn_1x_coco.py')
HAR_TINY = osp.join(ROOT, 'configs', 'harnet', 'harnet_r18_tiny_synthetic.py')
SAL = osp.join(ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')
SCORER = osp.join(ROOT, 'configs', 'mask_scoring',
                  'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py')


def _mean_abs_grad(params):
    grads = [p.grad.abs().mean().item() for p in params if p.grad is not None]
    return sum(grads) / max(len(grads), 1)


def _relu_active(module, x, layers):
    """Fraction of positive outputs after each layer in ``layers``."""
    fractions = []
    for layer in layers:
        x = layer(x)
        fractions.append((x > 0).float().mean().item())
    return fractions


def audit_harnet(config, sa_init_cfg, rows, size=96):
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    # No ImageNet weights offline; the head's init is what is audited.
    overrides = {'model.backbone.init_cfg': None}
    if sa_init_cfg:
        overrides['model.bbox_head.spatial_attention.init_cfg'] = dict(
            type='Normal', layer='Conv2d', std=0.01)
    cfg = load_config(config, overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    name = osp.basename(config)[:-3]
    x = torch.randn(2, 3, size, size)
    samples = []
    for _ in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size),
                                        batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[8., 10., 50., 44.], [40., 30., 90., 92.]]),
            labels=torch.tensor([0, 1]))
        samples.append(s)
    losses = model.loss(x, samples)
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    head = model.bbox_head
    tower = [m.conv.weight for m in list(head.cls_convs) +
             list(head.reg_convs)]
    tower_grad = _mean_abs_grad(tower)
    feats = [torch.randn(2, head.in_channels, 24, 24)]
    sa = head.spatial_attention
    with torch.no_grad():
        mask = sa(feats[0]).double()
        logit = torch.log(mask / (1 - mask))
        active = _relu_active(sa, feats[0], list(sa.convs)[:-1])
    for i, layer in enumerate(sa.convs):
        rows.append((name, f'SA conv {i + 1} (d={sa.dilations[i]})',
                     f'{layer.conv.weight.grad.abs().mean().item():.2e}',
                     f'{layer.conv.weight.grad.abs().mean().item() / tower_grad:.2e}',
                     f'{active[i]:.2f}' if i < len(active) else '-',
                     f'logit std {logit.std().item():.2e}, mask '
                     f'{mask.min().item():.3f}-{mask.max().item():.3f}'
                     if i == len(sa.convs) - 1 else ''))
    if head.cls_channel_attention is not None:
        se = head.cls_channel_attention
        levels = [torch.relu(torch.randn(2, head.feat_channels, 12, 12))
                  for _ in range(head.num_levels)]
        with torch.no_grad():
            squeezed = se.squeeze(levels)
            hidden = se.relu(se.fc_reduce(squeezed))
            weights = se(levels)
            wlogit = torch.log(weights / (1 - weights))
        for fc in ('fc_reduce', 'fc_expand'):
            grad = getattr(se, fc).weight.grad.abs().mean().item()
            rows.append((name, f'CLSE (cls) {fc}', f'{grad:.2e}',
                         f'{grad / tower_grad:.2e}',
                         f'{(hidden > 0).float().mean().item():.2f}'
                         if fc == 'fc_reduce' else '-',
                         f'channel weight logit std {wlogit.std().item():.3f}'
                         f', weights {weights.min().item():.3f}-'
                         f'{weights.max().item():.3f}'
                         if fc == 'fc_expand' else ''))
    if head.cls_norms is not None:
        norm = head.cls_norms[0]
        grad = norm.weight.grad.abs().mean().item()
        rows.append((name, 'CLGN (cls, 1st) affine', f'{grad:.2e}',
                     f'{grad / tower_grad:.2e}', '-',
                     f'weight {norm.weight.mean().item():.2f}, bias '
                     f'{norm.bias.abs().max().item():.2f}'))
    neck = model.neck
    for level, block in zip(getattr(neck, 'aligned_levels', ()),
                            getattr(neck, 'aligned_attentions', ())):
        for part in ('reduce', 'deform', 'restore'):
            layer = getattr(block, part, None)
            conv = getattr(layer, 'conv', layer)
            if conv is None or getattr(conv, 'weight', None) is None or \
                    conv.weight.grad is None:
                continue
            grad = conv.weight.grad.abs().mean().item()
            rows.append((name, f'AA C{level + 2} {part} conv', f'{grad:.2e}',
                         f'{grad / tower_grad:.2e}', '-',
                         f'restore GN scale {block.restore.norm.weight.mean().item():.2f}'
                         if part == 'restore' else ''))


def audit_sal(rows):
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    from mmengine.registry import DefaultScope
    cfg = load_config(SAL)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    size = 96
    x = torch.randn(2, 3, size, size)
    head = model.decode_head
    samples = []
    for i in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        pad_shape=(size, size),
                                        ori_shape=(size, size)))
        label = torch.zeros(1, size, size, dtype=torch.long)
        label[:, 20:60, 30:70] = 1 + i
        s.gt_sem_seg = PixelData(data=label)
        tags = torch.zeros(head.num_classes - 1)  # no background
        tags[i] = 1
        s.set_metainfo(dict(mask_scores=dict(SF=1.0, SC=1.0, AC=1.0, CD=1.0),
                            img_tags=tags, img_path=f'audit_{i}.jpg'))
        samples.append(s)
    head = model.decode_head
    try:
        losses = model.loss(x, samples)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        total.backward()
        ok = True
    except Exception as exc:  # report, do not hide
        rows.append(('salnet_r18_tiny', 'loss failed', '-', '-', '-',
                     f'{type(exc).__name__}: {str(exc)[:80]}'))
        ok = False
    branch = getattr(head, 'cls_branch', None)
    if branch is None:
        return
    ref = [p for n, p in head.named_parameters()
           if 'cls_branch' not in n and p.grad is not None and p.dim() == 4]
    ref_grad = _mean_abs_grad(ref) if ok else float('nan')
    with torch.no_grad():
        feats = model.extract_feat(x)
    for pname, param in branch.named_parameters():
        if param.dim() < 2:
            continue
        grad = param.grad.abs().mean().item() if ok and \
            param.grad is not None else float('nan')
        rows.append(('salnet_r18_tiny', f'cls branch {pname}',
                     f'{grad:.2e}', f'{grad / ref_grad:.2e}', '-',
                     f'weight std {param.std().item():.3f}'))
    del feats


def audit_scorer(rows):
    """GDN layers of the tiny mask scorer: gradient of their parameters
    against the convs', and how much they shrink unit-variance input."""
    from mmattn.blocks import GDN
    from mmseg.registry import MODELS
    from mmengine.registry import DefaultScope
    cfg = load_config(SCORER)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    x = torch.randn(4, 4, 48, 48)
    outputs = {}

    def keep(name):
        def hook(module, args, output):
            outputs[name] = (args[0].detach(), output.detach())
        return hook

    for name, m in model.named_modules():
        if isinstance(m, GDN):
            m.register_forward_hook(keep(name))
    score = model.extract_score(x)
    (score - 0.5).pow(2).mean().backward()
    convs = [m.weight for m in model.modules()
             if isinstance(m, torch.nn.Conv2d) and m.weight.grad is not None]
    conv_grad = _mean_abs_grad(convs)
    for name, m in model.named_modules():
        if not isinstance(m, GDN):
            continue
        grads = [p.grad.abs().mean().item() for p in m.parameters()
                 if p.grad is not None]
        grad = sum(grads) / max(len(grads), 1)
        inp, out = outputs[name]
        rows.append(('mask-scorer-tiny', f'GDN {name}', f'{grad:.2e}',
                     f'{grad / conv_grad:.2e}', '-',
                     f'output/input rms {out.pow(2).mean().sqrt().item() / inp.pow(2).mean().sqrt().item():.2f}'))
    rows.append(('mask-scorer-tiny', 'score at init', '-', '-', '-',
                 f'{score.min().item():.3f}-{score.max().item():.3f}'))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sa-init-cfg', choices=['default', 'normal0.01'],
                   default='default')
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for config in (HAR_TINY, HAR):
        audit_harnet(config, args.sa_init_cfg == 'normal0.01', rows)
    audit_sal(rows)
    audit_scorer(rows)
    print(f'spatial attention init: {args.sa_init_cfg}')
    print('| model | block / layer | mean abs weight grad | ratio to '
          'neighbour layers | ReLU active | output at init |')
    print('| --- | --- | --- | --- | --- | --- |')
    for row in rows:
        print('| ' + ' | '.join(row) + ' |')


if __name__ == '__main__':
    main()
