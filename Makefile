# One target per common task. Only python3 (>= 3.11, as numpy 2.4 needs) and make are assumed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8888
# Jupyter refuses to run as root (containers, JupyterHub images) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help venv lab test test-fast lint format notebooks exercises check student-edition book book-serve reference fixtures bench bench-widgets clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)  ## create or update .venv with the course and its test tools

LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
# Course-wide JupyterLab defaults: no news pop-up over the notebooks, no update check.
$(LAB_OVERRIDES): $(STAMP) Makefile
	@mkdir -p $(dir $@)
	@echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

# Kernels talk to the server over local sockets (IPC), not unencrypted TCP. Terminals start an
# interactive, non-login shell: a login shell would reset PATH from /etc/profile and lose
# .venv/bin, where the `course` command lives.
lab: $(STAMP) $(LAB_OVERRIDES)  ## start JupyterLab at the course's start page
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter lab --port $(PORT) --KernelManager.transport=ipc \
	    --ServerApp.terminado_settings="{'shell_command': ['$${SHELL:-/bin/sh}', '-i']}" --ServerApp.root_dir=$(CURDIR) $(ROOT_FLAG) \
	    --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

NOTEBOOKS = $(wildcard notebooks/*.ipynb solutions/*.ipynb)
NBVAL = --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# A CPU without FMA/AVX2 kernels rounds differently: the stored outputs must not depend on it.
NO_FMA = OPENBLAS_CORETYPE=Sandybridge \
    NPY_DISABLE_CPU_FEATURES="AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR FMA3 AVX2"

test: $(STAMP)  ## the whole suite: lint, exercise drift, doctests, unit tests, notebooks, browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/course exercises --check
	$(PY) -m pytest -p no:cacheprovider --doctest-modules course_lib tests $(NOTEBOOKS) $(NBVAL)
	@echo "== the notebooks again, on kernels without FMA/AVX2 =="
	$(NO_FMA) $(PY) -m pytest -p no:cacheprovider -q $(NOTEBOOKS) $(NBVAL)

test-fast: $(STAMP)  ## unit tests and doctests, no notebooks and no slow tests (under 30 s)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" --doctest-modules course_lib tests

lint: $(STAMP)  ## ruff over the library, tests and notebooks
	$(VENV)/bin/ruff check .

format: $(STAMP)  ## ruff's import sorting and fixes
	$(VENV)/bin/ruff check --fix .

notebooks: $(STAMP)  ## re-execute lecture notebooks and solutions in place, regenerate exercises
	$(PY) -m course_lib.notebook_tools notebooks/*.ipynb solutions/*.ipynb
	$(VENV)/bin/course exercises

exercises: $(STAMP)  ## regenerate exercises/ from solutions/ (never over answers; FORCE=1 keeps .bak)
	$(VENV)/bin/course exercises $(if $(FORCE),--force)

check: $(STAMP)  ## grade one worksheet as the grader would: make check NB=exercises/ex05_adam.ipynb
	@test -n "$(NB)" || { echo "usage: make check NB=exercises/ex05_adam.ipynb" >&2; exit 2; }
	$(VENV)/bin/course check $(NB)

EDITION ?= _build/student
student-edition:  ## the course without solutions/ in $(EDITION) (course check still works there)
	rm -rf $(EDITION) && mkdir -p $(EDITION)
	git ls-files -z | grep -zv '^solutions/' | xargs -0 tar cf - | tar xf - -C $(EDITION)
	cp solutions/grading.toml $(EDITION)/exercises/grading.toml
	@echo "student edition in $(EDITION): hand out this folder (it has no solutions/)"

BOOK := _build/book
BOOK_WORK := _build/jupyter-book
BOOK_PORT ?= 8000
# Jupyter Book writes into <output>/_build/html; the finished site is then swapped into $(BOOK)
# whole, so a failed build never leaves a half-written site. Nothing is executed (book/_config.yml
# turns execution off): the pages show the outputs nbval checks. -W: a broken link fails the build.
book: $(STAMP)  ## the course website in _build/book, from the notebooks' stored outputs (seconds)
	$(VENV)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
	    --path-output $(BOOK_WORK) --all -W --keep-going -q
	rm -rf $(BOOK).new && cp -R $(BOOK_WORK)/_build/html $(BOOK).new
	rm -rf $(BOOK) && mv $(BOOK).new $(BOOK)
	@echo "website in $(BOOK)/index.html; preview it with make book-serve"

book-serve: book  ## build the website and serve it at http://127.0.0.1:8000 (BOOK_PORT=...)
	$(PY) -m http.server --bind 127.0.0.1 --directory $(BOOK) $(BOOK_PORT)

reference: $(STAMP)  ## install PyTorch (CPU) and optax (Lion's oracle) for the live reference tests
	$(PY) -m pip install --quiet torch==2.13.0 optax==0.2.8 jax==0.10.2 jaxlib==0.10.2

fixtures: reference  ## regenerate the torch reference trajectories in tests/fixtures
	$(PY) tests/make_torch_fixtures.py
	$(PY) tests/make_torch_mlp_fixture.py

bench: $(STAMP)  ## benchmarks (a few minutes, not part of make test): writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py

bench-widgets: $(STAMP)  ## median and p90 redraw time of the explore() sliders
	$(PY) benchmarks/widget_latency.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
