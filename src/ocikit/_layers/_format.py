"""Tar header encoding: the bytes Go's ``archive/tar`` writer emits for one entry (USTAR, Go's prefix/name
split, a per-file PAX header only when USTAR cannot hold the name or the size), and the normalised modes.

Entries are written the way ``kit pack`` writes them (docs/compatibility.md §3.1-3.2): mtime 0, uid 1000,
gid 0, empty uname/gname, no global header; the header bytes follow Go's writer so the tar is
byte-identical to kit's for the same entries.
"""

from __future__ import annotations

import stat

# ------------------------------------------------------------------------------------------------
# Go-compatible tar headers (golang/go src/archive/tar/writer.go, format.go)

BLOCK = 512
_NAME_SIZE = 100
_PREFIX_SIZE = 155
_MAX_OCTAL_SIZE = 8**11  # 8 GiB: the largest size USTAR's 12-byte octal field holds
TAR_UID = 1000
TAR_GID = 0
ZERO_BLOCK = bytes(BLOCK)
TAR_END = bytes(2 * BLOCK)


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero-padded octal leaving room for a NUL (0 if it does not fit)."""
    if value < 0 or value >= 8 ** (width - 1):
        value = 0
    return b"%0*o\0" % (width - 1, value)


def _field(value: bytes, width: int) -> bytes:
    """Go's formatString: copy, NUL-terminate when shorter, truncate (dropping a trailing '/')."""
    if len(value) < width:
        return value + b"\0" * (width - len(value))
    out = value[:width]
    if len(value) > width and out.endswith(b"/"):
        out = out.rstrip(b"/")
        out = out + b"\0" * (width - len(out))
    return out


def _split_ustar(name: str) -> tuple[str, str] | None:
    """Go's splitUSTARPath: split at the last '/' within the first 156 bytes."""
    if len(name) <= _NAME_SIZE or not name.isascii():
        return None
    length = len(name)
    if length > _PREFIX_SIZE + 1:
        length = _PREFIX_SIZE + 1
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > _NAME_SIZE or nlen == 0 or i > _PREFIX_SIZE:
        return None
    return name[:i], name[i + 1 :]


def _finish(block: bytearray) -> bytes:
    """Set the USTAR magic and the checksum (``%06o\\0 ``), as Go's block.setFormat does."""
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b"        "
    checksum = sum(block)
    block[148:156] = b"%06o\0 " % checksum
    return bytes(block)


def _v7plus_template() -> bytes:
    block = bytearray(BLOCK)
    block[108:116] = _octal(TAR_UID, 8)
    block[116:124] = _octal(TAR_GID, 8)
    block[136:148] = _octal(0, 12)
    # uname, gname empty (NUL); devmajor/devminor formatted as octal 0 like Go does
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b"        "  # the checksum is computed with its own field as spaces
    return bytes(block)


#: The fields every entry shares, filled once (a header per file adds up at 100,000 files),
#: and their share of the checksum.
_V7PLUS = _v7plus_template()
_V7PLUS_SUM = sum(_V7PLUS)


def _v7plus(name: bytes, mode: int, size: int, typeflag: bytes, prefix: bytes = b"") -> bytes:
    """Go's templateV7Plus + USTAR fields for one of our entries (uid 1000, gid 0, mtime 0)."""
    block = bytearray(_V7PLUS)
    name_f, mode_f, size_f = _field(name, 100), _octal(mode, 8), _octal(size, 12)
    block[0:100] = name_f
    block[100:108] = mode_f
    block[124:136] = size_f
    block[156:157] = typeflag
    checksum = _V7PLUS_SUM + sum(name_f) + sum(mode_f) + sum(size_f) + typeflag[0]
    if prefix:
        prefix_f = _field(prefix, 155)
        block[345:500] = prefix_f
        checksum += sum(prefix_f)
    block[148:156] = b"%06o\0 " % checksum  # Go's block.setFormat: the same sum, written last
    return bytes(block)


def _pax_record(key: str, value: str) -> bytes:
    """Go's formatPAXRecord: ``"<len> key=value\\n"`` where len counts itself."""
    body = f" {key}={value}\n".encode()
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _to_ascii(text: str) -> str:
    return "".join(c for c in text if ord(c) < 0x80 and c != "\0")


def tar_header(name: str, mode: int, size: int, *, is_dir: bool) -> bytes:
    """The header block(s) Go's tar writer emits for one entry, padding of PAX data included."""
    typeflag = b"5" if is_dir else b"0"
    pax: dict[str, str] = {}
    prefix, short = "", name
    if len(name.encode()) > _NAME_SIZE or not name.isascii():
        split = _split_ustar(name)
        if split is None:
            pax["path"] = name
        else:
            prefix, short = split
    if size >= _MAX_OCTAL_SIZE:
        pax["size"] = str(size)
    if not pax:
        return _v7plus(short.encode(), mode, size, typeflag, prefix.encode())
    # PAX: an extended header "<dir>/PaxHeaders.0/<base>" (Go's writePAXHeader, writeRawFile)
    records = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
    directory, _, base = name.rpartition("/")
    pax_name = f"{directory}/PaxHeaders.0/{base}" if directory else f"PaxHeaders.0/{base}"
    pax_name = _to_ascii(pax_name)[:_NAME_SIZE].rstrip("/")
    block = bytearray(BLOCK)
    block[0:100] = _field(pax_name.encode(), 100)
    block[100:108] = _octal(0, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(len(records), 12)
    block[136:148] = _octal(0, 12)
    block[156:157] = b"x"
    out = _finish(block) + records + padding(len(records))
    return out + _v7plus(_to_ascii(name).encode(), mode, size, typeflag)


def padding(size: int) -> bytes:
    return ZERO_BLOCK[: (-size) % BLOCK]


def normalized_mode(st_mode: int, *, is_dir: bool) -> int:
    """0755 for directories and owner-executable files, 0644 otherwise (umask-independent)."""
    if is_dir or st_mode & stat.S_IXUSR:
        return 0o755
    return 0o644

