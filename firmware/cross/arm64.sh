#!/bin/bash
# The box for arm64 (Raspberry Pi OS / Debian 12) from this x86-64 machine: a Debian arm64
# sysroot (debootstrap, first stage, packages unpacked), the Python dependencies as PyPI's
# aarch64 wheels, the Cython modules cross-compiled with Debian's aarch64 toolchain, then the
# DSP and store tests and the DSP benchmarks run under qemu-user (qemu-aarch64-static).
# `arm64.sh build` stops after building (for `make bundle ARCH=arm64`); `arm64.sh check` (what
# `make arm64` runs) also runs the tests, a real SIP call to the arm64 box, and the DSP speed.
# Not part of CI. Writes build/arm64/.
set -euo pipefail
MODE=${1:-check}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$HERE/build/arm64"
PY="$HERE/.venv/bin/python"
ROOT="$OUT/root"
mkdir -p "$OUT"
if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=python3.11,libpython3.11-dev,python3.11-dev,libssl-dev,libasound2-dev,libsqlite3-0 \
    bookworm "$ROOT" http://deb.debian.org/debian
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi
if [ ! -d "$OUT/site/numpy" ]; then
  deps=$("$PY" -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(" ".join(d["dependencies"] + [r for r in d["optional-dependencies"]["test"] if r.split("==")[0] in ("pytest", "pytest-timeout", "httpx")]))')
  "$PY" -m pip install -q --target "$OUT/site" --python-version 3.11 --implementation cp --only-binary=:all: \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64 $deps
fi
# the package, with the Cython modules compiled for aarch64 (the .c/.cpp Cython wrote for the host build)
rm -rf "$OUT/payload" && mkdir -p "$OUT/payload"
(cd "$HERE/firmware" && tar --exclude='__pycache__' --exclude='*.so' -cf - edgepbx) | tar -xf - -C "$OUT/payload"
INC="-I$ROOT/usr/include/python3.11 -I$ROOT/usr/include -I$HERE/cext"
SUFFIX=.cpython-311-aarch64-linux-gnu.so
for src in "$HERE"/cext/*.c; do
  name=$(basename "$src" .c)
  aarch64-linux-gnu-gcc -shared -fPIC -O3 -fno-strict-aliasing $INC "$src" -o "$OUT/payload/edgepbx/dsp/_$name$SUFFIX" -lm
done
for src in "$HERE"/cext/*.cpp; do
  name=$(basename "$src" .cpp)
  aarch64-linux-gnu-g++ -shared -fPIC -O2 $INC "$src" -o "$OUT/payload/edgepbx/dsp/_$name$SUFFIX"
done
file "$OUT"/payload/edgepbx/dsp/*.so | sed "s|$OUT/||" | cut -c1-110
echo "arm64: $(ls "$OUT"/payload/edgepbx/dsp/*.so | wc -l) Cython modules built"
# pjsua2, cross-built once per pjproject key (as the native build)
PJ_KEY=$(cat "$HERE"/firmware/pjsua2/config_site.h "$HERE"/firmware/pjsua2/patches/*.patch "$HERE/firmware/cross/pjsua2-arm64.sh" | sha256sum | cut -c1-12)
if [ ! -f "$OUT/pjsua2-$PJ_KEY/pjsua2.py" ]; then
  bash "$HERE/firmware/cross/pjsua2-arm64.sh" "$HERE/../shared/vendor/pjproject-2.17.tar.gz" \
    6e9b2e0ae40bb6b98bca015abdc549d2f18ab2712c1ff140ac521f95f8c3d953 "$ROOT" "$OUT/pjsua2-$PJ_KEY"
fi
cp "$OUT/pjsua2-$PJ_KEY"/* "$OUT/site/"
file "$OUT/site/_pjsua2.cpython-311-aarch64-linux-gnu.so" | sed "s|$OUT/||" | cut -c1-110
[ "$MODE" = build ] && exit 0
# the tests that need no call stack, and the DSP speed, on aarch64 under qemu-user
run() { PYTHONPATH="$OUT/site:$OUT/payload:$HERE" PYTHONDONTWRITEBYTECODE=1 qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python3.11" "$@"; }
run -c 'import platform, edgepbx.dsp.dtmf as d; print("arm64: python", platform.python_version(), platform.machine(), "imports", d.__file__)'
(cd "$HERE" && run -m pytest -q -p no:cacheprovider ${ARM64_TESTS:-tests/test_dtmf.py tests/test_features.py tests/test_voicekey_parts.py tests/test_voicekey.py tests/test_callerid.py tests/test_progress.py tests/test_access_dsp.py tests/test_store.py tests/test_engine.py tests/test_engine_voice.py tests/test_update.py})
# the arm64 box itself under qemu, called by the host's (x86-64) pjsua2 caller over loopback
box="$OUT/box"; rm -rf "$box"; mkdir -p "$box"
port=$("$PY" -c 'from tests.e2e.support import free_sip_port; print(free_sip_port())')
api=$("$PY" -c 'from tests.e2e.support import free_tcp_port; print(free_tcp_port())')
printf '[sip]\nlisten = "127.0.0.1:%s"\nrtp_port = 24100\n[store]\npath = "%s/box.db"\n[ivr]\nflow = "ecommerce"\nlanguage = "en"\nprompts = "%s/var/prompts"\n[api]\nlisten = "127.0.0.1:%s"\n' \
  "$port" "$box" "$HERE" "$api" > "$box/box.toml"
(cd "$box" && run -m edgepbx run --config "$box/box.toml" > "$box/out.log" 2>&1) &
for _ in $(seq 120); do grep -q ' ready: ' "$box/out.log" 2>/dev/null && break; sleep 0.5; done
grep ' ready: ' "$box/out.log" | sed 's/^/arm64 box: /' || { tail -5 "$box/out.log"; exit 1; }
(cd "$box" && "$PY" -m edgepbx.tools.call "sip:ivr@127.0.0.1:$port" --dtmf 1 --wait 3 --hold 3 --record "$box/heard.wav") | tail -1 | sed 's/^/arm64 call: /'
pkill -f "$box/box.toml" || true
sleep 2
"$PY" -c "import sqlite3,sys; print('arm64 call record:', sqlite3.connect(sys.argv[1]).execute('select outcome, ivr_path from calls').fetchall())" "$box/box.db"
run "$HERE/firmware/cross/dsp_speed.py"
