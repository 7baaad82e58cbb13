"""Files named by inputs, read and checked as hostile: every action reads them through here.

A path input may name anything: a FIFO (reading it blocks forever), a directory, a device,
a file of gigabytes, bytes that are not UTF-8, a JSON document nested past Python's stack,
or a 656-byte YAML alias bomb that a naive walk expands to gigabytes. Each of these ends
here as an `InputError` naming the input (exit 2, one line), before any work is done:

* `read_text_file`: a regular file only (opened non-blocking, checked with fstat, so a FIFO
  never blocks), at most `max_bytes`, strict UTF-8;
* `check_tree`: a parsed document walked without recursion: nesting depth and node count
  bounded, and a node reached twice (a YAML alias: `*anchor`) refused, so nothing
  downstream ever expands one;
* `check_output_path`: where a report or file will be written, checked before the work.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from fastapi_ci.errors import InputError

MAX_INPUT_FILE_BYTES = 32 * 1024 * 1024  # a large OpenAPI document is a few MB
MAX_DEPTH = 200  # the deepest real OpenAPI document we know nests ~30 levels
MAX_NODES = 5_000_000

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
# Why documents and the paths an action writes are held to these rules (user's side).
BOUNDED_WHY = "every check walks the document; a bounded one cannot use up the runner's memory"
WRITE_FIRST_WHY = "paths to write are checked before the work, so a long run is not lost at its end"


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def read_bytes_file(
    path: str | Path, input_name: str, *, max_bytes: int = MAX_INPUT_FILE_BYTES
) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or InputError naming the input."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(
            input_name,
            f"{path}: no such file",
            fix="give the path relative to the working directory (and check the job checked "
            "the repository out)",
            docs="actions#what-every-action-guarantees",
        ) from None
    except OSError as error:
        raise InputError(
            input_name,
            f"{path}: cannot be read ({error.strerror})",
            fix="check the file's permissions for the runner's user",
            docs="actions#what-every-action-guarantees",
        ) from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise InputError(
            input_name,
            f"{path} cannot be read: it is {_kind(status.st_mode)}, not a file",
            why="a FIFO or a device could block the job forever, and a directory is no document",
            fix="name the file itself",
            docs="actions#what-every-action-guarantees",
        )
    with os.fdopen(descriptor, "rb") as handle:
        if status.st_size > max_bytes:
            raise InputError(
                input_name,
                f"{path} is {status.st_size} bytes; at most {max_bytes} are read",
                why="no input document is that large; reading it could exhaust the runner's memory",
                docs="actions#what-every-action-guarantees",
            )
        try:
            data = handle.read(max_bytes + 1)
        except OSError as error:
            raise InputError(
                input_name,
                f"{path}: cannot be read ({error.strerror})",
                docs="actions#what-every-action-guarantees",
            ) from None
    if len(data) > max_bytes:  # it grew while we read it
        raise InputError(
            input_name,
            f"{path} is larger than {max_bytes} bytes",
            docs="actions#what-every-action-guarantees",
        )
    return data


def read_text_file(
    path: str | Path, input_name: str, *, max_bytes: int = MAX_INPUT_FILE_BYTES
) -> str:
    """A regular UTF-8 text file (a BOM is dropped), or InputError naming the input."""
    data = read_bytes_file(path, input_name, max_bytes=max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            input_name,
            f"{path}: not a UTF-8 text file (byte {error.start} is {data[error.start]:#x})",
            why="a document in another encoding would be read wrong, not refused",
            fix="save the file as UTF-8",
            docs="actions#what-every-action-guarantees",
        ) from None


def check_tree(
    document: Any,
    path: str | Path,
    input_name: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Any:
    """`document` if it is a plain tree within bounds, else InputError naming the input.

    Walked with an explicit stack (a recursive walk is what a deep document breaks). A
    container met twice is a YAML alias: refused, since every later walk would expand it.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(document, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise InputError(
                input_name,
                f"{path} has more than {max_nodes} values",
                why=BOUNDED_WHY,
                docs="actions#what-every-action-guarantees",
            )
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise InputError(
                input_name,
                f"{path} nests deeper than {max_depth} levels",
                why=BOUNDED_WHY,
                docs="actions#what-every-action-guarantees",
            )
        if id(node) in seen:
            raise InputError(
                input_name,
                f"{path} uses YAML aliases (*anchor): not supported in an input file",
                fix="write the document out in full (export it as JSON)",
                why="every walk expands an alias: a few hundred bytes can grow into gigabytes",
                docs="actions#what-every-action-guarantees",
            )
        seen.add(id(node))
        stack.extend((child, depth + 1) for child in children)
    return document


def check_output_path(path: str | Path, input_name: str) -> None:
    """Raise InputError now if `path` cannot be written later (a report, an exported file).

    An existing target must be a regular writable file; a new one needs its nearest
    existing ancestor to be a writable directory (missing parents are created then).
    """
    target = Path(path)
    try:
        status = target.stat()
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise InputError(
            input_name,
            f"{target}: cannot be used ({error.strerror})",
            why=WRITE_FIRST_WHY,
            docs="actions#what-every-action-guarantees",
        ) from None
    if status is not None:
        if not stat.S_ISREG(status.st_mode):
            raise InputError(
                input_name,
                f"{target} is {_kind(status.st_mode)}, not a file",
                why=WRITE_FIRST_WHY,
                fix="name a file, not a directory",
                docs="actions#what-every-action-guarantees",
            )
        if not os.access(target, os.W_OK):
            raise InputError(
                input_name,
                f"{target} is not writable",
                why=WRITE_FIRST_WHY,
                docs="actions#what-every-action-guarantees",
            )
        return
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(
            input_name,
            f"{ancestor} is not a directory, so {target} cannot be written",
            why=WRITE_FIRST_WHY,
            docs="actions#what-every-action-guarantees",
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(
            input_name,
            f"{ancestor} is not writable, so {target} cannot be written",
            why=WRITE_FIRST_WHY,
            docs="actions#what-every-action-guarantees",
        )
