#!/usr/bin/env bash
# Examples.DockerComposeIsValidYaml: examples/docker-compose.yml parses as YAML and has the shape
# its comments describe: one service, a non-root user, /etc/secrets/app bind-mounted read-only
# at /run/secrets with rslave propagation; and the comments give the Podman line. Where Docker's
# compose plugin is installed, `docker compose config` must accept the file too.
#   docker_compose_test.sh SECRETFS_BINARY SOURCE_DIR
set -euo pipefail
file=$2/examples/docker-compose.yml

skip() { echo "SKIP: $*"; exit 77; }
command -v python3 >/dev/null || skip "python3 is not installed"
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no yaml module (apt install python3-yaml)"

python3 - "$file" <<'PY'
import sys, yaml

with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)

want(isinstance(doc, dict) and isinstance(doc.get("services"), dict), "a services: mapping")
services = (doc or {}).get("services") or {}
want(len(services) == 1, "exactly one service")
for name, svc in services.items():
    user = str(svc.get("user", ""))
    want(user and user.split(":")[0] not in ("0", "root"), f"{name}: a user: that is not root")
    vols = [v for v in svc.get("volumes", []) if isinstance(v, dict)]
    bind = [v for v in vols if v.get("target") == "/run/secrets"]
    want(len(bind) == 1, f"{name}: one volume with target /run/secrets (long syntax)")
    for v in bind:
        want(v.get("type") == "bind", f"{name}: type: bind")
        want(v.get("source") == "/etc/secrets/app", f"{name}: source: /etc/secrets/app")
        want(v.get("read_only") is True, f"{name}: read_only: true")
        want((v.get("bind") or {}).get("propagation") == "rslave", f"{name}: propagation: rslave")
        want((v.get("bind") or {}).get("create_host_path") is False,
             f"{name}: create_host_path: false")
if problems:
    print("FAIL: docker-compose.yml lacks: " + "; ".join(problems))
    sys.exit(1)
print("ok: valid YAML:", ", ".join(f"service {n}" for n in services))
PY

if ! grep -Eq '^#.*podman run --rm .*-v /etc/secrets/app:/run/secrets:ro,rslave' "$file" &&
  ! grep -Eq '^# +-v /etc/secrets/app:/run/secrets:ro,rslave' "$file"; then
  echo "FAIL: no Podman line with -v /etc/secrets/app:/run/secrets:ro,rslave in the comments"
  exit 1
fi
echo "ok: the comments give the Podman line"

if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  docker compose -f "$file" config --quiet
  echo "ok: docker compose config accepts it"
else
  echo "(docker compose is not installed: its own check is left out)"
fi
echo "PASS"
