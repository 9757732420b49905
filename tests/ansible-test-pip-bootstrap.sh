#!/usr/bin/env bash
# ansible-test bootstraps pip into each test venv with a get-pip script fetched from a host that CI
# cannot reach, unless the script is already in its cache (~/.ansible/test/cache/get_pip_<ver>.py;
# the path its own error message names). Put our own there: it runs pip from the pip wheel that
# PyPI serves, which is what get-pip does with the copy of pip it embeds.
#   tests/ansible-test-pip-bootstrap.sh PYTHON    # the Python that runs ansible-test
set -euo pipefail
python=$1
cache=$HOME/.ansible/test/cache

# The pip version this ansible-test pins for its venvs.
version=$("$python" - <<'PY'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
match = re.search(r"pip='([0-9.]+)'", source.read_text())
if not match:
    raise SystemExit("cannot find the pip version ansible-test pins in %s" % source)
print(match.group(1))
PY
)
script=$cache/get_pip_${version//./_}.py
stamp="oneclick.ai_sandbox bootstrap v2"
[ -f "$script" ] && grep -q "$stamp" "$script" && exit 0
mkdir -p "$cache"
"$python" -m pip download -q --no-deps --only-binary :all: "pip==$version" -d "$cache"
cat > "$script" <<PY
# $stamp (tests/ansible-test-pip-bootstrap.sh): stands in for get-pip.py.
import glob, os, sys
wheel = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-$version-*.whl")))[-1]
sys.path.insert(0, wheel)
from pip._internal.cli.main import main
# get-pip's arguments are 'pip install' arguments, plus its own switches against extra packages.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--find-links", os.path.dirname(wheel)] + args))
PY
echo "ansible-test pip $version bootstrap: $script"
