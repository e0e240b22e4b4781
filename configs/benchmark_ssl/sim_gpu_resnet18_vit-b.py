# Does ANAUS beat the built-in SSL baselines at scale? The powered CPU
# question (sim_resnet18_powered_cpu.py) on one large GPU: 5,000 hard
# simulated images at 224 px for pre-training (seed 300), a separate set of
# 1,000 (seed 400) for the downstream protocol, ResNet-18 and ViT-B/16,
# each method with its config's recipe (ResNet-18: the CPU benchmark's
# recipes at 224 px, configs/benchmark_ssl/pretrain_gpu/*_resnet18_224-gpu.py
# -- ANAUS, BYOL, DenseCL, SimCLR, MoCo v3, one LR rule, BYOL's views;
# ViT-B: configs/anaus_vit-b_pretrain.py and mmpretrain's MAE and MoCo v3
# recipes, pretrain_gpu/*_vit-b_224-gpu.py, all AdamW 1.5e-4 x batch/256)
# under the same budget: 200 iterations at batch 64 (12,800 images, ~2.6 epochs;
# schedules stretched to it, LR scaled linearly from each recipe's
# auto_scale_lr.base_batch_size). Downstream: lesion segmentation (UPerNet)
# at 10 % labels, 3 grouped folds, 150 iterations per run; frozen-backbone
# anatomy probes (ROI and dense) of every backbone on 100 downstream images.
#
# One command (on the GPU machine, 16 cores: the data ~15 min on the CPUs,
# then the benchmark, estimated ~10-15 min on one H200 -- not measured yet;
# every step is resumable: rerun the same command after an interruption):
#   python tools/dataset_converters/simulate_us.py \
#       --out data/sim_hard_gpu_pre5000 --num 5000 --size 224 --seed 300 \
#       --workers 16 --preset hard --quiet && \
#   python tools/dataset_converters/simulate_us.py \
#       --out data/sim_hard_gpu_down1000 --num 1000 --size 224 --seed 400 \
#       --workers 16 --preset hard --quiet && \
#   python tools/benchmark_ssl.py configs/benchmark_ssl/sim_gpu_resnet18_vit-b.py \
#       --work-dir work_dirs/gpu_r18_vitb --in-process
#
# Estimate (assumed, per H200: ResNet-18 pre-training 0.08-0.15 s/iter,
# ViT-B 0.05 (MAE) - 0.4 (ANAUS) s/iter at batch 64 + ~20 s start-up each:
# ~5 min for the 8 pre-trainings; 30 fine-tuning runs in process at ~12 s:
# ~6 min; 10 probes ~20 s each: ~3 min). The dry run (--dry-run) counts the
# runs; its time uses CPU defaults and is not meaningful here.
#
# The table's paired comparisons are against `reference` (ANAUS ResNet-18);
# compare the ViT-B rows with each other (anaus_vit-b against mae_vit-b and
# mocov3_vit-b) from the per-method tables.
pre_root = 'data/sim_hard_gpu_pre5000'
data_root = 'data/sim_hard_gpu_down1000'
pretrain_data = dict(data_root=pre_root, img_dir='images', mask_dir='masks')
pretrain = dict(max_iters=200, batch_size=64, seed=0)

gpu = 'configs/benchmark_ssl/pretrain_gpu/'
vit_seg = ('configs/benchmark_ssl/downstream/'
           'seg_upernet_vit-b16_sim-lesion_gpu.py')
vit = dict(downstream=dict(lesion_seg=dict(config=vit_seg)))
methods = dict(
    # ResNet-18
    anaus=dict(config=gpu + 'anaus_resnet18_224-gpu.py', needs_masks=True),
    byol=dict(config=gpu + 'byol_resnet18_224-gpu.py'),
    densecl=dict(config=gpu + 'densecl_resnet18_224-gpu.py'),
    simclr=dict(config=gpu + 'simclr_resnet18_224-gpu.py'),
    mocov3=dict(config=gpu + 'mocov3_resnet18_224-gpu.py'),
    random=None,
    # ViT-B/16 (their own downstream config)
    anaus_vitb=dict(config='configs/anaus_vit-b_pretrain.py',
                    needs_masks=True, **vit),
    mae_vitb=dict(config=gpu + 'mae_vit-b_224-gpu.py', **vit),
    mocov3_vitb=dict(config=gpu + 'mocov3_vit-b_224-gpu.py', **vit),
    random_vitb=dict(config=None, **vit,
                     probe_backbone=dict(type='VisionTransformer', arch='b',
                                         img_size=224, patch_size=16)),
)

downstream = dict(
    lesion_seg=dict(
        config='configs/benchmark_ssl/downstream/'
        'seg_upernet_r18_sim-lesion_gpu.py',
        cfg_options={
            f'{split}_dataloader.dataset.dataset.data_root': data_root
            for split in ('train', 'val', 'test')},
        main_metric='fgDice',
        metrics=['fgDice', 'fgPPV', 'fgSensitivity', 'mDice']),
)

kfold = dict(num_splits=3, seed=0)
label_fractions = [0.1]
seeds = 1
finetune_iters = dict(lesion_seg=150)
finetune_iters_scaling = 'fixed'
reference = 'anaus'

probes = dict(
    anatomy=dict(data_root=data_root, size=224, num_images=100, folds=5,
                 kinds=['roi', 'dense'], device='cuda', threads=8))
