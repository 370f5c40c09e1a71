"""Evidence on a request: what is accepted (by content, not by name), who may attach, see and remove."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from requests import attachments
from requests.models import Attachment
from requests.services import (
    FileRefused,
    NotYours,
    WrongStatus,
    attachment_add,
    attachment_remove,
    exception_request_decide,
    exception_request_file,
)
from tests.conftest import facts, make_user
from tests.support import FILED as NOW

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML_BYTES = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
EML_BYTES = (
    b"From: Bank <noreply@bank.example>\r\nTo: support@example.com\r\nSubject: Payment confirmation\r\n"
    b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\nThe payment of 20.00 was received.\r\n"
)


def png_bytes(size: tuple[int, int] = (600, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.mark.parametrize(
    ("name", "content", "content_type", "shown"),
    [
        ("bank.pdf", PDF_BYTES, "application/pdf", "bank.pdf"),
        ("damage.png", png_bytes(), "image/png", "damage.png"),
        ("notes.txt", "Outage from 09:00 to 11:30 — confirmed.".encode(), "text/plain", "notes.txt"),
        ("confirmation.eml", EML_BYTES, "message/rfc822", "confirmation.eml"),
        ("no extension", PDF_BYTES, "application/pdf", "no extension.pdf"),
    ],
)
def test_accepted_types_are_read_from_the_content(pending, rep, name, content, content_type, shown):
    attachment = attachment_add(request_id=pending.pk, user=rep, upload=upload(name, content))
    assert (attachment.content_type, attachment.name, attachment.size) == (content_type, shown, len(content))
    assert attachment.file.read() == content


def test_a_pdf_name_holding_html_is_refused(pending, rep):
    with pytest.raises(FileRefused, match="not a file the portal accepts"):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("refund.pdf", HTML_BYTES))
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"  \n<html><p>hi</p></html>",
        b"Dear team,\n<script src=x></script>",
        b"<svg onload=alert(1)>",
        b"\x00\x01binary",
    ],
)
def test_html_svg_and_binary_are_refused_whatever_the_name(pending, rep, content):
    with pytest.raises(FileRefused):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("notes.txt", content))
    assert not Attachment.objects.exists()


def test_a_name_contradicting_the_content_is_refused(pending, rep):
    with pytest.raises(FileRefused, match=r"named \.pdf but holds plain text"):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("bank.pdf", b"just some text"))


def test_an_oversized_file_is_refused(pending, rep, settings):
    settings.ATTACHMENT_MAX_MB = 1
    big = PDF_BYTES + b"0" * (1024 * 1024)
    with pytest.raises(FileRefused, match="at most 1 MB"):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("big.pdf", big))
    assert not Attachment.objects.exists()


def test_a_broken_image_is_refused(pending, rep):
    with pytest.raises(FileRefused, match="not a readable image"):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("x.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 10))


def test_the_count_is_limited(pending, rep, settings):
    settings.ATTACHMENT_MAX_COUNT = 2
    for number in range(2):
        attachment_add(request_id=pending.pk, user=rep, upload=upload(f"{number}.pdf", PDF_BYTES))
    with pytest.raises(FileRefused):
        attachment_add(request_id=pending.pk, user=rep, upload=upload("third.pdf", PDF_BYTES))
    assert Attachment.objects.count() == 2


def test_a_path_traversal_name_is_sanitised_and_not_used_for_storage(pending, rep, attachment_storage):
    attachment = attachment_add(
        request_id=pending.pk, user=rep, upload=upload("../../../etc/passwd\x00.pdf", PDF_BYTES)
    )
    assert attachment.name == "passwd.pdf"
    assert attachment.file.name.startswith(f"requests/{pending.pk}/")
    assert ".." not in attachment.file.name and "passwd" not in attachment.file.name
    stored = list(attachment_storage.rglob("*.pdf"))
    assert len(stored) == 1 and attachment_storage in stored[0].parents


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("..\\..\\windows\\win.ini.pdf", "win.ini.pdf"),
        ("...pdf", "pdf.pdf"),
        ("..", "attachment.pdf"),
        ("<script>.PDF", "_script_.pdf"),
        ("rapport\u202egnp.pdf", "rapportgnp.pdf"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
        ("photo.exe", "photo.exe.pdf"),
    ],
)
def test_sanitise_name(raw, expected):
    assert attachments.sanitise_name(raw, attachments.PDF) == expected


def test_images_get_a_re_encoded_thumbnail(pending, rep):
    attachment = attachment_add(request_id=pending.pk, user=rep, upload=upload("damage.png", png_bytes()))
    with Image.open(attachment.thumbnail.open("rb")) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) <= 240


def test_an_assigned_approver_attaches_an_unassigned_one_is_refused(pending, manager_low, director):
    attachment_add(request_id=pending.pk, user=manager_low, upload=upload("outage.txt", b"Outage notice"))
    with pytest.raises(NotYours):
        attachment_add(request_id=pending.pk, user=director, upload=upload("x.txt", b"text"))
    assert Attachment.objects.count() == 1


def test_attachments_are_in_the_history_and_stay_once_decided(client, pending, rep, manager_high):
    kept = attachment_add(request_id=pending.pk, user=rep, upload=upload("bank.pdf", PDF_BYTES))
    removed = attachment_add(request_id=pending.pk, user=rep, upload=upload("wrong.pdf", PDF_BYTES))
    assert attachment_remove(attachment_id=removed.pk, user=rep) == "wrong.pdf"
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok", now=NOW)
    with pytest.raises(WrongStatus):
        attachment_remove(attachment_id=kept.pk, user=rep)
    assert Attachment.objects.filter(pk=kept.pk).exists()
    client.force_login(rep)
    page = client.get(reverse("requests:detail", args=[pending.pk])).content.decode()
    assert "Attached “bank.pdf”" in page and "Removed attachment “wrong.pdf”" in page
    assert "Remove<" not in page


def test_only_the_uploader_removes(pending, rep, manager_low):
    attachment = attachment_add(request_id=pending.pk, user=manager_low, upload=upload("n.txt", b"note"))
    with pytest.raises(NotYours):
        attachment_remove(attachment_id=attachment.pk, user=rep)


def test_upload_from_the_request_page(client, pending, rep):
    client.force_login(rep)
    response = client.post(
        reverse("requests:attach", args=[pending.pk]), {"file": SimpleUploadedFile("bank.pdf", PDF_BYTES)}, follow=True
    )
    assert "Attached “bank.pdf”" in response.content.decode()
    refused = client.post(
        reverse("requests:attach", args=[pending.pk]), {"file": SimpleUploadedFile("x.pdf", HTML_BYTES)}, follow=True
    )
    assert "Not attached" in refused.content.decode()
    assert Attachment.objects.count() == 1


def test_download_is_an_attachment_with_nosniff(client, pending, rep, manager_low):
    attachment = attachment_add(request_id=pending.pk, user=rep, upload=upload("bank.pdf", PDF_BYTES))
    client.force_login(manager_low)
    response = client.get(reverse("requests:attachment", args=[pending.pk, attachment.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;") and "bank.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_another_rep_gets_404_for_the_file_and_the_upload(client, pending, rep, outsider):
    attachment = attachment_add(request_id=pending.pk, user=rep, upload=upload("bank.pdf", PDF_BYTES))
    other_rep = make_user("other_rep", "Reps")
    client.force_login(other_rep)
    assert client.get(reverse("requests:attachment", args=[pending.pk, attachment.pk])).status_code == 404
    assert client.get(reverse("requests:attachment_thumbnail", args=[pending.pk, attachment.pk])).status_code == 404
    posted = client.post(reverse("requests:attach", args=[pending.pk]), {"file": upload("x.pdf", PDF_BYTES)})
    assert posted.status_code == 404
    removed = client.post(reverse("requests:attachment_remove", args=[pending.pk, attachment.pk]))
    assert removed.status_code == 404
    assert Attachment.objects.count() == 1


def test_an_attachment_id_under_another_request_is_404(client, pending, rep, policy):
    other = exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-2", customer_name="Ann"), now=NOW)
    attachment = attachment_add(request_id=other.pk, user=rep, upload=upload("bank.pdf", PDF_BYTES))
    client.force_login(rep)
    assert client.get(reverse("requests:attachment", args=[pending.pk, attachment.pk])).status_code == 404


def test_get_on_upload_is_refused(client, pending, rep):
    client.force_login(rep)
    assert client.get(reverse("requests:attach", args=[pending.pk])).status_code == 405
