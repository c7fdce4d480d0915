#!/usr/bin/env bash
# SafeVet offline installer: run from inside an unpacked bundle on the air-gapped
# workstation. Needs only Python 3.11 (python3.11 on PATH, or SAFEVET_PYTHON=/path).
#   ./install.sh [--prefix DIR] [--home DIR] [--no-export] [--no-models] [--no-doctor]
# All the work is in install.py; see README.md in this folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${SAFEVET_PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && \
       "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      py="$(command -v "$cand")"; break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "install.sh: Python 3.11 not found; install it (e.g. the OS package) or set SAFEVET_PYTHON" >&2
  exit 2
fi
exec "$py" -B "$here/install.py" "$@"
