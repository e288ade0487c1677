"""Reversible encoding of user names (models, datasets, machines, artifacts) as node names.

Both backends store a name as one node of a hierarchy, so a name must not
contain the path separator ``/`` and must not collide with the names that a
format reserves. Every byte of the UTF-8 form outside ``[A-Za-z0-9._+-]`` is
written as ``%XX`` (upper-case hex), so ``beats-iter3+`` stays readable,
``hear:my_pkg.module`` becomes ``hear%3Amy_pkg.module`` and ``%`` itself is
escaped. Two further rules keep encoded names valid in both formats:

* a leading ``_`` is escaped, because Zarr v3 reserves node names starting
  with ``__``;
* a name made only of dots is escaped entirely, because ``.`` and ``..`` mean
  the current and parent group in HDF5 and in file-system paths.
"""

from __future__ import annotations

import re

from asdfeat.errors import StoreError

_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-")
_ENCODED_NAME = re.compile(r"(?:[A-Za-z0-9._+-]|%[0-9A-F]{2})+")

# Most local file systems limit one path component to 255 bytes, and the
# Zarr backend turns every node into a directory.
MAX_ENCODED_LENGTH = 255


def encode_name(name: str, *, kind: str = "name") -> str:
    """Encode ``name`` as a node name that is safe in both backends.

    Parameters
    ----------
    name : str
        Non-empty user-facing name, for example a model name.
    kind : str
        What the name identifies, used in error messages (``"model"``).

    Raises
    ------
    StoreError
        If ``name`` is not a non-empty string, or its encoded form is longer
        than :data:`MAX_ENCODED_LENGTH` bytes.
    """
    if not isinstance(name, str) or not name:
        raise StoreError(f"invalid {kind} {name!r}: expected a non-empty string")

    raw = name.encode("utf-8")
    escape_all = set(raw) == {ord(".")}
    parts = []
    for position, byte in enumerate(raw):
        leading_underscore = position == 0 and byte == ord("_")
        if byte in _SAFE_BYTES and not escape_all and not leading_underscore:
            parts.append(chr(byte))
        else:
            parts.append(f"%{byte:02X}")
    encoded = "".join(parts)

    if len(encoded) > MAX_ENCODED_LENGTH:
        raise StoreError(
            f"invalid {kind} {name!r}: its encoded node name has {len(encoded)} characters, "
            f"more than the limit of {MAX_ENCODED_LENGTH}; use a shorter name"
        )
    return encoded


def decode_name(encoded: str) -> str:
    """Return the user-facing name of a node name written by :func:`encode_name`.

    Raises
    ------
    StoreError
        If ``encoded`` was not produced by :func:`encode_name`, which means a
        node was added to the store by other software.
    """
    if not _ENCODED_NAME.fullmatch(encoded):
        raise StoreError(f"node name {encoded!r} is not an encoded asdfeat name")

    raw = bytearray()
    position = 0
    while position < len(encoded):
        if encoded[position] == "%":
            raw.append(int(encoded[position + 1 : position + 3], 16))
            position += 3
        else:
            raw.append(ord(encoded[position]))
            position += 1

    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(f"node name {encoded!r} does not decode to UTF-8: {error}") from None

    if encode_name(name) != encoded:
        raise StoreError(f"node name {encoded!r} is not in the canonical encoded form")
    return name
