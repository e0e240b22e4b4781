"""Anatomy-free label maps for ANAUS when no SAM checkpoint exists.

DetCon (https://arxiv.org/abs/2103.10957) showed that contrastive learning
over *unsupervised* masks (a spatial grid, or superpixels) already helps over
image-level objectives. We provide the same fallback so ANAUS runs on any
image folder:

* ``grid``: an ``n × n`` grid of ids (purely spatial);
* ``kmeans``: SLIC-like clustering of (smoothed intensity, x, y) with
  OpenCV's k-means, followed by a median filter; in ultrasound, regions of
  similar echogenicity form the clusters, which is a rough proxy for tissue
  layers.

Ids start at 1; 0 is reserved for "outside the image" (pixels that are 0 in
the image, e.g. outside the imaging sector).
"""
from typing import Any, Tuple

import cv2
import numpy as np

__all__ = ['grid_mask', 'kmeans_mask', 'unsupervised_mask']


def grid_mask(shape: Tuple[int, int], cells: int = 4) -> np.ndarray:
    """``cells × cells`` grid of ids 1..cells² over an ``(H, W)`` image.

    Args:
        shape (Tuple[int, int]): ``(H, W)``.
        cells (int): number of cells per side. Defaults to 4.

    Returns:
        np.ndarray: ``(H, W)`` uint8 ids.
    """
    h, w = shape
    rows = np.minimum(np.arange(h) * cells // h, cells - 1)
    cols = np.minimum(np.arange(w) * cells // w, cells - 1)
    return (rows[:, None] * cells + cols[None, :] + 1).astype(np.uint8)


def kmeans_mask(gray: np.ndarray,
                clusters: int = 6,
                spatial_weight: float = 0.5,
                seed: int = 0) -> np.ndarray:
    """Cluster pixels by smoothed intensity and position (SLIC-like).

    Args:
        gray (np.ndarray): ``(H, W)`` uint8 image.
        clusters (int): number of k-means clusters.
        spatial_weight (float): weight of the normalised (x, y) features
            against intensity (both scaled to [0, 1]).
        seed (int): seed of OpenCV's k-means initialisation.

    Returns:
        np.ndarray: ``(H, W)`` uint8 ids in 1..clusters (0 outside the
        image content).
    """
    h, w = gray.shape
    small = cv2.resize(gray, (max(w // 2, 1), max(h // 2, 1)),
                       interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 3) / 255.0
    sh, sw = smooth.shape
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    feats = np.stack([smooth, spatial_weight * yy / max(sh - 1, 1),
                      spatial_weight * xx / max(sw - 1, 1)], -1).reshape(-1, 3)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1e-3)
    _, labels, _ = cv2.kmeans(np.ascontiguousarray(feats), clusters, None,
                              criteria, 3, cv2.KMEANS_PP_CENTERS)
    labels = (labels.reshape(sh, sw) + 1).astype(np.uint8)
    labels = cv2.medianBlur(labels, 5)
    labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    labels[gray == 0] = 0
    return labels


def unsupervised_mask(gray: np.ndarray,
                      method: str = 'kmeans',
                      **kwargs: Any) -> np.ndarray:
    """Dispatch to :func:`grid_mask` or :func:`kmeans_mask`.

    Args:
        gray (np.ndarray): ``(H, W)`` uint8 image.
        method (str): 'grid' or 'kmeans'. Defaults to 'kmeans'.
        **kwargs: passed to the chosen function.

    Returns:
        np.ndarray: ``(H, W)`` uint8 ids (0 outside the image content for
        'kmeans').

    Raises:
        ValueError: For an unknown ``method``.
    """
    if method == 'grid':
        return grid_mask(gray.shape, **kwargs)
    if method == 'kmeans':
        return kmeans_mask(gray, **kwargs)
    raise ValueError(f'unknown unsupervised mask method {method!r} '
                     "(use 'grid' or 'kmeans')")
