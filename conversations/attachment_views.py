"""Serving stored message files to the team, only for conversations the caller may see.

Files come from customers, so nothing is served in a way a browser would run: only a short list of
image, audio and video types is shown inline; everything else (HTML, SVG, PDFs, …) is a download
of ``application/octet-stream``, and every answer is sandboxed and must not be sniffed.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from conversations.models import Attachment
from conversations.selectors import conversation_list
from tenants.models import Membership

INLINE_MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/ogg",
        "audio/mpeg",
        "audio/aac",
        "audio/mp4",
        "video/mp4",
        "video/3gpp",
    }
)
DOWNLOAD_MIME_TYPE = "application/octet-stream"


def _visible_attachment(*, membership: Membership, attachment_id: int) -> Attachment:
    """The stored attachment if its conversation is visible to the member; 404 for anything else."""
    attachment = (
        Attachment.objects.filter(
            tenant_id=membership.tenant_id,
            pk=attachment_id,
            download_status=Attachment.DownloadStatus.STORED,
            message__conversation__in=conversation_list(membership=membership).values("pk"),
        )
        .exclude(file="")
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


@require_safe
def attachment_download(request: HttpRequest, tenant_slug: str, attachment_id: int) -> FileResponse:
    attachment = _visible_attachment(membership=request.membership, attachment_id=attachment_id)  # type: ignore[attr-defined]
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
