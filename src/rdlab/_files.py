"""Safe file output: atomic writes that never replace the user's input."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable

from .errors import InputError


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (following links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (or cannot be inspected)
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists, ignoring errors."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _exists_message(target: str) -> str:
    return f"{target} exists (use --force, or overwrite=True, to replace it)"


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> str:
    """Refuse an output path before any work is done; return it as a string.

    The checks :func:`write_atomic` makes again when it writes (so a file that appears
    in between is still never clobbered): ``path`` is not one of ``protect`` (the
    inputs, compared with :func:`os.path.samefile`, so links count; even with
    ``overwrite``), is not a directory, its directory exists and may be written, and it
    does not exist unless ``overwrite``, in which case it must be a regular file (or a
    link to one): a device, a pipe or a socket is never replaced by a file.

    Raises:
        InputError: on argument ``"output"``, naming the path and the reason.
    """
    target = os.fspath(path)
    for guarded in protect:
        if _same_file(target, os.fspath(guarded)):
            raise InputError(
                "output",
                f"{target} is the input file {os.fspath(guarded)}; refusing to "
                "overwrite an input (choose another output path)",
            )
    if os.path.isdir(target):
        raise InputError("output", f"{target} is a directory")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise InputError("output", f"directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError("output", f"directory {directory} cannot be written")
    if os.path.lexists(target):
        if not overwrite:
            raise InputError("output", _exists_message(target))
        if not os.path.isfile(target):
            raise InputError(
                "output", f"{target} is not a regular file; refusing to replace it with one"
            )
    return target


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> int:
    """Write ``data`` to ``path`` atomically; return the number of bytes written.

    The bytes go to a temporary file in the same directory, which is flushed, fsynced
    and then renamed over ``path``, so ``path`` never holds a partial file; the
    temporary file is removed on any failure. Refused with
    :class:`~rdlab.errors.InputError` on argument ``"output"``: ``path`` exists and
    ``overwrite`` is false, ``path`` is a directory or its directory does not exist, or
    ``path`` is the same file as one of ``protect`` (the inputs; compared with
    :func:`os.path.samefile`, so links count), even with ``overwrite``. When
    ``path`` is a symbolic link and ``overwrite`` is true, the link is replaced by the
    new file; its target is left alone.
    """
    target = check_output(path, overwrite=overwrite, protect=protect)
    directory = os.path.dirname(os.path.abspath(target))

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    base = os.path.basename(target)
    for _ in range(100):
        temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            handle = os.open(temporary, flags, 0o666)  # the umask applies, as for open()
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(
                "output", f"{target} cannot be written: {exc.strerror or exc}"
            ) from None
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot create a temporary file next to {target}")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            _place_new(temporary, target)
    except OSError as exc:  # a full disk, a file system that refuses, ...
        _remove_quietly(temporary)
        raise InputError("output", f"{target} cannot be written: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(temporary)
        raise
    _fsync_directory(directory)
    return len(data)


def _place_new(temporary: str, target: str) -> None:
    """Move ``temporary`` to ``target``, refusing if ``target`` appeared meanwhile.

    A hard link fails if the target exists, so no file created since the caller's check
    is ever clobbered; where hard links are not available, fall back to a rename.
    """
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise InputError("output", _exists_message(target)) from None
    except OSError:  # no hard links here (some file systems, platforms)
        if os.path.lexists(target):
            raise InputError("output", _exists_message(target)) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)


def check_input(path: str | os.PathLike[str], *, directory: bool = False) -> str:
    """Refuse an input path that is missing, or is not a regular file (a device, a pipe
    or a socket could block a reader or never end); ``directory``: a folder is accepted
    too. Returns the path as a string.

    Raises:
        InputError: on argument ``"input"``, naming the path and the reason.
    """
    source = os.fspath(path)
    try:
        mode = os.stat(source).st_mode
    except FileNotFoundError:
        raise InputError("input", f"{source}: no such file") from None
    except OSError as exc:
        raise InputError("input", f"{source} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        if directory:
            return source
        raise InputError("input", f"{source} is a directory")
    if not stat.S_ISREG(mode):
        raise InputError("input", f"{source} is not a regular file (a device, pipe or socket)")
    return source


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole file at ``path``; a missing, unreadable or directory path, or one that is
    not a regular file, is an :class:`~rdlab.errors.InputError` on argument ``"input"``."""
    source = check_input(path)
    try:
        with open(source, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        raise InputError("input", f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError("input", f"{source} is a directory") from None
    except PermissionError:
        raise InputError("input", f"{source}: permission denied") from None
