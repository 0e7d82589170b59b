#!/usr/bin/env bash
# The PostgreSQL tests start a throwaway cluster of their own (initdb and pg_ctl in a
# temp folder, no system service): they need Debian's postgresql package. Install it
# when no initdb is found.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgres: no initdb, and no apt-get to install Debian's postgresql" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "ensure-postgres: installing Debian's postgresql" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >&2
