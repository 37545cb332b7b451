#!/usr/bin/env bash
# Build the pjsua2 Python binding from the pjproject source release, once per key.
#
# usage: build.sh TARBALL SHA256 PYTHON OUT_DIR
# Writes _pjsua2*.so and pjsua2.py into OUT_DIR. Static pjproject libraries with this
# folder's config_site.h (64 call legs, ALSA sound, no video): the PyPI wheel allows only
# 4 call legs and has no sound devices.
set -euo pipefail
tarball=$1 sha=$2 python=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)

echo "pjsua2: checking $tarball"
echo "$sha  $tarball" | sha256sum --check --quiet || {
    echo "pjsua2: SHA-256 mismatch for $tarball (expected $sha)" >&2; exit 1; }

work=$(mktemp -d "${out}.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
cp "$here/config_site.h" "$src/pjlib/include/pj/config_site.h"
# edgepbx's changes to pjproject, each explained at its head (patches/*.patch, -p1 from the top)
for p in "$here"/patches/*.patch; do
    [ -e "$p" ] || continue
    echo "pjsua2: applying $(basename "$p")"
    patch -d "$src" -p1 -s --no-backup-if-mismatch < "$p"
done

cd "$src"
echo "pjsua2: configuring"
CFLAGS="-O2 -fPIC" CXXFLAGS="-O2 -fPIC" ./configure --disable-shared \
    --disable-video --disable-libyuv --disable-libwebrtc --disable-sdl --disable-ffmpeg \
    --disable-v4l2 --disable-openh264 --disable-vpx --disable-opencore-amr --disable-silk \
    --disable-opus --disable-bcg729 --disable-lyra --disable-upnp --disable-ilbc-codec \
    >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; exit 1; }
# SIP over TLS needs OpenSSL (Debian libssl-dev): configure leaves it out quietly when missing.
grep -q '^#define PJ_HAS_SSL_SOCK 1' pjlib/include/pj/compat/os_auto.h || {
    echo "pjsua2: OpenSSL not found by configure (install libssl-dev): SIP over TLS would be missing" >&2; exit 1; }
echo "pjsua2: compiling pjproject (a few minutes)"
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }
echo "pjsua2: building the SWIG Python module"
make -C pjsip-apps/src/swig/python PYTHON_EXE="$python" >"$work/swig.log" 2>&1 \
    || { tail -n 40 "$work/swig.log" >&2; exit 1; }

mkdir -p "$out.new"
find pjsip-apps/src/swig/python/build -name '_pjsua2*.so' -exec cp {} "$out.new/" \;
cp pjsip-apps/src/swig/python/pjsua2.py "$out.new/"
ls "$out.new"/_pjsua2*.so >/dev/null
rm -rf "$out" && mv "$out.new" "$out"
echo "pjsua2: built into $out"
