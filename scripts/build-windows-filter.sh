#!/usr/bin/env bash
# build-windows-filter.sh - cross-build pwgate's LSA password filter for
# Windows domain controllers (windows/filter/pwgate_filter.dll) and its test
# program (windows/test/filter_test.exe) with mingw-w64 on Linux.
#
# Usage: scripts/build-windows-filter.sh [OUTDIR]   (default: target/windows)
#
# Needs x86_64-w64-mingw32-gcc (Debian: gcc-mingw-w64-x86-64, installed by
# scripts/install-deps.sh). Both are 64-bit (LSASS on a 64-bit DC loads
# 64-bit packages only), statically linked with libgcc, and import only
# system DLLs: kernel32, advapi32, winhttp, crypt32 and msvcrt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-"$ROOT/target/windows"}
cc=${CC_MINGW:-x86_64-w64-mingw32-gcc}
command -v "$cc" >/dev/null 2>&1 || {
  echo "build-windows-filter.sh: $cc not found (run scripts/install-deps.sh)" >&2
  exit 1
}
mkdir -p -- "$out"

flags=(-O2 -Wall -Wextra -Werror -std=c11 -municode -D_WIN32_WINNT=0x0601
  -DUNICODE -D_UNICODE -static-libgcc -s)

"$cc" "${flags[@]}" -shared -o "$out/pwgate_filter.dll" \
  "$ROOT/windows/filter/pwgate_filter.c" "$ROOT/windows/filter/pwgate_filter.def" \
  -lwinhttp -lcrypt32 -ladvapi32
"$cc" "${flags[@]}" -o "$out/filter_test.exe" "$ROOT/windows/test/filter_test.c" \
  -lcrypt32 -ladvapi32

echo "build-windows-filter.sh: built $out/pwgate_filter.dll and $out/filter_test.exe"
