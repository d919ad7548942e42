"""Django's JavaScript catalog of the ``djangojs`` domain, one URL per language.

The language is in the path, so that a browser may cache each catalog and a member who switches
language loads the other one (a page asks for ``jsi18n/<its language>/``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe
from django.views.i18n import JavaScriptCatalog

CATALOG_MAX_AGE = 3600


@require_safe
def javascript_catalog(request: HttpRequest, language: str) -> HttpResponseBase:
    if language not in dict(settings.LANGUAGES):
        raise Http404("Unknown language.")
    with translation.override(language):
        response = JavaScriptCatalog.as_view(domain="djangojs")(request)
    patch_cache_control(response, public=True, max_age=CATALOG_MAX_AGE)
    return response
