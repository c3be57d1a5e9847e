#!/bin/sh
# pkg_config.sh LIBDIR MAIN_C OUT CC [FLAGS...] -- builds MAIN_C with the flags
# `pkg-config autograd_c` gives for the prefix installed under LIBDIR, and runs it.
# Exit 77 (skipped) when pkg-config is not installed.
set -u
LIBDIR=$1 MAIN=$2 OUT=$3 CC=$4
shift 4
if ! command -v pkg-config >/dev/null 2>&1; then
  echo "pkg-config not found (apt-get install -y pkg-config): skipped"
  exit 77
fi
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
pkg-config --exists --print-errors autograd_c || exit 1
echo "autograd_c $(pkg-config --modversion autograd_c): $(pkg-config --cflags --libs autograd_c)"
# shellcheck disable=SC2046
"$CC" "$@" $(pkg-config --cflags autograd_c) "$MAIN" -o "$OUT" $(pkg-config --libs autograd_c) || exit 1
LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$OUT"
