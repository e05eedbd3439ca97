# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The exact dependency versions CI tested (README "Dependency policy"); `make constraints` regenerates it.
CONSTRAINTS := constraints.txt
EXTRAS := rtsp,web,test
LATEST := .venv-latest

.PHONY: deps install demo test test-latest constraints bench bench-encoders bench-soak bench-audio clean

deps:
	@CAMSTREAM_TEST_PACKAGES=1 bash scripts/install_deps.sh

$(STAMP): pyproject.toml $(CONSTRAINTS) scripts/install_deps.sh
	@bash scripts/install_deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	@touch $@

install: $(STAMP)

demo: install
	$(BIN)/camstream run --source testsrc --rtsp --record --snapshots --ssd-path ./.demo/capture

# Two workers, one test file each at a time (module fixtures such as the fault rigs stay shared): most slow tests
# spend their time waiting on real seconds of video, so two run side by side even on a 2-core board. Tests marked
# serial (several browsers, deadlines from the issues) then run alone. Both parts always run; either failing fails.
TEST_WORKERS ?= 2

test: deps install
	$(BIN)/python -m mypy camstream
	rc=0; $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m 'not serial' || rc=$$?; \
	$(BIN)/python -m pytest -q -m serial || rc=$$?; exit $$rc

# The newest versions pyproject.toml allows, without the constraints, in a venv of its own; the fast tier only.
# A breaking upstream release shows up here as a failing target instead of in a user's traceback.
test-latest: deps
	@test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable | diff $(CONSTRAINTS) - | grep '^[<>]' || true
	$(LATEST)/bin/python -m pytest -q -m 'not slow'

# Re-resolve the newest allowed versions in a fresh venv and freeze them into constraints.txt (commit the result).
constraints:
	PYTHON=$(PYTHON) bash scripts/lock_deps.sh

# `deps` as for `make test`: the bench needs the same system packages (x264enc from gstreamer1.0-plugins-ugly
# for case (c), nginx-rtmp, the GStreamer RTSP server); tests/test_bench_smoke.py runs every command line it uses.
bench: deps install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.encoders
	$(BIN)/python -m bench.web_media
	$(BIN)/python -m bench.audio --no-sync --cpu-seconds 60 --size 640x360 --out bench/results.md

# libx264 preset CPU at 720p30/1080p30 and PSNR per preset x profile at 2 Mb/s (its own section of results.md).
bench-encoders: deps install
	$(BIN)/python -m bench.encoders

# Every camstream process's CPU/RSS per minute over a 60-minute run with RTSP UDP/TCP and RTMP viewers
# attached (writes bench/soak.md).
bench-soak: deps install
	$(BIN)/python -m bench.soak --minutes 60

clean:
	rm -rf $(VENV) $(LATEST) .demo .pytest_cache

# Sound (issue 14): A/V sync at RTMP/RTSP viewers and in a chunk, at the start and after 30 minutes with a
# drifting microphone, plus the CPU cost of sound (writes bench/audio.md; about 40 minutes).
bench-audio: deps install
	$(BIN)/python -m bench.audio --minutes 30 --size 640x360
