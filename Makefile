# Two commands: `make run` (set up and start the product) and `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_PORT ?= 8001
PSP_PORT ?= 8002
TRANSIT_PORT ?= 8003
# The product reaches the fake Cloud API as it reaches Meta, and may fetch media from it on this machine.
FAKE_ENV := WHATSAPP_API_BASE_URL=http://$(HOST):$(FAKE_PORT) WHATSAPP_MEDIA_ALLOWED_HOSTS=$(HOST) \
	WHATSAPP_MEDIA_ALLOW_LOOPBACK=true WHATSAPP_APP_ID=1000000000000001 \
	PAYMENTS_PIX_PROVIDERS='{"fake": {"name": "Banco Fake (demo)", "api_url": "http://$(HOST):$(PSP_PORT)/pix/api/v2", "token_url": "http://$(HOST):$(PSP_PORT)/pix/oauth/token"}}' \
	MERCADOPAGO_API_URL=http://$(HOST):$(PSP_PORT)/mercadopago STRIPE_API_URL=http://$(HOST):$(PSP_PORT)/stripe \
	PAYMENTS_ALLOW_PLAIN_HTTP=true HELPDESK_SITE_URL=http://$(HOST):$(PORT) \
	TRANSIT_OPERATOR_BASE_URL=http://$(HOST):$(TRANSIT_PORT)

.PHONY: run test install messages messages-update lint typecheck migrate worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The translations (locale/<language>/LC_MESSAGES/*.po) compiled by Babel: no system gettext needed.
messages: install
	$(BIN)/pybabel compile --domain="django djangojs" --directory=locale

# After adding or changing strings: bring the catalogs up to date (needs GNU gettext), then translate
# the new entries of locale/pt_BR/LC_MESSAGES/*.po. The tests fail while one is missing.
messages-update: install
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/python manage.py makemessages -l pt_BR
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/python manage.py makemessages -d djangojs -l pt_BR


migrate: messages
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py seed_demo
	@mkdir -p var; [ -f var/fake-cloud-api.json ] || echo "[]" > var/fake-cloud-api.json
	@echo "Serving on http://$(HOST):$(PORT)/, the fake WhatsApp Cloud API on http://$(HOST):$(FAKE_PORT)/, the fake PSP (payer simulator: /payer/) on http://$(HOST):$(PSP_PORT)/ and the fake transit operator on http://$(HOST):$(TRANSIT_PORT)/  (Ctrl+C to stop)"
	@$(BIN)/python -m whatsapp.fake --host $(HOST) --port $(FAKE_PORT) --config var/fake-cloud-api.json & FAKE_PID=$$!; \
	$(BIN)/python -m payments.fake --host $(HOST) --port $(PSP_PORT) --demo & PSP_PID=$$!; \
	$(BIN)/python -m flows.fake --host $(HOST) --port $(TRANSIT_PORT) --demo & TRANSIT_PID=$$!; \
	trap 'kill $$FAKE_PID $$PSP_PID $$TRANSIT_PID 2>/dev/null' EXIT INT TERM; \
	$(FAKE_ENV) $(BIN)/python manage.py seed_demo_whatsapp \
		--site-url http://$(HOST):$(PORT) --fake-config var/fake-cloud-api.json --register && \
	$(BIN)/python manage.py seed_demo_automations && \
	$(FAKE_ENV) $(BIN)/python manage.py seed_demo_payments && \
	$(FAKE_ENV) $(BIN)/python manage.py seed_demo_flows \
		--site-url http://$(HOST):$(PORT) --fake-config var/fake-cloud-api.json --register && \
	$(BIN)/python manage.py seed_demo_campaigns && \
	$(FAKE_ENV) HELPDESK_EMBEDDED_BEAT=1 $(BIN)/uvicorn helpdesk.asgi:application --host $(HOST) --port $(PORT) \
		--forwarded-allow-ips "$$TRUSTED_PROXIES" --lifespan off

test: messages
	DJANGO_SETTINGS_MODULE=helpdesk.settings.test $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

worker: messages
	$(BIN)/celery -A helpdesk worker --loglevel=info

beat: install
	$(BIN)/celery -A helpdesk beat --loglevel=info

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles .test-db.sqlite3
