"""Grad-CAM panels of a fine-tuned classifier (mmpretrain) or segmentor
(mmseg), from its config and checkpoint.

:class:`GradCAMInferencer` follows mmengine's
:class:`~mmengine.infer.BaseInferencer`::

    from anaus_mm.apis import GradCAMInferencer
    inferencer = GradCAMInferencer(
        'configs/benchmarks/cls_r18_ft_simulated.py',
        checkpoint='work_dirs/ft/epoch_30.pth')
    result = inferencer('us.png', img_out_dir='work_dirs/cam')

Each image goes through the config's test pipeline (annotation loading
dropped); the Grad-CAM maps of the ``target_layers`` are computed by the
``grad-cam`` package (``pip install -e .[cam]``, see
:mod:`anaus_mm.utils.grad_cam`) and averaged. The
visualization is the preprocessed image and the Grad-CAM overlay side by
side (enlarged by an integer factor to at least 256 px high when smaller),
with the predicted class, its score and the explained class written on it.
Classifiers explain the logit of the target class; segmentors the sum of the
target class logits over the pixels predicted as that class (Seg-Grad-CAM).
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from torch import nn

from ..datasets.utils import IMG_EXTENSIONS, list_files
from ..utils.checkpoint import (CheckpointError, CheckpointNotFoundError,
                                read_checkpoint)
from ..utils.errors import ConfigValueError
from ..utils.grad_cam import (GradCAM, TargetClassError, get_module,
                              import_grad_cam, overlay)
from ..utils.io import atomic_write_image

__all__ = [
    'GradCAMInferencer', 'image_files', 'inference_pipeline_cfg',
    'compose_panel'
]

#: transforms that read annotations, which a bare image does not have
ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadMergedAnnotations',
                      'LoadAnatomyMask')
MIN_HEIGHT = 256  # small images are enlarged to this height for display

ConfigType = Union[Config, ConfigDict, str]


def image_files(path: str, num: Optional[int] = None) -> List[str]:
    """The image file ``path``, or the images of the folder ``path`` (not
    recursive, natural order), at most ``num`` of them.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a folder without images, or ``num`` < 1.
    """
    if osp.isfile(path):
        files = [path]
    elif osp.isdir(path):
        files = [osp.join(path, f) for f in list_files(path, IMG_EXTENSIONS)]
        if not files:
            raise ConfigValueError(
                f'no images ({", ".join(IMG_EXTENSIONS)}) in {path}')
    else:
        raise FileNotFoundError(f'image file or folder not found: {path}')
    if num is not None:
        if num < 1:
            raise ConfigValueError(f'--num must be at least 1, got {num}')
        files = files[:num]
    return files


def inference_pipeline_cfg(cfg: Config) -> List[dict]:
    """The test pipeline of a config, minus annotation loading.

    Looks in ``test_dataloader`` then ``val_dataloader``, descending through
    dataset wrappers (``GroupKFoldDataset``, ``RepeatDataset``, ...), and
    falls back to a top-level ``test_pipeline``.

    Raises:
        ValueError: the config has none.
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
        raise ConfigValueError(
            'the config has no test pipeline (test_dataloader.'
            'dataset[.dataset].pipeline or test_pipeline)')
    return [copy.deepcopy(t) for t in pipeline
            if t.get('type') not in ANNOTATION_LOADERS]


def compose_panel(image: np.ndarray,
                  overlay_img: np.ndarray,
                  lines: Sequence[str],
                  min_height: int = MIN_HEIGHT) -> np.ndarray:
    """Image | overlay side by side, with text lines drawn on top.

    Small images are enlarged by an integer factor to at least
    ``min_height`` pixels, so that the text stays readable.
    """
    import cv2
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


def _class_name(classes: Optional[Sequence[str]], idx: int) -> str:
    return str(classes[idx]) if classes and idx < len(classes) else str(idx)


class GradCAMInferencer(BaseInferencer):
    """Grad-CAM of a classifier or segmentor on images.

    Args:
        model (str | Config): the model's config (path or object); its
            ``default_scope`` (``mmpretrain`` or ``mmseg``) picks the
            registry.
        checkpoint (str): the trained weights (keys with a ``module.``
            prefix are accepted). They must share parameter names with the
            model.
        device (str): e.g. ``'cpu'`` or ``'cuda:0'``. Defaults to 'cpu'.
        target_layers (Sequence[str]): dotted layer name(s); several are
            averaged. Defaults to ``('backbone.layer4', )``.

    Raises:
        MissingExtraError: the ``grad-cam`` package (the ``[cam]`` extra) is
            not installed.
        FileNotFoundError: the config or checkpoint file does not exist.
        ValueError: an unusable config, checkpoint, device or layer name
            (one-line messages).

    Attributes:
        classes (list[str] | None): class names, from the checkpoint's
            ``dataset_meta`` or the config's test dataset.
        segmentor (bool): whether the model is an mmseg segmentor.
        num_classes (int | None): classes of the head.
    """
    preprocess_kwargs: set = set()
    forward_kwargs: set = {'target_category'}
    visualize_kwargs: set = {'alpha', 'img_out_dir'}
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: ConfigType,
                 checkpoint: str,
                 device: str = 'cpu',
                 target_layers: Sequence[str] = ('backbone.layer4', )
                 ) -> None:
        import_grad_cam()  # fail first, naming the [cam] extra
        if isinstance(model, str):
            if not osp.isfile(model):
                raise FileNotFoundError(f'config file not found: {model}')
            model = Config.fromfile(model)
        self.scope = model.get('default_scope', 'mmpretrain')
        init_default_scope(self.scope)
        self.classes = None
        super().__init__(model=model, weights=checkpoint, device=device,
                         scope=self.scope, show_progress=False)
        self.segmentor = hasattr(self.model, 'decode_head')
        head = (self.model.decode_head if self.segmentor else getattr(
            self.model, 'head', None))
        self.num_classes = getattr(head, 'num_classes', None)
        self.target_layers = list(target_layers)
        for name in self.target_layers:
            try:
                get_module(self.model, name)
            except KeyError as e:
                raise ConfigValueError(
                    f'--target-layers: {e.args[0]}') from e

    # ---------------------------------------------------------- building
    def _registries(self):
        if self.scope == 'mmseg':
            from mmseg.registry import DATASETS, MODELS
        else:
            from mmpretrain.registry import DATASETS, MODELS
        return MODELS, DATASETS

    def _init_model(self, cfg: Config, weights: str,
                    device: str = 'cpu') -> nn.Module:
        """Build the config's model and load ``weights`` into it."""
        from mmengine.runner import load_state_dict
        models, _ = self._registries()
        if not weights or not osp.isfile(weights):
            raise CheckpointNotFoundError(
                f'checkpoint file not found: {weights}')
        model_cfg = copy.deepcopy(cfg.model)
        if model_cfg.get('backbone', {}).get('init_cfg'):
            model_cfg['backbone']['init_cfg'] = None  # the checkpoint has it
        if self.scope == 'mmseg' and model_cfg.get('pretrained'):
            model_cfg['pretrained'] = None
        try:
            model = models.build(model_cfg)
        except Exception as e:
            raise ConfigValueError(
                f'cannot build the model of the config: '
                f'{type(e).__name__}: {e}'.splitlines()[0]) from e
        state, ckpt = read_checkpoint(weights)
        if not set(model.state_dict()) & set(state):
            raise CheckpointError(
                f'checkpoint {weights} does not match the model of the '
                'config (no parameter name in common)')
        load_state_dict(model, state, strict=False)
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ConfigValueError(
                f'--device {device}: no CUDA device is available')
        try:
            model.to(device).eval()
        except Exception as e:
            raise ConfigValueError(
                f'--device {device}: {e}'.splitlines()[0]) from e
        meta = ckpt.get('meta') or {}
        self.classes = ((meta.get('dataset_meta') or {}).get('classes')
                        or self._config_classes(cfg))
        return model

    def _config_classes(self, cfg: Config) -> Optional[List[str]]:
        """Class names of the config's test dataset type, if it declares
        them."""
        _, datasets = self._registries()
        dataset = (cfg.get('test_dataloader') or {}).get('dataset')
        while isinstance(dataset, dict):
            classes = (dataset.get('metainfo') or {}).get('classes')
            if classes:
                return list(classes)
            inner = dataset.get('dataset')
            if not isinstance(inner, dict):
                dataset_cls = datasets.get(dataset.get('type', ''))
                meta = getattr(dataset_cls, 'METAINFO', None) or {}
                return list(meta.get('classes') or []) or None
            dataset = inner
        return None

    def _init_pipeline(self, cfg: Config) -> Compose:
        pipeline_cfg = inference_pipeline_cfg(cfg)
        try:
            pipeline = Compose(pipeline_cfg)
        except Exception as e:
            raise ConfigValueError(
                f'cannot build the test pipeline of the config: '
                f'{type(e).__name__}: {e}'.splitlines()[0]) from e

        def load(path: str) -> dict:
            try:
                return pipeline(dict(img_path=path))
            except Exception as e:
                raise ConfigValueError(
                    f'cannot read / preprocess image {path}: '
                    f'{type(e).__name__}: {e}'.splitlines()[0]) from e

        return load

    def _init_collate(self, cfg: Config):
        return pseudo_collate

    def _init_visualizer(self, cfg: Config) -> None:
        return None  # panels are drawn by :func:`compose_panel`

    def _inputs_to_list(self, inputs: Union[str, Sequence[str]]) -> list:
        if isinstance(inputs, str):
            return image_files(inputs)
        return list(inputs)

    # --------------------------------------------------------- inference
    def check_target(self, target_category: Optional[int]) -> None:
        """Raise ValueError when ``target_category`` is not a class of the
        model."""
        if target_category is not None and self.num_classes is not None \
                and not 0 <= target_category < self.num_classes:
            raise ConfigValueError(
                f'--target-category {target_category} is out of range: the '
                f'model has {self.num_classes} classes')

    def forward(self, inputs: dict,
                target_category: Optional[int] = None) -> List[dict]:
        """Grad-CAM of one collated batch of pipeline outputs.

        Returns:
            list[dict]: per image ``cam`` (``(H, W)`` in [0, 1], averaged
            over the target layers), ``image`` (the preprocessed image, BGR
            uint8), ``target`` (the explained class), ``score`` and ``lines``
            (text describing the prediction).
        """
        batch = self.model.data_preprocessor(inputs, False)
        x, samples = batch['inputs'], batch['data_samples']
        with GradCAM(self.model, self.target_layers) as grad_cam:
            try:
                cam = grad_cam(x, target_category,
                               samples if self.segmentor else None).numpy()
            except TargetClassError as e:
                raise ConfigValueError(
                    f'--target-category: {e}'.splitlines()[0]) from e
            except RuntimeError as e:
                raise ConfigValueError(
                    f'--target-layers: {e}'.splitlines()[0]) from e
            targets = grad_cam.target_classes.tolist()
            scores = grad_cam.scores.tolist()
        preds = []
        for i, raw in enumerate(inputs['inputs']):
            image = raw.permute(1, 2, 0).numpy().astype('uint8')
            if image.shape[2] == 1:
                image = image.repeat(3, axis=2)
            image = image[..., :3].copy()
            h, w = image.shape[:2]
            preds.append(dict(
                cam=cam[i, :h, :w],  # segmentors may pad the input
                image=image,
                target=int(targets[i]),
                score=float(scores[i]),
                lines=self._describe(x[i:i + 1], int(targets[i]),
                                     float(scores[i])),
                img_path=inputs['data_samples'][i].metainfo.get('img_path')))
        return preds

    def _describe(self, x: torch.Tensor, target: int,
                  score: float) -> List[str]:
        """Text lines: prediction and explained class."""
        if self.segmentor:
            return [f'cam: {_class_name(self.classes, target)} '
                    f'(area {100 * score:.0f}%)']
        with torch.no_grad():
            probs = self.model(x, mode='tensor').softmax(1)[0]
        pred = int(probs.argmax())
        lines = [f'pred: {_class_name(self.classes, pred)} '
                 f'{float(probs[pred]):.2f}']
        if target != pred:
            lines.append(f'cam: {_class_name(self.classes, target)} '
                         f'{score:.2f}')
        return lines

    def visualize(self,
                  inputs: list,
                  preds: List[dict],
                  alpha: float = 0.5,
                  img_out_dir: str = '') -> List[np.ndarray]:
        """Panels (image | overlay, with the text lines), written to
        ``img_out_dir`` as ``<stem>_cam.png`` when given."""
        panels = []
        for path, pred in zip(inputs, preds):
            panel = compose_panel(pred['image'],
                                  overlay(pred['image'], pred['cam'], alpha),
                                  pred['lines'])
            if img_out_dir:
                stem = osp.splitext(osp.basename(path))[0]
                out = osp.join(img_out_dir, f'{stem}_cam.png')
                atomic_write_image(out, panel)
                pred['out_file'] = out
            panels.append(panel)
        return panels

    def postprocess(self, preds: List[dict], visualization: List[np.ndarray],
                    return_datasample: bool = False) -> Dict[str, list]:
        """``predictions`` (the dicts of :meth:`forward`, plus ``out_file``
        when written) and ``visualization`` (the panels)."""
        return dict(predictions=preds, visualization=visualization)

    def __call__(self,
                 inputs: Union[str, Sequence[str]],
                 target_category: Optional[int] = None,
                 alpha: float = 0.5,
                 img_out_dir: str = '',
                 batch_size: int = 1) -> Dict[str, list]:
        """Grad-CAM panels of images.

        Args:
            inputs (str | Sequence[str]): an image file, a folder (its
                images) or a list of image files.
            target_category (int, optional): the class to explain. Defaults
                to the predicted one.
            alpha (float): weight of the heat map in the overlay.
            img_out_dir (str): write ``<stem>_cam.png`` panels there.
            batch_size (int): images per model call. Defaults to 1.

        Returns:
            dict: ``predictions`` (list of dicts, see :meth:`forward`) and
            ``visualization`` (list of BGR panels).
        """
        self.check_target(target_category)
        return super().__call__(inputs, False, batch_size,
                                target_category=target_category, alpha=alpha,
                                img_out_dir=img_out_dir)
