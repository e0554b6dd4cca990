"""Whether bytes end like a zip archive: the one zip-format check of the download layer.

A stream that stopped cleanly but early (no error from the transport) fails it,
so it is never presented as a complete archive.
"""

from __future__ import annotations

EOCD_SIGNATURE = b"PK\x05\x06"
EOCD_SIZE = 22
MAX_ZIP_COMMENT = 0xFFFF
TAIL_NEEDED = EOCD_SIZE + MAX_ZIP_COMMENT  # the most of an archive's end the check reads


def ends_with_end_record(tail: bytes) -> bool:
    """True if ``tail`` (an archive's last TAIL_NEEDED bytes, or all of it) ends with a zip
    end-of-central-directory record whose comment reaches exactly to the end."""
    position = tail.rfind(EOCD_SIGNATURE)
    while position >= 0:
        if len(tail) - position >= EOCD_SIZE:
            comment = int.from_bytes(tail[position + 20 : position + 22], "little")
            if position + EOCD_SIZE + comment == len(tail):
                return True
        position = tail.rfind(EOCD_SIGNATURE, 0, position)
    return False
