"""Grad-CAM for classifiers and segmentors, with no extra dependency.

Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391)
weights the activation maps of a layer by the spatial mean of the gradient of
a target score and keeps the positive part. For classifiers the score is the
logit of the target class; for segmentors it is the sum of the target class
logits over the pixels predicted as that class (Seg-Grad-CAM, Vinogradova et
al., AAAI 2020, https://arxiv.org/abs/2002.11434).

Example:
    >>> with GradCAM(model, 'backbone.layer4') as cam:
    ...     maps = cam(inputs)            # (N, H, W) in [0, 1]
    ...     classes, scores = cam.target_classes, cam.scores
"""
import difflib

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['GradCAM', 'get_module', 'overlay']


def get_module(model, name):
    """Return ``model``'s submodule called ``name`` (dotted path).

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


def _is_segmentor(model):
    return hasattr(model, 'encode_decode') and hasattr(model, 'decode_head')


def _to_map(feat):
    """Bring a layer output to (N, C, h, w); ViT tokens become a grid."""
    if feat.dim() == 4:
        return feat
    if feat.dim() == 3:  # (N, L, C) tokens, maybe with a class token
        n, length, c = feat.shape
        side = int(round(length**0.5))
        if side * side != length:
            feat, side = feat[:, 1:], int(round((length - 1)**0.5))
        if side * side == feat.shape[1]:
            return feat.transpose(1, 2).reshape(n, c, side, side)
    raise ValueError(f'cannot make a spatial map of a layer output of shape '
                     f'{tuple(feat.shape)}')


class GradCAM:
    """Grad-CAM on a named layer of a model.

    Args:
        model (nn.Module): an mmpretrain ``ImageClassifier``, an mmseg
            ``EncoderDecoder`` or any module mapping images to (N, K) logits.
        target_layer (str): dotted name of the layer, e.g.
            ``'backbone.layer4'``.

    The hooks live only inside ``with GradCAM(...)`` (or one ``__call__``
    when used without ``with``). After a call, ``target_classes`` (N,) and
    ``scores`` (N,) hold the explained class and its softmax probability
    (segmentors: the share of pixels predicted as that class).
    """

    def __init__(self, model: nn.Module, target_layer: str):
        self.model = model
        self.layer_name = target_layer
        self.layer = get_module(model, target_layer)
        self._handles = []
        self._acts = None
        self._grads = None
        self.target_classes = None
        self.scores = None

    def __enter__(self):
        if not self._handles:
            self._handles.append(
                self.layer.register_forward_hook(self._save_activation))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._acts = self._grads = None

    def _save_activation(self, module, inputs, output):
        if isinstance(output, (tuple, list)):
            output = output[-1]
        # a copy: a later in-place op must not change the saved values
        self._acts = output.detach().clone()
        if output.requires_grad:
            output.register_hook(self._save_gradient)

    def _save_gradient(self, grad):
        self._grads = grad

    def _target_scores(self, inputs, target_class, data_samples):
        """Forward; return the per-sample target score to differentiate."""
        model = self.model
        if _is_segmentor(model):
            if data_samples is not None:
                metas = [ds.metainfo for ds in data_samples]
            else:
                shape = tuple(inputs.shape[2:])
                metas = [dict(img_shape=shape, pad_shape=shape)
                         for _ in range(inputs.shape[0])]
            logits = model.encode_decode(inputs, metas)  # (N, K, H, W)
            pred = logits.argmax(1)
            if target_class is None:
                target = []
                for p in pred:  # largest predicted foreground class
                    counts = torch.bincount(p.flatten(),
                                            minlength=logits.shape[1])
                    counts[0] = 0 if counts[1:].sum() > 0 else counts[0]
                    target.append(int(counts.argmax()))
                target = torch.tensor(target, device=logits.device)
            else:
                target = torch.full((inputs.shape[0], ), int(target_class),
                                    device=logits.device)
            idx = target.view(-1, 1, 1)
            region = (pred == idx).float()
            # an empty predicted region: explain the class over the image
            empty = region.flatten(1).sum(1) == 0
            region[empty] = 1.0
            class_logits = logits.gather(
                1, idx.unsqueeze(1).expand(-1, 1, *logits.shape[2:]))[:, 0]
            score = (class_logits * region).flatten(1).sum(1)
            self.scores = (pred == idx).float().flatten(1).mean(1).detach()
        else:
            if hasattr(model, 'extract_feat') and hasattr(model, 'head'):
                logits = model(inputs, mode='tensor')  # head(feats): logits
            else:
                logits = model(inputs)
            if isinstance(logits, (tuple, list)):
                logits = logits[-1]
            if target_class is None:
                target = logits.argmax(1)
            else:
                target = torch.full((inputs.shape[0], ), int(target_class),
                                    device=logits.device)
            num_classes = logits.shape[1]
            if int(target.max()) >= num_classes or int(target.min()) < 0:
                raise ValueError(f'target class {target_class} is out of '
                                 f'range: the model has {num_classes} '
                                 'classes')
            score = logits.gather(1, target.view(-1, 1))[:, 0]
            probs = logits.detach().softmax(1)
            self.scores = probs.gather(1, target.view(-1, 1))[:, 0]
        self.target_classes = target.detach()
        return score

    def __call__(self, inputs, target_class=None, data_samples=None):
        """Compute Grad-CAM maps.

        Args:
            inputs (Tensor): preprocessed images (N, C, H, W).
            target_class (int, optional): class to explain; default: the
                predicted class (segmentors: the largest predicted
                foreground class).
            data_samples (list, optional): segmentor data samples whose
                metainfo gives the image shapes.

        Returns:
            Tensor: (N, H, W) maps in [0, 1] at the input size.
        """
        entered = not self._handles
        if entered:
            self.__enter__()
        was_training = self.model.training
        try:
            self.model.eval()
            self.model.zero_grad(set_to_none=True)
            self._acts = self._grads = None
            inputs = inputs.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                score = self._target_scores(inputs, target_class,
                                            data_samples)
                if self._acts is None:
                    raise RuntimeError(f'layer "{self.layer_name}" was not '
                                       'used in the forward pass')
                score.sum().backward()
            acts = self._acts
            grads = torch.zeros_like(acts) if self._grads is None \
                else self._grads
            acts, grads = _to_map(acts), _to_map(grads)
            weights = grads.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((weights * acts).sum(1, keepdim=True))
            cam = F.interpolate(cam, size=inputs.shape[2:], mode='bilinear',
                                align_corners=False)[:, 0]
            low = cam.flatten(1).min(1)[0].view(-1, 1, 1)
            high = cam.flatten(1).max(1)[0].view(-1, 1, 1)
            cam = (cam - low) / (high - low).clamp_min(1e-12)
            return cam.clamp(0, 1)
        finally:
            self.model.zero_grad(set_to_none=True)
            self.model.train(was_training)
            if entered:
                self.__exit__()


def overlay(image_bgr, cam, alpha=0.5):
    """Blend a JET-coloured map over an image.

    Args:
        image_bgr (np.ndarray): (H, W, 3) or (H, W) uint8 image.
        cam (np.ndarray | Tensor): (h, w) map in [0, 1]; resized to the image.
        alpha (float): weight of the heat map.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.
    """
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
    heat = cv2.applyColorMap(np.uint8(np.round(cam * 255)), cv2.COLORMAP_JET)
    return cv2.addWeighted(heat, alpha, image, 1 - alpha, 0)
