"""Writing local key files safely when several processes start at once: a file is never seen
half-written, and a private one is never readable by others, not even for an instant."""

import os
import secrets
from pathlib import Path


def _write_new(path: Path, content: bytes, mode: int) -> Path:
    """A new file next to `path`, with a name no other writer uses, holding `content`."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def create_private_file(path: Path, content: bytes) -> bool:
    """Create `path` (mode 0600) holding `content` unless it exists. True when this call created
    it; False when it was there already, or another process created it first: then the caller
    reads what that process wrote. Either way `path` is complete once this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_new(path, content, 0o600)
    try:
        os.link(temp, path)  # atomic, and fails when path exists: the first writer wins
    except FileExistsError:
        return False
    finally:
        temp.unlink()
    return True


def replace_file(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Write `path` whole: readers see the old content or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_new(path, content, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
