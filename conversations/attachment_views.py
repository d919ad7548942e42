"""Serving stored message files to the team, only for conversations the caller may see.

Files come from customers, so nothing is served in a way a browser would run: only a short list of
image, audio and video types is shown inline; everything else (HTML, SVG, PDFs, …) is a download
of ``application/octet-stream``, and every answer is sandboxed and must not be sniffed.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from conversations.media import INLINE_MIME_TYPES
from conversations.models import Attachment
from conversations.selectors import conversation_list
from tenants.models import ApiToken, Membership

DOWNLOAD_MIME_TYPE = "application/octet-stream"


def visible_attachment(
    *, principal: Membership | ApiToken, attachment_id: int, hide_private: bool = False
) -> Attachment:
    """The stored attachment if its conversation is visible to the member or token; 404 for anything else.

    ``hide_private``: files of private notes count as missing (as the API's message list hides them).
    """
    attachments = Attachment.objects.filter(
        tenant_id=principal.tenant_id,
        pk=attachment_id,
        download_status=Attachment.DownloadStatus.STORED,
        message__conversation__in=conversation_list(membership=principal).values("pk"),
    ).exclude(file="")
    if hide_private:
        attachments = attachments.exclude(message__private=True)
    attachment = attachments.first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def attachment_file_response(attachment: Attachment) -> FileResponse:
    """The file, inline only for the harmless media types, sandboxed and never sniffed."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    mime_type = attachment.mime_type.split(";")[0].strip().lower()
    inline = mime_type in INLINE_MIME_TYPES
    filename = attachment.filename or (attachment.file.name or "").rsplit("/", 1)[-1]
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=filename,
        content_type=mime_type if inline else DOWNLOAD_MIME_TYPE,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_safe
def attachment_download(request: HttpRequest, tenant_slug: str, attachment_id: int) -> FileResponse:
    attachment = visible_attachment(principal=request.membership, attachment_id=attachment_id)  # type: ignore[attr-defined]
    return attachment_file_response(attachment)
