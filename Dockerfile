FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=helpdesk.settings.production

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic DJANGO_ALLOWED_HOSTS=localhost ENCRYPTION_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXJlYWwta2V5IQ== \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput \
 && useradd --create-home --uid 1000 helpdesk
USER helpdesk
EXPOSE 8000
# X-Forwarded-For is believed only from the proxies listed in TRUSTED_PROXIES (none by default).
ENV TRUSTED_PROXIES=""
CMD ["sh", "-c", "exec uvicorn helpdesk.asgi:application --host 0.0.0.0 --port 8000 --proxy-headers --forwarded-allow-ips \"$TRUSTED_PROXIES\" --lifespan off"]
