#!/usr/bin/env bash
# Create (or refresh) the Python venv holding pyas2lib 1.4.4, used as an AS2
# interop peer by the integration tests. Idempotent and non-interactive.
#
#   tests/pyas2lib/setup.sh            -> venv at <repo>/target/pyas2lib-venv
#   AS2_PEER_VENV=/some/dir setup.sh   -> venv there
#
# The last line printed is the absolute path of the venv's python.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${AS2_PEER_VENV:-$repo/target/pyas2lib-venv}"
py="$venv/bin/python"
req="$here/requirements.txt"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if [ ! -x "$py" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
fi

# Only hit the registry when the pinned set is not already installed.
if ! "$py" - "$req" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, ver = line.split("==")
    if metadata.version(name) != ver:
        sys.exit(1)
PYEOF
then
    "$py" -m pip install --quiet --no-deps -r "$req" >&2
    "$py" -m pip check >&2
fi

# oscrypto 1.3.0 cannot parse "OpenSSL 3.0.10+" (two-digit patch number):
# widen its version regex. The replacement no longer matches, so re-running
# is a no-op.
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for f in "$site/oscrypto/_openssl/_libcrypto_cffi.py" \
         "$site/oscrypto/_openssl/_libcrypto_ctypes.py"; do
    sed -i 's/\\\\d\\\\.\\\\d\\\\.\\\\d\[a-z\]/\\\\d+\\\\.\\\\d+\\\\.\\\\d+[a-z]/' "$f"
    rm -rf "$site/oscrypto/_openssl/__pycache__"
done

"$py" -c 'import pyas2lib, pyas2lib.as2, oscrypto.asymmetric' >&2
echo "$py"
