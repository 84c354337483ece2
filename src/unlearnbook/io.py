"""Atomic file writes: write to a temporary file in the same folder, then rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path; on success it replaces ``path`` in one rename (with the mode a
    plain ``open`` would give under the umask), else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600: honour the umask
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


#: The folder :func:`~unlearnbook.pipeline.run_methods` keeps a run's finished methods in (the
#: grid runner sets it per run: :func:`~unlearnbook.runner.resume_folder`).
RESUME_ENV = "UNLEARNBOOK_RESUME"


def cache_dir() -> Path:
    """Checkpoint cache root: ``$UNLEARNBOOK_CACHE`` or ``~/.cache/unlearnbook``."""
    return Path(os.environ.get("UNLEARNBOOK_CACHE", Path.home() / ".cache" / "unlearnbook"))


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path) as tmp:
        Path(tmp).write_text(text)
