"""Atomic file writes: a reader finds the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """A fresh hidden name next to ``path``, marked ``.tmp`` and ending in ``path``'s own suffix.

    Writers that choose a format from the name (astropy compresses ``.gz``, matplotlib reads ``.png``,
    numpy appends ``.npz`` to other names) treat it as they would treat ``path``.
    """
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{token}{TEMPORARY_SUFFIX}{path.suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; once the block succeeds, move that file to ``path``.

    The block writes the file itself (so the umask applies as to any other file). If the block
    raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The final file. Its directory must exist.
    overwrite : bool, default=True
        Replace an existing ``path``. Without it, an existing ``path`` raises before the block runs,
        and one created meanwhile by someone else is kept (the move is a hard link, which refuses
        to replace, where the file system has them).

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    FileExistsError
        If ``overwrite`` is False and ``path`` exists.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from sklens._atomic import atomic_write
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(path) as temporary:
    ...     _ = temporary.write_text("complete")
    >>> path.read_text(), [p.name for p in path.parent.iterdir()]
    ('complete', ['notes.txt'])
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"'{path}' exists; pass overwrite=True to replace it.")
    temporary = temporary_path(path)
    try:
        yield temporary
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_without_replacing(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _move_without_replacing(temporary: Path, path: Path) -> None:
    """Link ``temporary`` to ``path`` only if ``path`` does not exist (atomic on POSIX)."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        message = f"'{path}' was created while writing; pass overwrite=True to replace it."
        raise FileExistsError(message) from None
    except OSError:  # file systems without hard links: a check-then-replace is the best available
        if path.exists():
            raise FileExistsError(f"'{path}' exists; pass overwrite=True to replace it.") from None
        os.replace(temporary, path)
