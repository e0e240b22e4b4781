"""Anatomy label maps from a trained stage-2 LP-SAM, for any image.

:class:`LPSAMInferencer` follows mmengine's
:class:`~mmengine.infer.BaseInferencer` (as mmseg's ``MMSegInferencer``):
build once from a config and a checkpoint, then call it on image paths,
arrays or a folder::

    from anaus_mm.apis import LPSAMInferencer
    inferencer = LPSAMInferencer(
        'configs/lpsam/lpsam-stage2_vit-b_1xb32-200e_sim-256.py',
        checkpoint='work_dirs/lpsam_stage2/best_mDice_iter_2000.pth')
    result = inferencer('us.png')['predictions']  # sem_seg, pred_iou

Every image is read as 8-bit BGR (16-bit and float images are min-max
scaled; grayscale, RGBA and single-channel images converted), resized to the
model's square input, decoded for all classes in one call, and the class
probabilities are resized back (bilinear) to the image's original size and
merged into a label map: 0 background (every probability below
``score_thr``), 1..C the anatomy ids. ``min_iou`` drops a class from an image
when the decoder's predicted IoU for it is below the threshold.
"""
import os.path as osp
import warnings
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.device import get_device
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope
from torch import nn
from torch.utils.data import Dataset

from ..datasets.utils import IMG_EXTENSIONS, list_files
from ..utils.checkpoint import (CheckpointError, check_shapes, missing_keys,
                                read_checkpoint)
from ..utils.errors import ConfigValueError
from ..utils.io import atomic_write_image
from ..visualization import draw_label_overlay

__all__ = [
    'LPSAMInferencer', 'LoadResize', 'ImageFolder', 'collate', 'read_image',
    'to_bgr_uint8'
]

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]
ConfigType = Union[Config, ConfigDict, dict, str]


# ------------------------------------------------------------------ images
def to_bgr_uint8(img: np.ndarray) -> np.ndarray:
    """Convert a decoded image to uint8 BGR ``(H, W, 3)``.

    16-bit and float images are min-max scaled to 0..255 (a constant image
    becomes 0); grayscale, single-channel and BGRA images are converted.

    Raises:
        ValueError: an array that is no image (channel count not 1, 3, 4).
    """
    import cv2
    if img.dtype != np.uint8:
        f = img.astype(np.float32)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        f = (f - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(f)
        img = np.nan_to_num(f).round().astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f'unsupported image shape {img.shape}')
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    return img


def read_image(path: str) -> np.ndarray:
    """Read any image OpenCV decodes (8/16-bit, gray, RGB, RGBA) as uint8
    BGR ``(H, W, 3)``.

    Raises:
        ValueError: an empty, truncated or non-image file.
    """
    import cv2
    if osp.getsize(path) == 0:
        raise ValueError('empty file')
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError('cannot decode image (truncated or not an image)')
    return to_bgr_uint8(img)


class LoadResize:
    """The inferencer's pipeline: read one image and resize it to the
    model's square input.

    Args:
        size (int): the model's input side (``model.img_size``).

    Returns (when called on a path or a BGR array):
        dict: ``inputs`` (uint8 tensor ``(3, size, size)``, BGR),
        ``ori_shape`` (``(H, W)`` of the image) and ``img_path`` (``None``
        for arrays).
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: InputType) -> Dict[str, Any]:
        import cv2
        if isinstance(image, str):
            img, path = read_image(image), image
        elif isinstance(image, np.ndarray):
            img, path = to_bgr_uint8(image), None
        else:
            raise TypeError(f'expected an image path or array, got '
                            f'{type(image).__name__}')
        small = cv2.resize(img, (self.size, self.size),
                           interpolation=cv2.INTER_LINEAR)
        return dict(
            inputs=torch.from_numpy(small).permute(2, 0, 1).contiguous(),
            ori_shape=tuple(img.shape[:2]),
            img_path=path)


class ImageFolder(Dataset):
    """Map-style dataset of image files that reports, never raises.

    Item ``i``: ``(rel_path, pipeline output, None)``, or ``(rel_path, None,
    reason)`` when the file cannot be read (an unreadable file must not stop
    a run over thousands of images).

    Args:
        root (str): the folder.
        rel_paths (Sequence[str]): files relative to ``root``.
        pipeline (callable): e.g. :class:`LoadResize` (picklable, for
            DataLoader workers).
    """

    def __init__(self, root: str, rel_paths: Sequence[str],
                 pipeline: Callable[[str], dict]) -> None:
        self.root, self.rel_paths, self.pipeline = root, rel_paths, pipeline

    def __len__(self) -> int:
        return len(self.rel_paths)

    def __getitem__(
            self, i: int) -> Tuple[str, Optional[dict], Optional[str]]:
        rel = self.rel_paths[i]
        try:
            return rel, self.pipeline(osp.join(self.root, rel)), None
        except Exception as e:  # noqa: BLE001  reported, never fatal
            return rel, None, f'{type(e).__name__}: {e}'


def collate(batch: Sequence[dict]) -> Dict[str, list]:
    """:class:`LoadResize` outputs -> one dict of lists (no stacking, no
    transposing of the ``ori_shape`` tuples)."""
    return {k: [b[k] for b in batch] for k in batch[0]} if batch else {}


def _class_meta(cfg: Config,
                num_classes: int) -> Tuple[List[str], List[List[int]]]:
    """(names, palette) of ids 0..C from the config's dataset metainfo;
    generic names and a fixed random palette when it has none."""
    names, palette = None, None
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        meta = (cfg.get(key) or {}).get('dataset', {}).get('metainfo')
        if meta and meta.get('classes'):
            names, palette = list(meta['classes']), meta.get('palette')
            break
    if not names or len(names) != num_classes + 1:
        names = ['background'] + [f'class_{i}'
                                  for i in range(1, num_classes + 1)]
    if not palette or len(palette) != num_classes + 1:
        rng = np.random.RandomState(42)
        palette = [[0, 0, 0]] + rng.randint(40, 255,
                                            (num_classes, 3)).tolist()
    return names, [list(map(int, p)) for p in palette]


# -------------------------------------------------------------- inferencer
class LPSAMInferencer(BaseInferencer):
    """Anatomy label maps from a stage-2 LP-SAM (latent prompts, no manual
    prompts).

    Args:
        model (str | Config | dict): an LP-SAM stage-2 config (path or
            object). Its ``sam_checkpoint`` and ``stage1_checkpoint`` are
            ignored: every weight comes from ``checkpoint``.
        checkpoint (str, optional): the stage-2 checkpoint (``.pth``; keys
            with a ``module.`` prefix are accepted). It must hold every key
            of the model. Without it the weights stay random (a warning).
        device (str, optional): e.g. ``'cuda:0'`` or ``'cpu'``. Defaults to
            mmengine's :func:`~mmengine.device.get_device`.
        score_thr (float, optional): background where every class
            probability is below it. Defaults to the config's
            ``model.score_thr``.
        show_progress (bool): a progress bar in :meth:`__call__`. Defaults
            to False.

    Raises:
        FileNotFoundError: the config or checkpoint file does not exist.
        ValueError: not a stage-2 LP-SAM config, or a checkpoint that
            cannot be read or does not fit the model (one-line messages).

    Attributes:
        classes (list[str]): names of ids ``0..C`` (``0`` background).
        palette (list[list[int]]): RGB colour per id.

    Examples:
        >>> inferencer = LPSAMInferencer(config, checkpoint, device='cpu')
        >>> pred = inferencer('us.png')['predictions']
        >>> pred['sem_seg'].shape, pred['pred_iou'].shape  # (H, W), (C,)
    """
    preprocess_kwargs: set = set()
    forward_kwargs: set = {'min_iou'}
    visualize_kwargs: set = {'show', 'return_vis', 'img_out_dir', 'opacity'}
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: ConfigType,
                 checkpoint: Optional[str] = None,
                 device: Optional[str] = None,
                 score_thr: Optional[float] = None,
                 show_progress: bool = False) -> None:
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'config file not found: {model}')
        self._score_thr = score_thr
        self.num_visualized_imgs = 0
        init_default_scope('mmseg')
        super().__init__(model=model, weights=checkpoint,
                         device=device or get_device(), scope='mmseg',
                         show_progress=show_progress)
        self.classes, self.palette = _class_meta(self.cfg,
                                                 self.model.num_classes)

    # ---------------------------------------------------------- building
    def _init_model(self, cfg: ConfigType, weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """Build the stage-2 LP-SAM of ``cfg`` and load ``weights``."""
        from mmseg.registry import MODELS
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        mcfg = cfg.model.copy()
        if mcfg.get('type') != 'LPSAM' or mcfg.get('stage', 1) != 2:
            raise ConfigValueError(
                f'mask generation needs an LP-SAM stage-2 config (model.type '
                f'LPSAM, stage 2); got type {mcfg.get("type")}, stage '
                f'{mcfg.get("stage", 1)}')
        mcfg.sam_checkpoint = None  # every weight comes from the checkpoint
        mcfg.stage1_checkpoint = None
        if self._score_thr is not None:
            mcfg.score_thr = self._score_thr
        model = MODELS.build(mcfg)
        model.cfg = cfg
        if weights is None:
            warnings.warn('LPSAMInferencer: no checkpoint, the weights are '
                          'random')
        else:
            state, _ = read_checkpoint(weights)
            check_shapes(model, state, weights)
            missing = missing_keys(model, state)
            if missing:
                raise CheckpointError(
                    f'checkpoint {weights} lacks {len(missing)} keys of the '
                    f'stage-2 model, e.g. {missing[:3]} (is it a stage-2 '
                    f'checkpoint?)')
            model.load_state_dict(state, strict=False)
        return model.to(device).eval()

    def _init_pipeline(self, cfg: ConfigType) -> LoadResize:
        """Read and resize to the model's input (no config pipeline: the
        label map goes back to the original size)."""
        return LoadResize(self.model.img_size)

    def _init_collate(self, cfg: ConfigType):
        return collate

    def _init_visualizer(self, cfg: ConfigType) -> None:
        return None  # overlays are drawn by :meth:`overlay`

    def _inputs_to_list(self, inputs: InputsType) -> list:
        """A folder becomes its images (recursively, natural order)."""
        if isinstance(inputs, str) and osp.isdir(inputs):
            return [osp.join(inputs, f)
                    for f in list_files(inputs, IMG_EXTENSIONS,
                                        recursive=True)]
        if isinstance(inputs, (list, tuple)):
            return list(inputs)
        return [inputs]

    # --------------------------------------------------------- inference
    @property
    def score_thr(self) -> float:
        """The background threshold of the class probabilities."""
        return self.model.score_thr

    @torch.no_grad()
    def predict_probs(
            self, images: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities at the model's input size.

        Args:
            images (Sequence[Tensor]): uint8 BGR ``(3, S, S)`` tensors, as
                :class:`LoadResize` makes them.

        Returns:
            tuple[Tensor, Tensor]: probabilities ``(B, C, S, S)`` and the
            decoder's predicted IoU ``(B, C)``.
        """
        data = self.model.data_preprocessor(dict(inputs=list(images)), False)
        device = next(self.model.parameters()).device
        return self.model.predict_probs(data['inputs'].to(device))

    @torch.no_grad()
    def label_map(self,
                  probs: torch.Tensor,
                  pred_iou: torch.Tensor,
                  ori_shape: Tuple[int, int],
                  min_iou: float = 0.0) -> np.ndarray:
        """One image's label map at its original size.

        Classes whose predicted IoU is below ``min_iou`` are zeroed, the
        probabilities resized (bilinear) to ``ori_shape`` and merged by
        ``model.merge_label_map`` (argmax + 1, 0 where all are below
        ``score_thr``).

        Args:
            probs (Tensor): ``(C, S, S)`` class probabilities.
            pred_iou (Tensor): ``(C,)`` predicted IoUs.
            ori_shape (tuple[int, int]): ``(H, W)`` of the image.
            min_iou (float): the IoU filter. Defaults to 0 (keep all).

        Returns:
            np.ndarray: uint8 ``(H, W)`` label map.
        """
        keep = pred_iou >= min_iou
        p = probs * keep[:, None, None].to(probs)
        p = F.interpolate(p[None], size=tuple(ori_shape), mode='bilinear',
                          align_corners=False)
        return self.model.merge_label_map(p)[0].to(
            torch.uint8).cpu().numpy()

    def forward(self, inputs: dict, min_iou: float = 0.0) -> List[dict]:
        """Predict one collated batch of :class:`LoadResize` outputs.

        Returns:
            list[dict]: per image ``sem_seg`` (uint8 ``(H, W)``) and
            ``pred_iou`` (float32 ``(C,)``).
        """
        probs, ious = self.predict_probs(inputs['inputs'])
        return [
            dict(sem_seg=self.label_map(p, iou, shape, min_iou),
                 pred_iou=iou.float().cpu().numpy())
            for p, iou, shape in zip(probs, ious, inputs['ori_shape'])
        ]

    def overlay(self,
                img_bgr: np.ndarray,
                label: np.ndarray,
                opacity: float = 0.5) -> np.ndarray:
        """A label map drawn over its image in the model's class colours.

        Drawn by :func:`anaus_mm.visualization.draw_label_overlay` (mmseg's
        ``SegLocalVisualizer``); the background (id 0) keeps the image's
        pixels.

        Args:
            img_bgr (np.ndarray): uint8 BGR ``(H, W, 3)`` image, e.g. from
                :func:`read_image`.
            label (np.ndarray): its ``(H, W)`` label map.
            opacity (float): weight of the label colour. Defaults to 0.5.

        Returns:
            np.ndarray: uint8 BGR ``(H, W, 3)`` overlay.
        """
        rgb = draw_label_overlay(img_bgr[..., ::-1], label, self.palette,
                                 self.classes, opacity=opacity)
        return np.ascontiguousarray(rgb[..., ::-1])

    def visualize(self,
                  inputs: list,
                  preds: List[dict],
                  show: bool = False,
                  return_vis: bool = False,
                  img_out_dir: str = '',
                  opacity: float = 0.5) -> Optional[List[np.ndarray]]:
        """Colour overlays of the label maps (BGR uint8).

        Args:
            inputs (list): image paths / arrays, as given.
            preds (list[dict]): results of :meth:`forward`.
            show (bool): show each overlay in a window.
            return_vis (bool): return the overlays.
            img_out_dir (str): also write them there as PNG (the input's
                file name, ``<n>_vis.png`` for arrays).
            opacity (float): weight of the label colour.

        Returns:
            list[np.ndarray] | None: the overlays when ``return_vis``.
        """
        if not (show or return_vis or img_out_dir):
            return None
        results = []
        for image, pred in zip(inputs, preds):
            if isinstance(image, str):
                img = read_image(image)
                name = osp.splitext(osp.basename(image))[0] + '.png'
            else:
                img = to_bgr_uint8(image)
                name = f'{self.num_visualized_imgs:08d}_vis.png'
            vis = self.overlay(img, pred['sem_seg'], opacity)
            if img_out_dir:
                atomic_write_image(osp.join(img_out_dir, name), vis)
            if show:
                import mmcv
                mmcv.imshow(vis, 'LP-SAM')
            if return_vis:
                results.append(vis)
            self.num_visualized_imgs += 1
        return results if return_vis else None

    def postprocess(self,
                    preds: List[dict],
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False) -> Union[dict, list]:
        """Pack the results.

        Returns:
            dict | list: ``predictions`` (list of dicts with ``sem_seg`` and
            ``pred_iou``) and ``visualization`` (list or ``None``); with
            ``return_datasample``, a list of ``SegDataSample`` holding
            ``pred_sem_seg`` and ``pred_iou``.
        """
        if return_datasample:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            samples = []
            for pred in preds:
                sample = SegDataSample(
                    pred_sem_seg=PixelData(
                        data=torch.from_numpy(pred['sem_seg'])[None]))
                sample.set_metainfo(dict(ori_shape=pred['sem_seg'].shape))
                sample.set_field(torch.from_numpy(pred['pred_iou']),
                                 'pred_iou')
                samples.append(sample)
            return samples
        return dict(predictions=preds, visualization=visualization)

    def __call__(self,
                 inputs: InputsType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 min_iou: float = 0.0,
                 return_vis: bool = False,
                 show: bool = False,
                 img_out_dir: str = '',
                 opacity: float = 0.5) -> Union[dict, list]:
        """Label maps of images.

        Args:
            inputs (str | np.ndarray | Sequence): an image path, a BGR (or
                gray / 16-bit) array, a folder (its images, recursively) or
                a list of paths / arrays.
            return_datasamples (bool): return ``SegDataSample`` objects.
            batch_size (int): images per model call. Defaults to 1.
            min_iou (float): drop a class from an image when its predicted
                IoU is below this. Defaults to 0 (keep all).
            return_vis (bool): also return colour overlays.
            show (bool): show the overlays in a window.
            img_out_dir (str): write the overlays there.
            opacity (float): overlay opacity. Defaults to 0.5.

        Returns:
            dict | list: ``{'predictions': ..., 'visualization': ...}``;
            for a single image (a path or an array, not a list or a folder)
            ``predictions`` is that image's dict (``sem_seg`` uint8
            ``(H, W)`` at the original size, ``pred_iou`` float32 ``(C,)``)
            and ``visualization`` its overlay, else lists of them.
        """
        single = isinstance(inputs, np.ndarray) or (
            isinstance(inputs, str) and not osp.isdir(inputs))
        results = super().__call__(
            inputs, return_datasamples, batch_size, min_iou=min_iou,
            return_vis=return_vis, show=show, img_out_dir=img_out_dir,
            opacity=opacity)
        if single:
            if return_datasamples:
                return results[0]
            vis = results['visualization']
            results = dict(predictions=results['predictions'][0],
                           visualization=vis[0] if vis else None)
        return results
