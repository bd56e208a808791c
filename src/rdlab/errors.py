"""One exception hierarchy for rdlab.

Every error that rdlab raises on purpose derives from :class:`RdlabError`, so callers
(and the CLI) can tell a refusal of bad input or a bad file from a bug.

- :class:`InputError`: an argument is invalid (wrong dtype, NaN, shape mismatch, ...).
  It names the argument.
- :class:`FormatError`: a compressed file or stream is not valid; one subclass per way
  a file can be wrong, so tests and callers can tell them apart.
- :class:`ModelError`: a model or codec cannot be found or does not fit the data.
"""

from __future__ import annotations


class RdlabError(Exception):
    """Base class of every error rdlab raises deliberately."""


class InputError(RdlabError, ValueError):
    """An argument is invalid. The message starts with the argument's name."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


class ModelError(RdlabError):
    """A model, codec or table cannot be used (unknown name, missing weights, ...)."""


class FormatError(RdlabError):
    """A compressed file or stream is invalid. Subclasses say how."""


class BadMagicError(FormatError):
    """The data does not start with the rdlab magic bytes: not an .rdl file."""


class UnsupportedVersionError(FormatError):
    """The file's format version is newer (or older) than this reader understands."""


class UnknownCodecError(FormatError):
    """The file names a codec (or codec version) that is not installed."""


class WeightsMismatchError(FormatError):
    """The file was written with other model weights than the ones given for decoding."""


class TruncatedError(FormatError):
    """The data ends before a structure it announces is complete."""


class LengthError(FormatError):
    """A declared length is larger than the data that holds it (or otherwise impossible)."""


class CorruptChunkError(FormatError):
    """A chunk's CRC32 does not match its payload."""


class CorruptHeaderError(FormatError):
    """The header is malformed (bad CRC, invalid UTF-8 or JSON, missing fields)."""


class TrailingDataError(FormatError):
    """Bytes follow the last declared chunk."""


class CorruptStreamError(FormatError):
    """An entropy-coded stream cannot be decoded with the given model and parameters."""


class StreamEndError(CorruptStreamError):
    """An entropy-coded stream does not end where its symbols do: it was cut short, bytes
    follow its last symbol, or its words are not what the encoder writes for them."""


class CountMismatchError(FormatError):
    """A count or size in the metadata disagrees with the payload it describes."""


class SizeLimitError(FormatError):
    """The file declares a signal larger than the decoder's (configurable) limit."""


class StepLimitError(RdlabError):
    """A sampler or search ran into its step limit (raised instead of running forever)."""
