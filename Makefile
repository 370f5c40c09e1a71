# One command each: `make run` (everything on a bare laptop) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8000

.PHONY: run test venv migrate demo lint screenshots bench mutate clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

migrate: venv
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo

run: demo
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py portal_info --url http://127.0.0.1:$(PORT)/
	DEBUG=$${DEBUG:-true} PORTAL_PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

screenshots: venv
	SCREENSHOTS=1 $(BIN)/python -m pytest -m e2e tests/test_e2e.py -p no:randomly

# Mutation testing of the pure rule modules: `make mutate` (all three) or `make mutate ARGS=requests/sla.py`
# (add `--with-db` to run the database tests too, `--list` to see the mutants).
MUTATE_MODULES := policies/routing.py requests/sla.py requests/messages.py
mutate: venv
	@if [ -n "$(ARGS)" ]; then $(BIN)/python -m tests.mutation $(ARGS); \
	else for m in $(MUTATE_MODULES); do $(BIN)/python -m tests.mutation $$m || exit 1; done; fi

bench: venv
	$(BIN)/python bench/queue.py

clean:
	rm -rf var staticfiles .pytest_cache
