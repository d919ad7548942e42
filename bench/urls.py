"""The product's URLs plus the baseline of the ingest benchmark: a bare view doing one INSERT."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def baseline_insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (body, created_at) VALUES (%s, now())", [request.body])
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/baseline/", baseline_insert),
    path("", include("helpdesk.urls")),
]
