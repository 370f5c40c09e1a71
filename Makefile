# One command each: `make run` (everything on a bare laptop) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installs come only from the lock files (every hash checked, no unlisted dependency):
# requirements.txt is the runtime (make run), requirements-dev.txt adds the tests and tools.
# A stamp named after the lock's checksum reinstalls whenever a lock file changes.
RUN_STAMP := $(VENV)/.installed-run-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PIP_INSTALL := $(BIN)/python -m pip install --quiet --require-hashes --no-deps
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
PORT ?= 8000

.PHONY: run test test-fast test-slow venv venv-run lock migrate demo lint screenshots bench mutate clean

$(RUN_STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	@rm -f $(VENV)/.installed-run-* $(VENV)/.installed-[0-9]*
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-dev-* $(VENV)/.installed-run-* $(VENV)/.installed-[0-9]*
	@touch $@ $(RUN_STAMP)

# The runtime alone (what `make run` and production need).
venv-run: $(RUN_STAMP)

# A developer's environment: the runtime plus the tests and tools.
venv: $(DEV_STAMP)

# Regenerate both lock files from requirements.in and requirements-dev.in, keeping the
# current pins where they still fit; `make lock LOCK_ARGS=--upgrade` moves every pin up.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/pip-compile || $(BIN)/python -m pip install --quiet "pip-tools>=7.4,<8"
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in

migrate: venv-run
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo

run: demo
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py portal_info --url http://127.0.0.1:$(PORT)/
	DEBUG=$${DEBUG:-true} PORTAL_PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# The suite in two steps: the fast tests spread over TEST_JOBS processes (pytest-xdist, each with its own test
# database), then the browser and worker tests, which start their own servers and Celery processes, one at a
# time and in file order (the browser tests share one seeded portal and tell its story in order; the fast tests
# run in a random order, pytest-randomly). `make test TEST_STEPS=fast` (or `slow`) runs one step, as do
# `make test-fast` and `make test-slow` (.ci/run overlaps one leg's fast step with the other leg's slow one,
# which mostly waits on timers and a browser).
# On PostgreSQL (DATABASE_URL=postgres://...) the tests marked engine_independent (pure functions, response
# headers: nothing the database engine changes) are left to the SQLite run.
# Exit code 5 (nothing selected, e.g. PYTEST_ARGS naming one file) is not a failure.
TEST_JOBS ?= 2
ENGINE_MARK := $(if $(filter postgres%,$(DATABASE_URL)), and not engine_independent,)
TEST_STEPS ?= fast slow
test: $(addprefix test-,$(TEST_STEPS))

test-fast: venv
	$(BIN)/python -m pytest -m "not e2e and not worker$(ENGINE_MARK)" -n $(TEST_JOBS) $(PYTEST_ARGS) || test $$? -eq 5

test-slow: venv
	$(BIN)/python -m pytest -m "(e2e or worker)$(ENGINE_MARK)" -p no:randomly $(PYTEST_ARGS) || test $$? -eq 5

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

screenshots: venv
	SCREENSHOTS=1 $(BIN)/python -m pytest -m e2e tests/e2e/test_e2e.py tests/e2e/test_e2e_email.py -p no:randomly

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
