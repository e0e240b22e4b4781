from .version_check import check_dependencies

__all__ = ['check_dependencies']
