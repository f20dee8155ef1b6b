"""Export of the tenant's or one author's data: a ZIP of JSON files, built while the request waits.

The archive is written row by row into a spooled temporary file (memory stays flat, large ones go to
disk) and sent once complete, so a client never receives half an export; docs/privacy-data.md.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer

from api import privacy_serializers as s
from api.models import Scope
from api.views.audit import require_tenant_admin
from api.views.base import TenantScopedView, query_of
from authors.selectors import access_author
from privacy.services import export_build


class ZipRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/zip`; the body is the FileResponse's own."""

    media_type = "application/zip"
    format = "zip"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ExportView(TenantScopedView):
    renderer_classes = [JSONRenderer, ZipRenderer]  # errors in JSON, the archive as a ZIP
    pagination_class = None
    required_scopes = {"GET": Scope.ADMIN}

    def handle_exception(self, exc):
        """Errors answer in the one JSON shape, also to a client that asked for a ZIP."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return response

    @extend_schema(
        parameters=[s.ExportQuery],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The ZIP.")},
    )
    def get(self, request):
        """The tenant's data (or one author's with `?author=`) as a ZIP: one JSON file per table and a
        manifest.json. Secrets and embedding vectors are left out. Every export is audited."""
        require_tenant_admin(self.principal)
        query = query_of(s.ExportQuery, request)
        author_id = access_author(author_id=query["author"]).pk if "author" in query else None
        built = export_build(actor=self.principal.user, author_id=author_id)
        return FileResponse(
            built.file, as_attachment=True, filename=built.filename, content_type="application/zip"
        )
