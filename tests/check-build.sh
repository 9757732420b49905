#!/usr/bin/env bash
# The built collection must carry what users run and nothing of the test bed.
#   tests/check-build.sh dist/oneclick-ai_sandbox-X.Y.Z.tar.gz
set -euo pipefail
tarball=$1
listing=$(tar -tzf "$tarball")
leaked=$(grep -E '^(\./)?(tests/|extensions/molecule/|control_plane/|\.ci/|\.venv|\.build/|Makefile$)' <<<"$listing" || true)
if [ -n "$leaked" ]; then
  echo "$tarball carries test assets:" >&2
  echo "$leaked" >&2
  exit 1
fi
for required in MANIFEST.json FILES.json README.md meta/runtime.yml roles/nvidia_driver/tasks/main.yml \
  roles/docker_gpu/tasks/main.yml plugins/modules/nvidia_gpu_facts.py; do
  grep -qx "\(\./\)\?$required" <<<"$listing" || { echo "$tarball lacks $required" >&2; exit 1; }
done
echo "$tarball: $(wc -l <<<"$listing") entries, no test assets"
