"""Data: readers and writers for the modalities rdlab codes, and bundled samples."""

from .images import (
    BIT_DEPTHS,
    ImageInfo,
    check_image_header,
    probe_image,
    read_image,
    sample_path,
    write_image,
    write_png,
)

__all__ = [
    "BIT_DEPTHS",
    "ImageInfo",
    "check_image_header",
    "probe_image",
    "read_image",
    "sample_path",
    "write_image",
    "write_png",
]
