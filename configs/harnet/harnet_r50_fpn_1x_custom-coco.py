# HAR-Net, ResNet-50 "HA" model (Table IV row ResNet-50 HA, Fig. 5: aligned,
# channel and spatial attention) trained on YOUR OWN COCO-format folder.
# Copy this file and edit the block below; docs/get_started.md explains it.
_base_ = ['./harnet_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

# ---------------------------------------------------------------- edit me --
data_root = 'data/my_coco/'
# Class names in the order of your annotation file's categories (mmdet maps
# them to labels 0..K-1 by name; categories not listed here are ignored).
classes = ('cat', 'dog')
train_ann_file = 'annotations/instances_train.json'
train_img_dir = 'train/'
val_ann_file = 'annotations/instances_val.json'
val_img_dir = 'val/'
# The paper's 1x recipe is batch 16 (e.g. 8 GPUs x 2); scale lr linearly
# with your total batch size (0.01 at 16).
batch_size = 2
base_lr = 0.01 * batch_size / 16
# ---------------------------------------------------------------------------

metainfo = dict(classes=classes)
model = dict(bbox_head=dict(num_classes=len(classes)))

train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file=train_ann_file,
        data_prefix=dict(img=train_img_dir)))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file=val_ann_file,
        data_prefix=dict(img=val_img_dir)))
test_dataloader = val_dataloader
# CocoMetric reads the ground truth itself, from the full path.
val_evaluator = dict(ann_file=data_root + val_ann_file)
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=base_lr))
