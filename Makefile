# SafeVet: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv on first use and install the pinned set from requirements.lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

.PHONY: demo test install bench clean-venv

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/safevet demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# Performance figures (printed, not asserted): SafeVet vs lm-evaluation-harness on the same
# prompts (builds its own lm-eval venv under .cache/ on first use), model throughput, judges.
bench: $(STAMP)
	SAFEVET_HOME=.cache/default-workspace $(BIN)/safevet models install-default
	$(BIN)/python benchmarks/vs_lm_eval.py
	$(BIN)/python benchmarks/generation_batch.py
	$(BIN)/python benchmarks/demo_wall_time.py
	$(BIN)/python benchmarks/model_throughput.py
	$(BIN)/python benchmarks/judge_agreement.py

clean-venv:
	rm -rf $(VENV)
