# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(VENV)
# folio-metrics, the metrics library, is a workspace member with its own pyproject.
METRICS := packages/folio-metrics
LINTED := src tests bench $(METRICS)

.PHONY: install install-runtime run test lint format clean bench soak

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Both install exactly what uv.lock pins, and fail if pyproject.toml and the lock disagree.
# Running needs only the runtime dependencies. --inexact keeps what `make test` installed,
# so switching between the two never uninstalls anything.
$(VENV)/.installed-runtime: $(UV) pyproject.toml $(METRICS)/pyproject.toml uv.lock
	$(UV) sync --frozen --inexact --no-default-groups --python $(PYTHON)
	touch $@

# Tests need the dev group, and the bench group that they smoke-test. A full install holds
# the runtime too, so it renews that stamp as well.
$(VENV)/.installed: $(UV) pyproject.toml $(METRICS)/pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@ $(VENV)/.installed-runtime

install-runtime: $(VENV)/.installed-runtime
install: $(VENV)/.installed

# folio-api, folio-web and (when installed) Prometheus and Alertmanager, with demo data; one
# Ctrl-C stops them all. folio_build_info{commit} shows the checkout that is running.
# RUN_ARGS passes options on, e.g. make run RUN_ARGS='--access-log --no-prometheus'.
run: install-runtime
	FOLIO_BUILD_COMMIT=$${FOLIO_BUILD_COMMIT:-$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)} \
		exec $(VENV)/bin/folio run $(RUN_ARGS)

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy src $(METRICS)/src

test: lint
	$(VENV)/bin/pytest

format: install
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)

# Not part of `make test`: minutes of load on both cores. BENCH_ARGS=--quick for a smoke run.
bench: install
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

# Regenerates bench/proto/metrics_pb2.py from folio-metrics' own metrics.proto: the independent
# encoder `make bench` races against folio_metrics', and the decoder tests read its output with.
.PHONY: proto
proto: install
	$(VENV)/bin/python -m grpc_tools.protoc -I $(METRICS)/proto --python_out=bench/proto $(METRICS)/proto/metrics.proto

# Not part of `make test`: tests/reliability at full size (100,000 hostile requests, long
# outages, 100,000 requests per service), tens of minutes. docs/reliability.md.
soak: install
	FOLIO_SOAK=1 $(VENV)/bin/pytest tests/reliability

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache
