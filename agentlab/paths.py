"""Paths made from names agentlab does not control, provably inside their folder.

Run ids, step ids, artifact names, task and variant ids, and the files sandboxed
code writes all become file names. Each goes through `contained`, which accepts
only a plain file name per part and checks that the resolved result lies under
the resolved folder, so neither `..`, an absolute path, a separator, NUL, nor a
symbolic link already in the folder can put a file anywhere else.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path, PureWindowsPath

from agentlab.errors import UnsafePathError

NAME_MAX_BYTES = 255
"""The longest file name (in UTF-8 bytes) the common file systems take."""

_SEPARATORS = ("/", "\\")
_NOT_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _shown(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(name: str) -> None:
    """Raise `UnsafePathError` unless `name` is one plain file name.

    Refused: empty, `.` and `..`, separators (also as Unicode look-alikes that
    NFKC folds into one), NUL and other control characters, a Windows drive,
    names longer than `NAME_MAX_BYTES`.
    """
    folded = unicodedata.normalize("NFKC", name)
    if not name or name in (".", "..") or folded in (".", ".."):
        problem = "is not a file name"
    elif any(sep in name or sep in folded for sep in _SEPARATORS):
        problem = "holds a path separator"
    elif any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        problem = "holds a control character or a lone surrogate"
    elif PureWindowsPath(name).drive:
        problem = "names a drive"
    elif len(name.encode("utf-8")) > NAME_MAX_BYTES:
        problem = f"is longer than {NAME_MAX_BYTES} bytes"
    else:
        return
    raise UnsafePathError(f"{_shown(name)} {problem}", name=name)


def contained(base: Path | str, *parts: str) -> Path:
    """`base/part/...`, resolved, after checking it stays strictly inside `base`.

    Every part must be one plain file name (`check_name`); the joined path is
    resolved (following any link already on disk) and refused unless `base`,
    resolved, is one of its parents. Raises `UnsafePathError`.
    """
    if not parts:
        raise UnsafePathError("no file name given", name="")
    for part in parts:
        check_name(part)
    root = Path(base).resolve()
    target = root.joinpath(*parts).resolve()
    if root not in target.parents:
        raise UnsafePathError(
            f"{_shown('/'.join(parts))} leads to {target}, outside {root}", name="/".join(parts)
        )
    return target


def safe_name(name: str, *, limit: int = 120, empty: str = "_") -> str:
    """`name` as a portable file name: runs of anything but ASCII letters, digits, `.`,
    `_` and `-` become `_` (`HumanEval/0` -> `HumanEval_0`); leading and trailing dots
    and underscores go. Past `limit` characters the name is cut and a hash of the whole
    is appended, so distinct long names stay distinct. `empty` stands for a name with
    nothing left."""
    cleaned = _NOT_SAFE.sub("_", name).strip("._") or empty
    if len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned[: limit - 13]}-{digest}"
