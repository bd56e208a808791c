"""Data: readers and writers for the modalities rdlab codes, and bundled samples."""

from .images import read_image, sample_path, write_png

__all__ = ["read_image", "sample_path", "write_png"]
