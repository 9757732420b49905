#!/usr/bin/env bash
# Print the path of a Python interpreter of a given minor version (3.12, 3.10, ...): from PATH,
# else from pyenv. Used by the Makefile so that no machine path is written into the project.
#   tests/find-python.sh 3.12 [3.13 ...]    # the first version found wins
set -euo pipefail
for version in "$@"; do
  # A pyenv shim can be on PATH for a version pyenv will not run here: try it before trusting it.
  if command -v "python$version" >/dev/null 2>&1 && "python$version" -c 'import sys' >/dev/null 2>&1; then
    command -v "python$version"
    exit 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for prefix in $(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}(\.[0-9]+)?$" | sort -V -r); do
      candidate="$(pyenv root)/versions/$prefix/bin/python$version"
      if [ -x "$candidate" ]; then
        echo "$candidate"
        exit 0
      fi
    done
  fi
done
echo "no Python $* found on PATH or through pyenv; install one (e.g. 'pyenv install $1')" >&2
exit 1
