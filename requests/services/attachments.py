"""Attachments: a request's rep or its approvers add files while it is open; whoever added one removes it."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from requests import attachments
from requests.models import Attachment, ExceptionRequest
from requests.selectors import may_attach, may_remove_attachment
from requests.services.errors import FileRefused, NotFound, NotYours, WrongStatus


def attachment_add(
    *, request_id: int, user: AbstractBaseUser, upload: UploadedFile, now: datetime | None = None
) -> Attachment:
    """Attach a file to a request: by its rep, or an approver it is assigned to.

    The type is checked from the content (attachments.check), the name sanitised, the file stored under a
    random name through the ``attachments`` storage. Refusals raise ExceptionRequestError (errors.py) and store nothing.
    """
    now = now or timezone.now()
    try:
        attachments.check_size(name=upload.name or "", size=upload.size or 0)
        upload.seek(0)
        content = upload.read()
        kind = attachments.check(name=upload.name or "", content=content)
    except attachments.AttachmentRefused as refused:
        raise FileRefused(str(refused)) from refused
    name = attachments.sanitise_name(upload.name or "", kind)
    thumbnail = attachments.thumbnail(content) if kind.is_image else None
    stored: list[str] = []
    try:
        with transaction.atomic():
            request = ExceptionRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()
            if request is None:
                raise NotFound("That request does not exist.")
            if not may_attach(user=user, exception_request=request):
                if request.rep_id != user.pk:
                    raise NotYours(
                        f"Only the rep who filed {request.reference} and the approvers it waits for attach files."
                    )
                raise WrongStatus(
                    f"{request.reference} is {request.get_status_display().lower()}: you cannot attach files to it."
                )
            if request.attachments.count() >= settings.ATTACHMENT_MAX_COUNT:
                raise FileRefused(
                    f"{request.reference} already has {settings.ATTACHMENT_MAX_COUNT} attachments, the most allowed."
                )
            attachment = Attachment(
                request=request, name=name, content_type=kind.content_type, size=len(content), uploaded_by=user
            )
            attachment.uploaded_at = now
            attachment.file.save(f"upload.{kind.extension}", ContentFile(content), save=False)
            stored.append(attachment.file.name)
            if thumbnail is not None:
                attachment.thumbnail.save("thumbnail.png", ContentFile(thumbnail), save=False)
                stored.append(attachment.thumbnail.name)
            attachment._history_user = user
            attachment._history_date = now
            attachment._change_reason = f"Evidence attached to {request.reference}: {name}"
            attachment.save()
    except BaseException:
        # The transaction rolled back; the stored bytes must go with it.
        for path in stored:
            attachments.storage().delete(path)
        raise
    return attachment


def attachment_remove(*, attachment_id: int, user: AbstractBaseUser) -> str:
    """Remove an attachment its uploader added, while the request is undecided. Returns the file's name."""
    with transaction.atomic():
        attachment = Attachment.objects.select_related("request").filter(pk=attachment_id).first()
        if attachment is None:
            raise NotFound("That attachment does not exist.")
        request = ExceptionRequest.objects.select_for_update(of=("self",)).get(pk=attachment.request_id)
        if not may_remove_attachment(user=user, attachment=attachment, exception_request=request):
            if attachment.uploaded_by_id != user.pk:
                raise NotYours("Only whoever attached a file removes it.")
            raise WrongStatus(
                f"{request.reference} is {request.get_status_display().lower()}: its attachments stay as they were."
            )
        paths = [attachment.file.name, attachment.thumbnail.name]
        name = attachment.name
        attachment._history_user = user
        attachment._change_reason = f"Evidence removed from {request.reference}: {name}"
        attachment.delete()
        transaction.on_commit(lambda: [attachments.storage().delete(path) for path in paths if path])
    return name
