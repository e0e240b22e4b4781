"""Grad-CAM of mmpretrain classifiers and mmseg segmentors, computed by the
``grad-cam`` package (``pytorch_grad_cam``, the one mmpretrain's own
``tools/visualization/vis_cam.py`` uses), an optional extra::

    pip install -e .[cam]

Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391)
weights the activation maps of a layer by the spatial mean of the gradient of
a target score and keeps the positive part. ``pytorch_grad_cam.GradCAM`` does
the hooks, the weighting, the min-max normalisation, the resizing to the
input and the averaging over several layers; this module only adapts the
OpenMMLab models to it, as mmpretrain's tool does:

* the model becomes a module mapping images to logits: a classifier's
  ``model(x, mode='tensor')`` (``(N, K)``), a segmentor's
  ``encode_decode(x, metas)`` (``(N, K, H, W)``);
* the target score: the logit of the class for classifiers
  (``ClassifierOutputTarget``); for segmentors the sum of the class logits
  over the pixels predicted as that class (Seg-Grad-CAM, Vinogradova et al.,
  AAAI 2020, https://arxiv.org/abs/2002.11434; the package's
  ``SemanticSegmentationTarget`` with the predicted region as mask). Without
  a class, the predicted one (segmentors: the largest predicted foreground
  class). The targets record the explained class and its score;
* ViT token outputs ``(N, L, C)`` become ``(N, C, h, w)`` grids
  (``reshape_transform``), dropping a class token.

Example:
    >>> with GradCAM(model, 'backbone.layer4') as cam:
    ...     maps = cam(inputs)            # (N, H, W) in [0, 1]
    ...     classes, scores = cam.target_classes, cam.scores
"""
import difflib
from types import ModuleType
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from torch import nn

from .errors import MissingExtraError

__all__ = [
    'GradCAM', 'LayerOutputError', 'MissingExtraError', 'TargetClassError',
    'get_module', 'import_grad_cam', 'overlay'
]

#: the ``[cam]`` extra (setup.py reads requirements/cam.txt)
CAM_EXTRA_HINT = ('Grad-CAM needs the optional package grad-cam (import '
                  'pytorch_grad_cam): pip install -e .[cam]')


def import_grad_cam() -> ModuleType:
    """Import ``pytorch_grad_cam`` (the ``grad-cam`` package).

    Returns:
        ModuleType: the ``pytorch_grad_cam`` module.

    Raises:
        MissingExtraError: it is not installed (names the ``[cam]`` extra).
    """
    try:
        import pytorch_grad_cam
        import pytorch_grad_cam.utils.image  # noqa: F401
        import pytorch_grad_cam.utils.model_targets  # noqa: F401
    except ImportError as e:
        raise MissingExtraError(CAM_EXTRA_HINT) from e
    return pytorch_grad_cam


def get_module(model: nn.Module, name: str) -> nn.Module:
    """Return ``model``'s submodule called ``name`` (dotted path).

    Args:
        model (nn.Module): the model.
        name (str): dotted module name, e.g. ``'backbone.layer4'``.

    Returns:
        nn.Module: the submodule.

    Raises:
        KeyError: with close matches and a few valid names when not found.
    """
    modules = dict(model.named_modules())
    if name in modules and name:
        return modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    shallow = [n for n in names if n.count('.') <= 1][:8]
    hint = close or shallow
    raise KeyError(f'no layer "{name}" in {type(model).__name__}; '
                   f'valid names include: {", ".join(hint)}')


def _is_segmentor(model: nn.Module) -> bool:
    return hasattr(model, 'encode_decode') and hasattr(model, 'decode_head')


class LayerOutputError(RuntimeError):
    """A target layer's output cannot be made a (N, C, h, w) map."""


def _to_map(feat: torch.Tensor) -> torch.Tensor:
    """``reshape_transform``: a layer output as (N, C, h, w); ViT tokens
    (N, L, C), maybe with a class token, become a square grid."""
    if not isinstance(feat, torch.Tensor):
        raise LayerOutputError(
            f'the layer outputs a {type(feat).__name__}, not a tensor: '
            'choose one of its submodules')
    if feat.dim() == 4:
        return feat
    if feat.dim() == 3:
        n, length, c = feat.shape
        side = int(round(length**0.5))
        if side * side != length:
            feat, side = feat[:, 1:], int(round((length - 1)**0.5))
        if side * side == feat.shape[1]:
            return feat.transpose(1, 2).reshape(n, c, side, side)
    raise LayerOutputError(f'cannot make a spatial map of a layer output of '
                           f'shape {tuple(feat.shape)}')


class _Logits(nn.Module):
    """The model as a module mapping images to logits, for
    ``pytorch_grad_cam``: (N, K) for classifiers, (N, K, H, W) for
    segmentors (``metas`` set before each call)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.segmentor = _is_segmentor(model)
        self.metas: Optional[List[dict]] = None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        model = self.model
        if self.segmentor:
            return model.encode_decode(inputs, self.metas)
        if hasattr(model, 'extract_feat') and hasattr(model, 'head'):
            logits = model(inputs, mode='tensor')  # head(feats): logits
        else:
            logits = model(inputs)
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits


class TargetClassError(ValueError):
    """The class to explain is not a class of the model."""


def _check_class(category: int, num_classes: int) -> None:
    if not 0 <= category < num_classes:
        raise TargetClassError(f'target class {category} is out of range: '
                               f'the model has {num_classes} classes')


class _ClassTarget:
    """``ClassifierOutputTarget`` that picks the predicted class when none is
    given and records the class and its softmax probability."""

    def __init__(self, category: Optional[int]) -> None:
        self.category = category
        self.score = 0.0

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        num_classes = logits.shape[-1]
        if self.category is None:
            self.category = int(logits.argmax())
        _check_class(self.category, num_classes)
        self.score = float(logits.detach().softmax(-1)[self.category])
        return logits[self.category]


class _SegRegionTarget:
    """Seg-Grad-CAM target: the sum of the class logits over the pixels
    predicted as that class (``SemanticSegmentationTarget`` with the
    predicted region as mask; the whole image when the region is empty).
    Records the class and the share of pixels predicted as it."""

    def __init__(self, category: Optional[int]) -> None:
        self.category = category
        self.score = 0.0

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        num_classes = logits.shape[0]
        pred = logits.argmax(0)
        if self.category is None:  # the largest predicted foreground class
            counts = torch.bincount(pred.flatten(), minlength=num_classes)
            if counts[1:].sum() > 0:
                counts[0] = 0
            self.category = int(counts.argmax())
        _check_class(self.category, num_classes)
        region = (pred == self.category).float()
        self.score = float(region.mean())
        if region.sum() == 0:
            region = torch.ones_like(region)
        return (logits[self.category] * region).sum()


class GradCAM:
    """Grad-CAM on named layers of a model, with ``pytorch_grad_cam``.

    Args:
        model (nn.Module): an mmpretrain ``ImageClassifier``, an mmseg
            ``EncoderDecoder`` or any module mapping images to (N, K) logits.
        target_layer (str | Sequence[str]): dotted layer name(s), e.g.
            ``'backbone.layer4'``; the maps of several layers are averaged
            (then normalised to [0, 1] again).

    Raises:
        MissingExtraError: ``grad-cam`` is not installed.
        KeyError: a layer name is not in the model.

    The hooks live only inside ``with GradCAM(...)`` (or one ``__call__``
    when used without ``with``). After a call, ``target_classes`` (N,) and
    ``scores`` (N,) hold the explained class and its softmax probability
    (segmentors: the share of pixels predicted as that class).
    """

    def __init__(self, model: nn.Module,
                 target_layer: Union[str, Sequence[str]]) -> None:
        self._lib = import_grad_cam()
        self.model = model
        self.layer_names = [target_layer] if isinstance(target_layer, str) \
            else list(target_layer)
        self.layers = [get_module(model, n) for n in self.layer_names]
        self._logits = _Logits(model)
        self._cam = None
        self._was_training = model.training
        self.target_classes: Optional[torch.Tensor] = None
        self.scores: Optional[torch.Tensor] = None

    def __enter__(self) -> 'GradCAM':
        if self._cam is None:
            self._was_training = self.model.training
            # the constructor registers the hooks (and calls model.eval())
            self._cam = self._lib.GradCAM(model=self._logits,
                                          target_layers=self.layers,
                                          reshape_transform=_to_map)
        return self

    def __exit__(self, *exc) -> None:
        if self._cam is not None:
            self._cam.activations_and_grads.release()
            self._cam = None
            self.model.train(self._was_training)

    def _metas(self, inputs: torch.Tensor,
               data_samples: Optional[list]) -> Optional[List[dict]]:
        if not self._logits.segmentor:
            return None
        if data_samples is not None:
            return [ds.metainfo for ds in data_samples]
        shape = tuple(inputs.shape[2:])
        return [dict(img_shape=shape, pad_shape=shape)
                for _ in range(inputs.shape[0])]

    def _check_hooks(self) -> None:
        """Explain a missing activation or gradient (the package then fails
        with an unrelated numpy error)."""
        recorded = self._cam.activations_and_grads
        if len(recorded.activations) < len(self.layers):
            raise RuntimeError(
                f'layer(s) {", ".join(self.layer_names)}: not all were used '
                'in the forward pass')
        if len(recorded.gradients) < len(self.layers):
            raise RuntimeError(
                f'layer(s) {", ".join(self.layer_names)}: no gradient of the '
                'target score reached them')

    def __call__(self,
                 inputs: torch.Tensor,
                 target_class: Optional[int] = None,
                 data_samples: Optional[list] = None) -> torch.Tensor:
        """Compute Grad-CAM maps.

        Args:
            inputs (Tensor): preprocessed images (N, C, H, W).
            target_class (int, optional): class to explain; default: the
                predicted class (segmentors: the largest predicted
                foreground class).
            data_samples (list, optional): segmentor data samples whose
                metainfo gives the image shapes.

        Returns:
            Tensor: (N, H, W) float32 maps in [0, 1] at the input size, on
            the CPU.

        Raises:
            TargetClassError: (a ValueError) ``target_class`` is not a
                class of the model.
            RuntimeError: a layer was not used or got no gradient;
                :class:`LayerOutputError` (a RuntimeError): its output is
                not a spatial map.
        """
        was_training = self.model.training
        entered = self._cam is None
        if entered:
            self.__enter__()
        self.model.eval()
        seg = self._logits.segmentor
        target_cls = _SegRegionTarget if seg else _ClassTarget
        targets = [target_cls(target_class) for _ in range(inputs.shape[0])]
        try:
            self._logits.metas = self._metas(inputs, data_samples)
            # gradients reach the layers even when their weights are frozen
            x = inputs.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                try:
                    maps = self._cam(input_tensor=x, targets=targets)
                except TargetClassError:
                    raise
                except LayerOutputError as e:
                    raise LayerOutputError(
                        f'layer(s) {", ".join(self.layer_names)}: {e}'
                    ) from None
                except Exception:
                    self._check_hooks()  # a clearer error when it explains
                    raise
        finally:
            self._logits.metas = None
            if self._cam is not None:
                self._cam.activations_and_grads.gradients = []
                self._cam.activations_and_grads.activations = []
            self.model.zero_grad(set_to_none=True)
            self.model.train(was_training)
            if entered:
                self.__exit__()
        self.target_classes = torch.tensor([t.category for t in targets])
        self.scores = torch.tensor([t.score for t in targets])
        return torch.from_numpy(np.clip(maps, 0, 1))


def overlay(image_bgr: np.ndarray,
            cam: Union[np.ndarray, torch.Tensor],
            alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured map over an image with ``pytorch_grad_cam``'s
    ``show_cam_on_image`` (which rescales the blend to a maximum of 255).

    Args:
        image_bgr (np.ndarray): (H, W, 3) or (H, W) uint8 image.
        cam (np.ndarray | Tensor): (h, w) map in [0, 1]; resized to the image.
        alpha (float): weight of the heat map, in [0, 1].

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.

    Raises:
        MissingExtraError: ``grad-cam`` is not installed.
    """
    show_cam_on_image = import_grad_cam().utils.image.show_cam_on_image
    if isinstance(cam, torch.Tensor):
        cam = cam.detach().cpu().numpy()
    image = np.asarray(image_bgr)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    image = image.astype(np.uint8)
    h, w = image.shape[:2]
    cam = np.clip(np.asarray(cam, dtype=np.float32), 0, 1)
    if cam.shape != (h, w):
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(image.astype(np.float32) / 255, cam,
                             use_rgb=False, image_weight=1 - alpha)
