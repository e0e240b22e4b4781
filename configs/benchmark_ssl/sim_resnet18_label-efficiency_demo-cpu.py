# Label-efficiency protocol on the simulated demo data: the methods and
# tasks of sim_resnet18_demo-cpu.py, fine-tuned on 10 %, 25 % and 100 % of
# each training fold (grouped, class-stratified subsets, the same for every
# method; the test fold is always whole), 3 seeds each, ANAUS compared with
# every baseline by paired differences (95 % Student-t intervals).
#   python tools/benchmark_ssl.py \
#       configs/benchmark_ssl/sim_resnet18_label-efficiency_demo-cpu.py \
#       --methods anaus byol random --dry-run   # runs and estimated time
_base_ = ['./sim_resnet18_demo-cpu.py']

label_fractions = [0.1, 0.25, 1.0]
seeds = 3
# Fine-tuning iterations per run at 100 % labels (the classification config
# is epoch-based; it becomes IterBasedTrainLoop). 'proportional': a run at
# fraction F trains max(finetune_min_iters, round(F * N)) iterations;
# 'fixed': N at every fraction.
finetune_iters = dict(lesion_seg=100, benign_malignant=100)
finetune_iters_scaling = 'proportional'
finetune_min_iters = 20
reference = 'anaus'
