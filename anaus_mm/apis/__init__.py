"""Python entry points over the package's models, in the shape of
mmengine's ``BaseInferencer`` (as mmseg's and mmpretrain's inferencers)."""
from .cam_inferencer import GradCAMInferencer
from .lpsam_inferencer import LPSAMInferencer

__all__ = ['GradCAMInferencer', 'LPSAMInferencer']
