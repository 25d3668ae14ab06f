# Stanford Background, 8 classes (255 = unknown, ignored), layout of
# ../shared/data/stanford_background: images/<split>/*.jpg and
# annotations/<split>/*.png, mostly 320x240. Training reads 458 of the 572
# train images (stanford_background_splits/train_fit.txt), val is the 143
# val images (used to decide), and the test loader reads the other 114 train
# images (train_holdout.txt: a seeded random fifth, fixed before any
# training; they choose nothing). Score them with tools/test.py.
dataset_type = 'StanfordBackgroundDataset'
data_root = '../shared/data/stanford_background'
splits = '{{ fileDirname }}/stanford_background_splits'
# CPU schedule: the CamVid CPU crops (176x240) at 0.75-1.25 of 320x240.
crop_size = (176, 240)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(320, 240), ratio_range=(0.75, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=splits + '/train_fit.txt',
        data_prefix=dict(img_path='images/train',
                         seg_map_path='annotations/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='annotations/val'),
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=splits + '/train_holdout.txt',
        data_prefix=dict(img_path='images/train',
                         seg_map_path='annotations/train'),
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='PerClassIoUMetric', iou_metrics=['mIoU']),
    dict(type='TrimapIoUMetric', widths=(1, 3, 5, 10)),
    dict(type='BoundaryFScoreMetric', tolerance=2),
    dict(type='BoundaryIoUMetric'),
]
test_evaluator = val_evaluator
