"""Grad-CAM of a fine-tuned classifier (or segmentor) on images.

Writes ``<name>_cam.png`` per image into ``--out-dir``: the preprocessed
image and the Grad-CAM overlay side by side (enlarged by an integer factor to
at least 256 px high when smaller), with the predicted class, its
score and the explained class written on it. Classifiers (mmpretrain) explain
the logit of the target class; segmentors (mmseg) the sum of the target class
logits over the pixels predicted as that class (Seg-Grad-CAM).

Examples::

    python tools/visualization/vis_cam.py data/simulated/images \\
        configs/benchmarks/cls_r18_ft_simulated.py work_dirs/ft/epoch_30.pth \\
        --num 8 --out-dir work_dirs/cam
    python tools/visualization/vis_cam.py img.png CONFIG CKPT \\
        --target-layers backbone.layer3 --target-category 1
"""
import argparse
import copy
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import anaus_mm  # noqa: E402,F401  (installs the compatibility fixes first)
from anaus_mm.utils.io import atomic_write_bytes  # noqa: E402
from anaus_mm.utils.cli import (CLIError, DictAction,  # noqa: E402
                                check_writable_dir, load_config, run_cli)

IMG_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
# transforms that read annotations, which a bare image does not have
ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadMergedAnnotations',
                      'LoadAnatomyMask')
MIN_HEIGHT = 256  # small images are enlarged to this height for display


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Grad-CAM of a classifier / segmentor on images')
    parser.add_argument('img', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--target-layers', nargs='+',
                        default=['backbone.layer4'],
                        help='layer name(s); several are averaged '
                        '(default: backbone.layer4)')
    parser.add_argument('--target-category', type=int, default=None,
                        help='class to explain (default: the predicted one)')
    parser.add_argument('--out-dir', default='work_dirs/vis_cam')
    parser.add_argument('--num', type=int, default=None,
                        help='at most this many images of a folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='weight of the heat map in the overlay')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def list_images(path, num=None):
    """Image files of ``path`` (a file or a folder), sorted."""
    if osp.isfile(path):
        files = [path]
    elif osp.isdir(path):
        files = sorted(
            osp.join(path, f) for f in os.listdir(path)
            if f.lower().endswith(IMG_EXTS))
        if not files:
            raise CLIError(f'no images ({", ".join(IMG_EXTS)}) in {path}')
    else:
        raise CLIError(f'image file or folder not found: {path}')
    if num is not None:
        if num < 1:
            raise CLIError(f'--num must be at least 1, got {num}')
        files = files[:num]
    return files


def test_pipeline_cfg(cfg):
    """The test pipeline of a config, minus annotation loading.

    Looks in ``test_dataloader`` then ``val_dataloader``, descending through
    dataset wrappers (``GroupKFoldDataset``, ``RepeatDataset``, ...), and
    falls back to a top-level ``test_pipeline``.
    """
    pipeline = None
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        while isinstance(dataset, dict):
            if dataset.get('pipeline'):
                pipeline = dataset['pipeline']
                break
            dataset = dataset.get('dataset')
        if pipeline:
            break
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    if not pipeline:
        raise CLIError('the config has no test pipeline (test_dataloader.'
                       'dataset[.dataset].pipeline or test_pipeline)')
    return [copy.deepcopy(t) for t in pipeline
            if t.get('type') not in ANNOTATION_LOADERS]


def build_model(cfg, checkpoint, device):
    """Build the config's model and load ``checkpoint`` into it."""
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner import CheckpointLoader, load_state_dict
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    if not osp.isfile(checkpoint):
        raise CLIError(f'checkpoint file not found: {checkpoint}')
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('backbone', {}).get('init_cfg'):
        model_cfg['backbone']['init_cfg'] = None  # the checkpoint has it all
    if scope == 'mmseg' and model_cfg.get('pretrained'):
        model_cfg['pretrained'] = None
    try:
        model = MODELS.build(model_cfg)
    except Exception as e:
        raise CLIError(f'cannot build the model of the config: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    try:
        ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                map_location='cpu')
    except Exception as e:
        raise CLIError(f'cannot read checkpoint {checkpoint}: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CLIError(f'checkpoint {checkpoint} holds no state dict')
    state = {(k[7:] if k.startswith('module.') else k): v
             for k, v in state.items()}
    own = set(model.state_dict())
    if not own & set(state):
        raise CLIError(f'checkpoint {checkpoint} does not match the model '
                       'of the config (no parameter name in common)')
    load_state_dict(model, state, strict=False)
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise CLIError(f'--device {device}: no CUDA device is available')
    try:
        model.to(device).eval()
    except Exception as e:
        raise CLIError(f'--device {device}: {e}'.splitlines()[0]) from e
    meta = ckpt.get('meta') or {}
    classes = (meta.get('dataset_meta') or {}).get('classes')
    return model, classes or _config_classes(cfg, scope)


def _config_classes(cfg, scope):
    """Class names of the config's test dataset type, if it declares them."""
    if scope == 'mmseg':
        from mmseg.registry import DATASETS
    else:
        from mmpretrain.registry import DATASETS
    dataset = (cfg.get('test_dataloader') or {}).get('dataset')
    while isinstance(dataset, dict):
        classes = (dataset.get('metainfo') or {}).get('classes')
        if classes:
            return list(classes)
        inner = dataset.get('dataset')
        if not isinstance(inner, dict):
            dataset_cls = DATASETS.get(dataset.get('type', ''))
            meta = getattr(dataset_cls, 'METAINFO', None) or {}
            return list(meta.get('classes') or []) or None
        dataset = inner
    return None


def compose_panel(image, overlay_img, lines, min_height=MIN_HEIGHT):
    """Image | overlay side by side, with text lines drawn on top.

    Small images are enlarged by an integer factor to at least
    ``min_height`` pixels, so that the text stays readable.
    """
    import cv2
    import numpy as np
    panel = np.concatenate([image, overlay_img], axis=1)
    factor = -(-min_height // panel.shape[0])
    if factor > 1:
        panel = cv2.resize(panel, None, fx=factor, fy=factor,
                           interpolation=cv2.INTER_NEAREST)
    h, w = panel.shape[:2]
    scale = max(0.3, min(1.0, w / 640))
    thick = 1 if scale < 0.6 else 2
    y = 0
    for line in lines:
        (tw, th), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX,
                                         scale, thick)
        y += th + base + 2
        for color, t in (((0, 0, 0), thick + 2), ((255, 255, 255), thick)):
            cv2.putText(panel, line, (3, y - base), cv2.FONT_HERSHEY_SIMPLEX,
                        scale, color, t, cv2.LINE_AA)
    return panel


def write_png(path, image):
    """Write a PNG atomically (temporary file + os.replace)."""
    import cv2
    ok, buf = cv2.imencode('.png', image)
    if not ok:
        raise CLIError(f'cannot encode {path}')
    atomic_write_bytes(path, buf.tobytes())


def class_name(classes, idx):
    return str(classes[idx]) if classes and idx < len(classes) else str(idx)


def main(argv=None):
    args = parse_args(argv)
    files = list_images(args.img, args.num)
    cfg = load_config(args.config, args.cfg_options)
    pipeline_cfg = test_pipeline_cfg(cfg)
    model, classes = build_model(cfg, args.checkpoint, args.device)

    import torch
    from mmengine.dataset import Compose

    from anaus_mm.utils.grad_cam import GradCAM, get_module, overlay
    segmentor = hasattr(model, 'decode_head')
    head = model.decode_head if segmentor else getattr(model, 'head', None)
    num_classes = getattr(head, 'num_classes', None)
    if args.target_category is not None and num_classes is not None and \
            not 0 <= args.target_category < num_classes:
        raise CLIError(f'--target-category {args.target_category} is out of '
                       f'range: the model has {num_classes} classes')
    for name in args.target_layers:
        try:
            get_module(model, name)
        except KeyError as e:
            raise CLIError(f'--target-layers: {e.args[0]}') from e
    try:
        pipeline = Compose(pipeline_cfg)
    except Exception as e:
        raise CLIError(f'cannot build the test pipeline of {args.config}: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    check_writable_dir(args.out_dir, 'output dir')

    for path in files:
        try:
            data = pipeline(dict(img_path=path))
        except Exception as e:
            raise CLIError(f'cannot read / preprocess image {path}: '
                           f'{type(e).__name__}: {e}'.splitlines()[0]) from e
        batch = model.data_preprocessor(
            dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
            False)
        inputs, samples = batch['inputs'], batch['data_samples']
        cams = []
        for name in args.target_layers:
            with GradCAM(model, name) as grad_cam:
                try:
                    cams.append(grad_cam(inputs, args.target_category,
                                         samples if segmentor else None)[0])
                except (RuntimeError, ValueError) as e:
                    raise CLIError(f'--target-layers {name}: {e}'.splitlines()
                                   [0]) from e
                target = int(grad_cam.target_classes[0])
                score = float(grad_cam.scores[0])
        cam = torch.stack(cams).mean(0).cpu().numpy()
        image = data['inputs'].permute(1, 2, 0).numpy().astype('uint8')
        if image.shape[2] == 1:
            image = image.repeat(3, axis=2)
        image = image[..., :3].copy()
        h, w = image.shape[:2]
        cam = cam[:h, :w]  # segmentors may pad the input
        lines = _describe(model, inputs, samples, segmentor, classes,
                          target, score)
        panel = compose_panel(image, overlay(image, cam, args.alpha), lines)
        stem = osp.splitext(osp.basename(path))[0]
        out = osp.join(args.out_dir, f'{stem}_cam.png')
        write_png(out, panel)
        print(f'{out}  ({"; ".join(lines)})', flush=True)
    print(f'wrote {len(files)} Grad-CAM image(s) to {args.out_dir}')
    return 0


def _describe(model, inputs, samples, segmentor, classes, target, score):
    """Text lines: prediction and explained class."""
    import torch
    if segmentor:
        return [f'cam: {class_name(classes, target)} '
                f'(area {100 * score:.0f}%)']
    with torch.no_grad():
        probs = model(inputs, mode='tensor').softmax(1)[0]
    pred = int(probs.argmax())
    lines = [f'pred: {class_name(classes, pred)} {float(probs[pred]):.2f}']
    if target != pred:
        lines.append(f'cam: {class_name(classes, target)} {score:.2f}')
    return lines


if __name__ == '__main__':
    run_cli(main)
