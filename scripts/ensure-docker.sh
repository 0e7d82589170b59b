#!/usr/bin/env bash
# Make sure a Docker engine answers, starting (and if need be installing) one.
#
# Idempotent: if `docker info` answers (DOCKER_HOST is honoured), exit 0 at once.
# Otherwise, as root on Debian: install docker.io if dockerd is missing, clear stale pid
# files left by an engine that died, start dockerd in the background (its own session, so
# it outlives this script and the make/CI step that ran it) and wait for it to answer.
#
# dockerd runs with its default flags. On the CI sandbox (Debian 12, kernel with overlay
# and iptables available, cgroup v1) the defaults work as is: overlay2 storage, the
# default bridge and iptables rules. Extra flags would only take networking away from
# real users' jobs, so none are added; set XXCI_DOCKERD_FLAGS to pass some
# (e.g. "--iptables=false --bridge=none" where the kernel has no netfilter).
#
# Environment: DOCKER_HOST (engine to check), XXCI_DOCKERD_LOG (default
# /var/log/xxci-dockerd.log), XXCI_DOCKER_WAIT (seconds, default 60), XXCI_DOCKERD_FLAGS.
set -euo pipefail

log_file=${XXCI_DOCKERD_LOG:-/var/log/xxci-dockerd.log}
wait_seconds=${XXCI_DOCKER_WAIT:-60}

say() { echo "ensure-docker: $*" >&2; }

engine_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# Whether process $1 runs and is named $2 (any name if empty). A zombie counts as gone: where PID 1 does not
# reap (as in some sandboxes) a killed dockerd lingers as one, /proc still naming it.
alive() {
    local pid=$1 expected=$2 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # Fields: pid (comm) state ... ; comm may hold spaces, so split at the last ')'.
    [[ -z $expected ]] || [[ ${stat#*(} == "$expected)"* ]] || return 1
    case ${stat##*) } in Z* | X* | x*) return 1 ;; esac
}

pid_in() { if [[ -r $1 ]]; then tr -dc '0-9' <"$1"; fi; }

# A pid file naming a process that is gone (or is not the daemon) blocks a restart:
# dockerd refuses to start while /var/run/docker.pid exists, and its containerd
# does the same with its own pid file.
clear_stale_pid() {
    local pid_file=$1 expected=$2 pid
    [[ -f $pid_file ]] || return 0
    pid=$(pid_in "$pid_file")
    alive "$pid" "$expected" && return 0
    say "removing stale $pid_file (pid '${pid}' is not a running $expected)"
    rm -f "$pid_file"
}

if engine_answers; then
    exit 0
fi

if [[ -n ${DOCKER_HOST:-} ]] && [[ ${DOCKER_HOST} != unix:///var/run/docker.sock ]]; then
    say "DOCKER_HOST=${DOCKER_HOST} does not answer; not starting a local engine for it"
    exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
    say "no Docker engine answers and starting one needs root (run as root or start Docker)"
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    say "dockerd not found: installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! command -v docker >/dev/null 2>&1; then
    say "the docker CLI is missing even after installing docker.io"
    exit 1
fi

start_dockerd() {
    clear_stale_pid /var/run/docker.pid dockerd
    clear_stale_pid /var/run/docker/containerd/containerd.pid containerd
    say "starting dockerd (log: $log_file)"
    mkdir -p "$(dirname "$log_file")"
    # setsid + nohup: own session and no SIGHUP, so the daemon survives the shell, the
    # make process and the CI step that started it. Output goes to the log, stdin is
    # closed so the caller's pipes are not held open.
    # shellcheck disable=SC2086 # XXCI_DOCKERD_FLAGS is a list of flags on purpose
    setsid nohup dockerd ${XXCI_DOCKERD_FLAGS:-} >>"$log_file" 2>&1 </dev/null &
    started_pid=$!
}

fail() {
    say "$1; last lines of $log_file:"
    tail -n 30 "$log_file" >&2 || true
    exit 1
}

started_pid=""
deadline=$((SECONDS + wait_seconds))
until engine_answers; do
    if [[ -n $started_pid ]]; then
        # Ours is starting: $! until it has exec'd and written its pid file.
        alive "$(pid_in /var/run/docker.pid)" dockerd || alive "$started_pid" "" ||
            fail "dockerd exited before it answered"
    elif ! alive "$(pid_in /var/run/docker.pid)" dockerd; then
        start_dockerd
    elif [[ -z ${waiting_said:-} ]]; then
        # A daemon runs but does not answer yet (still starting, or wedged): wait for
        # it rather than start a second one.
        say "dockerd (pid $(pid_in /var/run/docker.pid)) is running; waiting for it to answer"
        waiting_said=1
    fi
    ((SECONDS < deadline)) || fail "the Docker engine did not answer within ${wait_seconds}s"
    sleep 0.5
done
say "Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
