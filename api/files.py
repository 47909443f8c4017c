"""Files only the server's own user may read: the key table, the audit log, uploads and their folders.

The process umask (often 022) would leave them readable by every local user: key hashes, questions
and uploaded documents. These helpers set the mode explicitly, whatever the umask, and also tighten
a file or folder an older version created with the looser mode.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) if needed; ``path`` itself ends up 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, 0600 from its first byte (O_CREAT with the mode, so it is never
    briefly readable by others); an existing file is tightened to 0600 and keeps its content."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)
    return path
