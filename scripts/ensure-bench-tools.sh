#!/usr/bin/env bash
# What benchmarks/compare_runners.py needs besides xxci, installed without a container
# registry: gitlab-ci-local (the npm package pinned in benchmarks/gitlab-ci-local/,
# installed there with `npm ci`), the rsync it calls, and its helper image
# firecow/gitlab-ci-local-util:latest, which only needs a shell and coreutils: the
# local test image is tagged under that name when the engine has no such image.
#
# Idempotent. Installs Debian's rsync, nodejs and npm with apt when they are missing.
# Needs a running engine and the test image (make docker).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
package=$here/benchmarks/gitlab-ci-local
test_image=${XXCI_TEST_IMAGE:-xxci-test/busybox:latest}
helper_image=firecow/gitlab-ci-local-util:latest

say() { echo "ensure-bench-tools: $*" >&2; }

missing=()
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The lock is the pin: reinstall only when it is newer than what is installed.
installed=$package/node_modules/.package-lock.json
if [[ ! -x $package/node_modules/.bin/gitlab-ci-local ]] || [[ $package/package-lock.json -nt $installed ]]; then
    say "installing gitlab-ci-local $(sed -n 's/.*"gitlab-ci-local": "\(.*\)".*/\1/p' "$package/package.json" | head -n1)"
    npm ci --prefix "$package" --no-audit --no-fund --loglevel=error
fi

if ! docker image inspect "$helper_image" >/dev/null 2>&1; then
    say "tagging $test_image as $helper_image"
    docker tag "$test_image" "$helper_image"
fi
