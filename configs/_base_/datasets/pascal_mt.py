# PASCAL-Context (PASCAL_MT package) as a source (train/val) or target (test)
# dataset: semseg (21 VOC classes), normals (normals_distill, kept on the
# reference's 170 valid classes) and edges (from the LabelMap of
# pascal-context/trainval/<id>.mat); no depth. Splits
# ImageSets/Context/{train,val}.txt (4998 / 5105). See docs/datasets.md.
# Edges are cached per image in memory and in pascal_edge_cache_dir (never
# inside the dataset folder; None: memory only).
# The setting files (configs/trttt/{t2p,p2t}.py) add tasks and class_map. To
# point at your copy, edit pascal_root or pass e.g.
#   --cfg-options test_dataloader.dataset.data_root=/path/to/PASCAL_MT
pascal_root = 'data/PASCAL_MT'
pascal_edge_cache_dir = 'default'  # ~/.cache/trttt_mm/pascal_edges
pascal_train_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),  # mmseg's; touches the image only
    dict(type='PackMultiTaskInputs'),
]
pascal_test_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
pascal_dataset = dict(
    type='PascalContextMultiTaskDataset',
    data_root=pascal_root,
    edge_cache_dir=pascal_edge_cache_dir)
pascal_source_train = dict(
    pascal_dataset, split='train', pipeline=pascal_train_pipeline)
pascal_source_val = dict(
    pascal_dataset, split='val', test_mode=True,
    pipeline=pascal_test_pipeline)
# As a target domain, TTT streams the 5105 val images in order.
pascal_target_test = pascal_source_val
