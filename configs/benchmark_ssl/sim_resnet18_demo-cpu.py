# Benchmark of ANAUS against mmpretrain's built-in SSL on the simulated demo
# data (ResNet-18, 64 px, short CPU schedules). Used by `make demo`:
#   python tools/benchmark_ssl.py configs/benchmark_ssl/sim_resnet18_demo-cpu.py
# Every method pre-trains on the same images with the same batch size and
# number of iterations, then runs the same grouped k-fold downstream protocol.
data_root = 'data/demo'

# Pre-training images and the anatomy masks ANAUS uses. `mask_dir` is the
# default mask source; a method may name its own (ablation of the source):
#   masks       -> the simulator's ground-truth anatomy
#   lpsam_masks -> LP-SAM's masks (tools/generate_anatomy_masks.py)
#   masks_kmeans -> unsupervised DetCon-style masks
#                  (tools/generate_unsupervised_masks.py)
pretrain_data = dict(data_root=data_root, img_dir='images', mask_dir='masks')

# The same for every method.
pretrain = dict(max_iters=30, batch_size=4, seed=0)

anaus = 'configs/anaus/anaus_resnet18_1xb4-30it_sim-demo.py'
methods = dict(
    anaus=dict(config=anaus, needs_masks=True),
    byol=dict(
        config='configs/selfsup/byol_resnet18_1xb4-30it_sim-demo.py'),
    densecl=dict(
        config='configs/selfsup/densecl_resnet18_1xb4-30it_sim-demo.py'),
    simclr=dict(
        config='configs/selfsup/simclr_resnet18_1xb4-30it_sim-demo.py'),
    mocov3=dict(
        config='configs/selfsup/mocov3_resnet18_1xb4-30it_sim-demo.py'),
    random=None,
    # ablations (select with --methods); mask sources are folders of
    # data_root: 'masks' (simulator ground truth), 'lpsam_masks' (LP-SAM,
    # tools/generate_anatomy_masks.py), 'masks_kmeans' (unsupervised,
    # tools/generate_unsupervised_masks.py)
    anaus_gt_masks=dict(config=anaus, needs_masks=True, mask_dir='masks'),
    anaus_unsup_masks=dict(config=anaus, needs_masks=True,
                           mask_dir='masks_kmeans'),
    anaus_no_align=dict(config=anaus, needs_masks=True,
                        cfg_options={'model.head.align_loss': None}),
    anaus_no_core=dict(config=anaus, needs_masks=True,
                       cfg_options={'model.head.core_loss': None}),
    anaus_s1=dict(config=anaus, needs_masks=True,
                  cfg_options={'model.head.num_scales': 1}),
    anaus_s2=dict(config=anaus, needs_masks=True,
                  cfg_options={'model.head.num_scales': 2}),
    anaus_k8=dict(config=anaus, needs_masks=True,
                  cfg_options={'model.num_rois': 8}),
    anaus_k32=dict(config=anaus, needs_masks=True,
                   cfg_options={'model.num_rois': 32}),
)

downstream = dict(
    lesion_seg=dict(
        config='configs/benchmark_ssl/downstream/'
        'seg_upernet_r18_sim-lesion_demo-cpu.py',
        cfg_options={
            f'{split}_dataloader.dataset.dataset.data_root': data_root
            for split in ('train', 'val', 'test')},
        main_metric='fgDice',
        metrics=['fgDice', 'fgPPV', 'fgSensitivity', 'mDice']),
    benign_malignant=dict(
        config='configs/benchmark_ssl/downstream/cls_r18_ft_sim_demo-cpu.py',
        cfg_options={
            f'{split}_dataloader.dataset.dataset.data_root': data_root
            for split in ('train', 'val', 'test')},
        main_metric='accuracy/top1',
        metrics=['accuracy/top1', 'single-label/precision',
                 'single-label/recall', 'single-label/f1-score']),
)

kfold = dict(num_splits=5, seed=0)
