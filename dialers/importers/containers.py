"""What a recording really is, from its first bytes.

A server's Content-Type is only its claim: a sign-in page or an expired-link page
served as ``audio/mpeg`` is still HTML. Every audio or video container a dialer
hands out announces itself in its first few bytes (its "magic number"); a file that
matches none of them is not a recording, whatever its headers say.
"""

from __future__ import annotations

HEAD_BYTES = 16  # enough for every signature below

# (offset, bytes, kind). Kinds name the file type Chorus stores (RecordingFile.file_type).
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"ID3", "MP3"),  # MP3 with an ID3v2 tag
    (0, b"OggS", "OGG"),  # Ogg (Vorbis, Opus)
    (0, b"fLaC", "FLAC"),
    (0, b"\x1a\x45\xdf\xa3", "WEBM"),  # EBML: WebM / Matroska
    (0, b"#!AMR", "AMR"),  # AMR and AMR-WB (#!AMR-WB)
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA"),  # ASF: WMA / WMV
    (0, b".snd", "AU"),  # Sun/NeXT audio (mu-law telephony recordings)
    (0, b"caff", "CAF"),  # Core Audio Format
    (4, b"ftyp", "MP4"),  # ISO base media: MP4, M4A, 3GP, MOV
    (4, b"moov", "MOV"),  # QuickTime files without an ftyp box
    (4, b"mdat", "MOV"),
)
EXTENSIONS = {"MP3": ".mp3", "AAC": ".aac", "WAV": ".wav", "AIFF": ".aiff", "OGG": ".ogg", "FLAC": ".flac",
              "WEBM": ".webm", "AMR": ".amr", "WMA": ".wma", "AU": ".au", "CAF": ".caf", "MP4": ".mp4",
              "M4A": ".m4a", "MOV": ".mov"}


def media_kind(head: bytes) -> str | None:
    """The audio or video container ``head`` (a file's first bytes) starts with,
    or None when it is none of them."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if len(head) >= 2 and head[0] == 0xFF:  # an MPEG audio frame with no tag in front
        if head[1] & 0xF6 == 0xF0:  # ADTS: AAC
            return "AAC"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # frame sync, and a layer (not "reserved")
            return "MP3"
    for offset, magic, kind in SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if kind == "MP4" and head[8:11] == b"M4A":
                return "M4A"
            return kind
    return None


def not_media_description(head: bytes) -> str:
    """What a file that is not a recording looks like, for the sentence shown."""
    text = head.lstrip()
    if text.startswith(b"<"):
        return "an HTML or XML page"
    if text.startswith((b"{", b"[")):
        return "a JSON document"
    if text.startswith(b"%PDF"):
        return "a PDF document"
    return "a file that is not audio or video"
