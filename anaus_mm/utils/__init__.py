from .grad_cam import GradCAM, overlay
from .version_check import check_dependencies

__all__ = ['check_dependencies', 'GradCAM', 'overlay']
