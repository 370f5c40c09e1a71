"""Evidence attached to a request: which files are accepted, and under what name.

Plain functions of bytes and strings, so that views, services and tests share one rule. The type is read
from the content (magic bytes), never from the name or the browser's Content-Type: a file named
``refund.pdf`` that holds HTML is refused, and what is stored is served back only as a download.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from django.conf import settings
from django.core.files.storage import Storage, storages

# How much of the start of a file decides its type.
SNIFF_BYTES = 8192
THUMBNAIL_SIZE = (240, 240)
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class FileKind:
    content_type: str
    extension: str
    label: str
    is_image: bool = False


PDF = FileKind("application/pdf", "pdf", "PDF")
PNG = FileKind("image/png", "png", "PNG image", is_image=True)
JPEG = FileKind("image/jpeg", "jpg", "JPEG image", is_image=True)
GIF = FileKind("image/gif", "gif", "GIF image", is_image=True)
WEBP = FileKind("image/webp", "webp", "WebP image", is_image=True)
TEXT = FileKind("text/plain", "txt", "plain text")
EMAIL = FileKind("message/rfc822", "eml", "e-mail")

KINDS = {kind.content_type: kind for kind in (PDF, PNG, JPEG, GIF, WEBP, TEXT, EMAIL)}
# Extensions a name may claim for each kind: a claim that contradicts the content is refused.
CLAIMED_EXTENSIONS = {
    "pdf": PDF,
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "gif": GIF,
    "webp": WEBP,
    "txt": TEXT,
    "text": TEXT,
    "log": TEXT,
    "csv": TEXT,
    "eml": EMAIL,
}
ACCEPTED_DESCRIPTION = "PDF, images (PNG, JPEG, GIF, WebP), plain text or e-mail (.eml)"

# What a browser would sniff as HTML (WHATWG MIME sniffing, "HTML" patterns), after leading white space.
_HTML_STARTS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
    b"<?xml",
    b"<svg",
)
_EMAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "received", "return-path", "mime-version"}


class AttachmentRefused(ValueError):
    """The file is not accepted; the message says why, for people."""


def max_bytes() -> int:
    return settings.ATTACHMENT_MAX_MB * 1024 * 1024


def storage() -> Storage:
    """Where attachments live: the ``attachments`` storage (local folder under VAR_DIR, or S3-compatible)."""
    return storages["attachments"]


class AttachmentStorage(Storage):
    """The ``attachments`` storage looked up on every call.

    A FileField evaluates its storage once, at import; this keeps it following STORAGES (the tests give each
    test its own folder, and a deployment switches to S3 by environment variables alone).
    """

    def _storage(self) -> Storage:
        return storages["attachments"]

    def open(self, name, mode="rb"):
        return self._storage().open(name, mode)

    def save(self, name, content, max_length=None):
        return self._storage().save(name, content, max_length=max_length)

    def delete(self, name):
        return self._storage().delete(name)

    def exists(self, name):
        return self._storage().exists(name)

    def size(self, name):
        return self._storage().size(name)

    def url(self, name):
        return self._storage().url(name)

    def path(self, name):
        return self._storage().path(name)

    def listdir(self, path):
        return self._storage().listdir(path)

    def generate_filename(self, filename):
        return self._storage().generate_filename(filename)

    def get_available_name(self, name, max_length=None):
        return self._storage().get_available_name(name, max_length=max_length)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b" \t\r\n\x0c").lower()
    for marker in _HTML_STARTS:
        if start.startswith(marker):
            following = start[len(marker) : len(marker) + 1]
            # "<a" must be a tag ("<a " or "<a>"), not "<apples>".
            if marker in (b"<!--", b"<?xml") or following in (b" ", b">", b"\t", b"\n", b"\r", b"/"):
                return True
    # Anywhere in the first bytes: an active tag is never in evidence we accept as text.
    return bool(re.search(rb"<\s*(script|iframe|object|embed|svg|html)\b", head.lower()))


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sniffed bytes is still UTF-8; otherwise a legacy 8-bit text.
        text = head[: error.start].decode("utf-8") if error.start >= len(head) - 3 else head.decode("latin-1")
    return not any(ord(ch) < 32 and ch not in "\t\n\r\x0c\x1b" for ch in text)


def _is_email(head: bytes) -> bool:
    headers = BytesHeaderParser().parsebytes(head)
    names = {name.lower() for name in headers}
    return "from" in names and len(names & _EMAIL_HEADERS) >= 2


def sniff(head: bytes) -> FileKind | None:
    """The kind of file the first bytes show, or None when it is not one the portal accepts."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if not _is_text(head) or _looks_like_html(head):
        return None
    if _is_email(head):
        return EMAIL
    return TEXT


def sanitise_name(raw: str, kind: FileKind) -> str:
    """A name safe to show and to offer as a download: no folders, no control characters, the right extension.

    The stored file never uses this name (see ``upload_path``); it is only shown and sent back.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w .()+,=@-]", "_", name).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if dot and CLAIMED_EXTENSIONS.get(extension.lower()) == kind:
        extension = extension.lower()
    else:
        stem, extension = name, kind.extension
    stem = re.sub(r"\.{2,}", ".", stem).strip(" .") or "attachment"
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1]
    return f"{stem}.{extension}"


def check_size(*, name: str, size: int) -> None:
    """Refuse an empty or oversized file before reading it."""
    if size > max_bytes():
        raise AttachmentRefused(
            f"{_display(name)} is {size / 1024 / 1024:.1f} MB: files may be at most {settings.ATTACHMENT_MAX_MB} MB."
        )
    if size == 0:
        raise AttachmentRefused(f"{_display(name)} is empty.")


def check(*, name: str, content: bytes) -> FileKind:
    """The kind of an uploaded file, or AttachmentRefused saying why it is not accepted."""
    check_size(name=name, size=len(content))
    kind = sniff(content[:SNIFF_BYTES])
    if kind is None:
        raise AttachmentRefused(f"{_display(name)} is not a file the portal accepts: {ACCEPTED_DESCRIPTION}.")
    claimed = name.rpartition(".")[2].lower() if "." in name else ""
    if claimed in CLAIMED_EXTENSIONS and CLAIMED_EXTENSIONS[claimed].content_type != kind.content_type:
        raise AttachmentRefused(
            f"{_display(name)} is named .{claimed} but holds {kind.label}: rename it or attach the real file."
        )
    if kind.is_image:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(content)) as image:
                image.verify()
        except Exception as error:  # Pillow raises many kinds for a broken image.
            raise AttachmentRefused(f"{_display(name)} is not a readable image.") from error
    return kind


def thumbnail(content: bytes) -> bytes | None:
    """A small PNG of an image, re-encoded (so that nothing but pixels survives), or None when unreadable."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.save(out, format="PNG")
            return out.getvalue()
    except Exception:  # A broken image gets no thumbnail; it stays a download.
        return None


def _display(name: str) -> str:
    shown = re.split(r"[\\/]", name or "")[-1][:80]
    return f"“{shown}”" if shown else "The file"
