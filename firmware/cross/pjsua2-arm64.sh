#!/bin/bash
# pjsua2 for arm64 from this x86-64 machine: pjproject with edgepbx's config_site.h and
# patches, configured for aarch64-linux-gnu against the arm64 sysroot's OpenSSL and ALSA,
# then the SWIG wrapper compiled with the cross g++ against the sysroot's Python headers.
# usage: pjsua2-arm64.sh TARBALL SHA256 SYSROOT OUT_DIR   (run by firmware/cross/arm64.sh)
set -euo pipefail
tarball=$(realpath "$1") sha=$2 root=$(realpath "$3") out=$(realpath -m "$4")
here=$(cd "$(dirname "$0")/../pjsua2" && pwd)
echo "$sha  $tarball" | sha256sum --check --quiet
work=$(mktemp -d "${out}.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
cp "$here/config_site.h" "$src/pjlib/include/pj/config_site.h"
for p in "$here"/patches/*.patch; do patch -d "$src" -p1 -s --no-backup-if-mismatch < "$p"; done
# only OpenSSL's and ALSA's headers and libraries from the sysroot (the cross gcc has its own libc)
x="$work/x"; mkdir -p "$x/include" "$x/lib"
cp -r "$root/usr/include/openssl" "$root/usr/include/alsa" "$x/include/"
cp -r "$root/usr/include/aarch64-linux-gnu/openssl/." "$x/include/openssl/"
for lib in libssl libcrypto libasound; do
  cp -L "$root/usr/lib/aarch64-linux-gnu/$lib.so" "$x/lib/" 2>/dev/null || cp -L "$root"/usr/lib/aarch64-linux-gnu/$lib.so.* "$x/lib/$lib.so"
done
cd "$src"
echo "pjsua2-arm64: configuring"
# (a cross build looks for OpenSSL only where --with-ssl points)
CFLAGS="-O2 -fPIC -I$x/include" CXXFLAGS="-O2 -fPIC -I$x/include" LDFLAGS="-L$x/lib -Wl,-rpath-link,$x/lib" \
  ./configure --host=aarch64-linux-gnu --disable-shared --with-ssl="$x" \
    --disable-video --disable-libyuv --disable-libwebrtc --disable-sdl --disable-ffmpeg \
    --disable-v4l2 --disable-openh264 --disable-vpx --disable-opencore-amr --disable-silk \
    --disable-opus --disable-bcg729 --disable-lyra --disable-upnp --disable-ilbc-codec \
    >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; exit 1; }
grep -q '^#define PJ_HAS_SSL_SOCK 1' pjlib/include/pj/compat/os_auto.h || { echo "pjsua2-arm64: no OpenSSL" >&2; exit 1; }
echo "pjsua2-arm64: compiling pjproject"
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }
cd pjsip-apps/src/swig/python
make pjsua2_wrap.cpp >"$work/swig.log" 2>&1 || { tail -n 20 "$work/swig.log" >&2; exit 1; }
cflags=$(make --no-print-directory -f helper.mak cflags)
libs=$(for l in $(make --no-print-directory -f helper.mak libs); do printf -- '-l%s ' "$l"; done)   # names, as setup.py takes them
ldflags=$(make --no-print-directory -f helper.mak ldflags)
echo "pjsua2-arm64: compiling the Python module"
aarch64-linux-gnu-g++ -shared -fPIC -O2 $cflags -I"$root/usr/include/python3.11" -I"$root/usr/include" \
  pjsua2_wrap.cpp -o _pjsua2.cpython-311-aarch64-linux-gnu.so $ldflags -L"$x/lib" -Wl,-rpath-link,"$x/lib" $libs
mkdir -p "$out"
cp _pjsua2.cpython-311-aarch64-linux-gnu.so pjsua2.py "$out/"
echo "pjsua2-arm64: built into $out"
