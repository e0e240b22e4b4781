"""See the package docstring of anaus_mm."""
