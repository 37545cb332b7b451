# edgepbx: `make run` sets everything up and runs the box; `make test` runs the test suite.
# Both are idempotent: a second run skips what is already in place.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# `make test` runs test files on this many workers (pytest-xdist, whole files per worker so a
# module's one box serves its tests): the end-to-end tests mostly wait on real-time audio.
TEST_JOBS ?= 2

# Debian packages: build tools for pjproject and cext/, swig for the binding, espeak-ng
# and sox for prompts, ALSA headers for the analog line's sound device.
APT_PACKAGES := build-essential patch pkg-config swig uuid-dev libssl-dev libasound2-dev \
                python3-venv python3-dev espeak-ng sox
# Tests and benchmarks only: real speech and music for DTMF talk-off and voice keys (English
# prompts, music, gcin-voice's Mandarin syllables); spandsp and
# Rubber Band, references the benchmarks measure beside ours.
APT_TEST_PACKAGES := asterisk-core-sounds-en-wav asterisk-moh-opsound-wav libspandsp2 openssl rubberband-cli gcin-voice
# Training the voice-key models only: more synthetic voices (flite, festival) for the corpus.
APT_TRAIN_PACKAGES := flite festival festvox-kallpc8k festvox-kdlpc8k festvox-us-slt-hts asterisk-core-sounds-en-wav \
                      asterisk-core-sounds-fr-wav asterisk-core-sounds-es-wav asterisk-core-sounds-it-wav \
                      asterisk-core-sounds-ru-wav

# pjproject 2.17 source release. Official download for machines without ../shared:
# https://github.com/pjsip/pjproject/archive/refs/tags/2.17.tar.gz (repack with
# `git archive --prefix=pjproject-2.17/` of tag 2.17 to match this checksum).
PJ_TARBALL ?= ../shared/vendor/pjproject-2.17.tar.gz
PJ_SHA256 := 6e9b2e0ae40bb6b98bca015abdc549d2f18ab2712c1ff140ac521f95f8c3d953
PJ_CACHE ?= $(or $(XDG_CACHE_HOME),$(if $(HOME),$(HOME)/.cache,$(CURDIR)/.stamps/cache))/edgepbx/pjsua2

.PHONY: all setup run test bench prompts apt openapi voicekey-model install clean distclean bundle arm64
all: setup

# Installs what is missing of a package list (idempotent: dpkg is asked first).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p .stamps && touch $@
endef

apt: .stamps/apt
.stamps/apt: Makefile
	$(call apt_install,$(APT_PACKAGES))
.stamps/apt-test: Makefile
	$(call apt_install,$(APT_TEST_PACKAGES))
.stamps/apt-train: Makefile
	$(call apt_install,$(APT_TRAIN_PACKAGES))

$(PY): | .stamps/apt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip==25.2"

# The binding is built once per (tarball, config_site.h, build script, Python ABI) and cached
# outside the work tree, so a fresh clone on the same machine reuses it.
PJ_KEY = $(shell cat firmware/pjsua2/config_site.h firmware/pjsua2/build.sh $(wildcard firmware/pjsua2/patches/*.patch) | sha256sum | cut -c1-12)-$(shell echo $(PJ_SHA256) | cut -c1-12)$(shell $(PY) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
pjsua2: .stamps/pjsua2
.stamps/pjsua2: $(PY) firmware/pjsua2/config_site.h firmware/pjsua2/build.sh $(wildcard firmware/pjsua2/patches/*.patch)
	@key="$(PJ_KEY)"; dir="$(PJ_CACHE)/$$key"; \
	if [ ! -f "$$dir/pjsua2.py" ]; then \
	  [ -f "$(PJ_TARBALL)" ] || { echo "pjsua2: $(PJ_TARBALL) missing: download it (see Makefile)"; exit 1; }; \
	  mkdir -p "$(PJ_CACHE)" && bash firmware/pjsua2/build.sh "$(PJ_TARBALL)" $(PJ_SHA256) "$$(realpath $(PY))" "$$dir"; \
	else echo "pjsua2: using cached build $$dir"; fi; \
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])'); \
	cp "$$dir"/_pjsua2*.so "$$dir"/pjsua2.py "$$site"/ && $(PY) -c 'import pjsua2' && touch $@

# The package (editable), its pinned dependencies, and cext/ compiled in place.
package: .stamps/install
.stamps/install: $(PY) pyproject.toml setup.py $(wildcard cext/*.pyx cext/*.h)
	$(PIP) install -e '.[test]'
	@touch $@

setup: .stamps/apt .stamps/pjsua2 .stamps/install

# Default prompts, rendered with espeak-ng when missing or when their text changed.
prompts: setup
	$(VENV)/bin/edgepbx prompts render $(if $(CONFIG),--config $(CONFIG))

run: setup prompts
	$(VENV)/bin/edgepbx run $(if $(CONFIG),--config $(CONFIG))

test: setup .stamps/apt-test
	$(VENV)/bin/edgepbx prompts render --all-templates
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# `make bench` runs them all; `make bench BENCH=dtmf` one of them.
bench: setup .stamps/apt-test
	$(VENV)/bin/edgepbx prompts render --all-templates
	$(PY) -m tests.bench.run $(BENCH)

# A signed release bundle for firmware updates (README "Firmware updates"); its path is the
# last line printed. BUNDLE_KEY: the fleet's Ed25519 private key (PEM); without one a
# development key is made (var/fleet-dev.pem, .pub beside it). ARCH defaults to this machine's.
BUNDLE_KEY ?= var/fleet-dev.pem
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
ARCH ?= $(NATIVE_ARCH)
bundle: setup
	@[ -f "$(BUNDLE_KEY)" ] || { mkdir -p "$(dir $(BUNDLE_KEY))" && openssl genpkey -algorithm ed25519 -out "$(BUNDLE_KEY)" \
	  && openssl pkey -in "$(BUNDLE_KEY)" -pubout -out "$(BUNDLE_KEY:.pem=.pub)" \
	  && echo "bundle: made a development key $(BUNDLE_KEY); a fleet signs with its own" >&2; }
	@if [ "$(ARCH)" = "$(NATIVE_ARCH)" ]; then $(PY) -m edgepbx.update.bundle --key "$(BUNDLE_KEY)" --out dist --arch $(ARCH); \
	elif [ "$(ARCH)" = arm64 ]; then $(MAKE) -s .stamps/apt-arm64 >&2 && bash firmware/cross/arm64.sh build >&2 && \
	  $(PY) -m edgepbx.update.bundle --key "$(BUNDLE_KEY)" --out dist --arch arm64 --site build/arm64/site --package build/arm64/payload/edgepbx; \
	else echo "bundle: no cross build for ARCH=$(ARCH) (amd64, arm64)" >&2; exit 1; fi

# arm64 (Raspberry Pi OS / Debian 12) from an x86-64 machine, as far as it goes here: a Debian
# arm64 sysroot, PyPI's aarch64 wheels, the Cython modules cross-compiled, the DSP, store and
# engine tests, a real SIP call to the arm64 box and the DSP speed under qemu-user; pjsua2 is
# cross-built too. Not in CI (it downloads a sysroot and builds pjproject: about 10 minutes).
APT_ARM64_PACKAGES := gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static debootstrap file
.stamps/apt-arm64: Makefile
	$(call apt_install,$(APT_ARM64_PACKAGES))
arm64: setup .stamps/apt-arm64
	bash firmware/cross/arm64.sh check

# The sync API's OpenAPI document, generated from the code and committed for central's tools.
openapi: setup
	$(VENV)/bin/edgepbx api openapi > firmware/edgepbx/api/openapi.json

# Voice-key networks (firmware/edgepbx/dsp/voicekey/models/*.npz, committed): renders the
# synthetic corpus, trains one network without each real voice (FSDD speakers; Mandarin's four
# real voices) for the bench, then the shipped ensemble of three (seeds 1..3) on everything.
# Seeded: the same corpus gives the same weights. About 70 minutes (en) and 20 (zh) on two cores.
voicekey-model: setup .stamps/apt-train
	$(PIP) install -e '.[train]'
	$(PY) firmware/training/voicekey_corpus.py
	$(PY) firmware/training/voicekey_train.py --lang en --loso --epochs 20
	$(PY) firmware/training/voicekey_train.py --lang zh --loso --epochs 20 --copies-real 40

# Installs the box on Debian 12 / Raspberry Pi OS: the user, /opt/edgepbx (this tree and its
# venv), /etc/edgepbx/edgepbx.toml (kept if present), the unit, the udev rules, prompts.
# Idempotent. DESTDIR=/some/dir writes the files only (no user, no systemctl): for checking.
PREFIX ?= /opt/edgepbx
install:
	@set -e; D="$(DESTDIR)"; \
	if [ -z "$$D" ]; then \
	  getent group gpio >/dev/null || groupadd --system gpio; \
	  id -u edgepbx >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgepbx --shell /usr/sbin/nologin edgepbx; \
	  usermod -a -G audio,gpio,dialout edgepbx; \
	fi; \
	mkdir -p "$$D$(PREFIX)" "$$D/etc/edgepbx" "$$D/var/lib/edgepbx" "$$D/etc/systemd/system" "$$D/etc/udev/rules.d"; \
	tar --exclude=./.venv --exclude=./var --exclude=./.stamps --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$$D$(PREFIX)"; \
	install -m 0644 systemd/edgepbx.service "$$D/etc/systemd/system/edgepbx.service"; \
	install -m 0644 hardware/99-edgepbx.rules "$$D/etc/udev/rules.d/99-edgepbx.rules"; \
	[ -f "$$D/etc/edgepbx/edgepbx.toml" ] || install -m 0640 firmware/edgepbx/default.toml "$$D/etc/edgepbx/edgepbx.toml"; \
	if [ -z "$$D" ]; then \
	  $(MAKE) -C $(PREFIX) setup; \
	  chown -R edgepbx:edgepbx /var/lib/edgepbx; chgrp edgepbx /etc/edgepbx/edgepbx.toml; \
	  cd /var/lib/edgepbx && runuser -u edgepbx -- $(PREFIX)/.venv/bin/edgepbx prompts render --config /etc/edgepbx/edgepbx.toml; \
	  udevadm control --reload-rules && udevadm trigger || true; \
	  systemctl daemon-reload && systemctl enable --now edgepbx; \
	fi; \
	echo "installed into $${D:-/}"

clean:
	rm -rf build firmware/edgepbx/dsp/*.so firmware/*.egg-info .stamps/install .pytest_cache

distclean: clean
	rm -rf $(VENV) .stamps var
