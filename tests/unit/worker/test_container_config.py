"""What a job's container is made of, built without Docker."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from xxci.worker.docker.container_config import (
    INLINE_SCRIPT_BYTES,
    container_config,
    container_name,
    script_file,
    secret_files,
)
from xxci.worker.docker.script import render_wrapper
from xxci.worker.executor import Assignment

NONCE = "0123456789abcdef0123456789abcdef"
JOB = Assignment(
    run_id="r-7",
    job="unit tests",
    attempt=2,
    stage="test",
    image="python:3.12-slim",
    script=("make test",),
    variables={"CI": "true", "A": "x=y"},
)


WRAPPER = render_wrapper(JOB.script, NONCE)


def test_the_config_runs_the_script_under_init_with_the_job_environment() -> None:
    config = container_config(JOB, host="ci-1", pid=4242, wrapper=WRAPPER)
    assert config["Image"] == "python:3.12-slim"
    assert config["Entrypoint"] == ["/bin/sh", "-c", WRAPPER]
    assert config["Cmd"] == []
    assert config["WorkingDir"] == "/workspace"
    assert config["Env"] == ["CI=true", "A=x=y", "TINI_KILL_PROCESS_GROUP=1"]
    assert config["HostConfig"] == {"Init": True}
    assert (config["Tty"], config["OpenStdin"], config["AttachStdin"]) == (False, False, False)
    assert (config["AttachStdout"], config["AttachStderr"]) == (True, True)


def test_the_labels_name_the_attempt_and_the_worker_process() -> None:
    assert container_config(JOB, host="ci-1", pid=4242, wrapper=WRAPPER)["Labels"] == {
        "xxci.run": "r-7",
        "xxci.job": "unit tests",
        "xxci.attempt": "2",
        "xxci.worker.host": "ci-1",
        "xxci.worker.pid": "4242",
    }


def test_container_names_are_safe_bounded_and_unique_per_nonce() -> None:
    assert container_name(JOB, NONCE) == "xxci-r-7-unit_tests-2-01234567"
    long = Assignment("r" * 300, "j", 1, "s", "img", ("true",))
    name = container_name(long, NONCE)
    assert len(name) <= 120 and name.endswith("-01234567")
    assert container_name(JOB, "fedcba9876543210") != container_name(JOB, NONCE)


def test_a_script_is_inline_up_to_the_limit_and_a_private_file_past_it() -> None:
    assert script_file(WRAPPER) is None
    at_limit = "x" * INLINE_SCRIPT_BYTES
    assert script_file(at_limit) is None
    assert container_config(JOB, "h", 1, at_limit)["Entrypoint"] == ["/bin/sh", "-c", at_limit]
    long = "é" * (INLINE_SCRIPT_BYTES // 2 + 1)  # the limit counts bytes, not characters
    assert script_file(long) == ("/.xxci/run.sh", long.encode())
    assert container_config(JOB, "h", 1, long)["Entrypoint"] == ["/bin/sh", "/.xxci/run.sh"]


def test_an_entrypoint_runs_the_script_as_its_command_as_gitlab_does() -> None:
    program = ["/bin/sh", "-c", WRAPPER]
    named = replace(JOB, entrypoint=("/bin/sh", "-c", 'echo entry; exec "$@"', "--"))
    config = container_config(named, host="h", pid=1, wrapper=WRAPPER)
    assert (config["Entrypoint"], config["Cmd"]) == (list(named.entrypoint), program)
    own = container_config(replace(JOB, image_entrypoint=True), host="h", pid=1, wrapper=WRAPPER)
    assert "Entrypoint" not in own  # the engine runs the image's own
    assert own["Cmd"] == program
    for blank in ((), ("",)):
        config = container_config(replace(JOB, entrypoint=blank), host="h", pid=1, wrapper=WRAPPER)
        assert (config["Entrypoint"], config["Cmd"]) == (program, [])


def test_a_gitlab_job_runs_in_bash_when_there_is_one() -> None:
    # The command line itself, run by this machine's shells (which have bash).
    wrapper = 'echo "shell=${BASH:-none}"; [[ -n "$0" ]] && echo "a bash test"'
    config = container_config(replace(JOB, prefer_bash=True), host="h", pid=1, wrapper=wrapper)
    ran = subprocess.run(config["Entrypoint"], capture_output=True, text=True, check=True)
    shell, test = ran.stdout.splitlines()
    assert shell in ("shell=/usr/local/bin/bash", "shell=/usr/bin/bash", "shell=/bin/bash")
    assert test == "a bash test"
    plain = container_config(JOB, host="h", pid=1, wrapper=wrapper)
    assert plain["Entrypoint"] == ["/bin/sh", "-c", wrapper]
    long = "#" * (INLINE_SCRIPT_BYTES + 1)
    config = container_config(replace(JOB, prefer_bash=True), host="h", pid=1, wrapper=long)
    assert config["Entrypoint"][:2] == ["/bin/sh", "-c"]
    assert (
        'exec "$__xxci_sh" /.xxci/run.sh; fi; done; exec /bin/sh /.xxci/run.sh'
        in (config["Entrypoint"][2])
    )


def test_secrets_are_in_the_environment_or_in_files_made_in_memory() -> None:
    from xxci.common.job_extras import GivenSecret

    job = Assignment(
        run_id="r",
        job="j",
        attempt=1,
        stage="s",
        image="i",
        script=("x",),
        variables={"TOKEN": "from-variables", "A": "1"},
        secrets=(
            GivenSecret("TOKEN", "TOKEN", b"s3cret-token"),
            GivenSecret("kube", "KUBECONFIG", b"apiVersion: v1\n", file=True),
        ),
    )
    config = container_config(job, host="h", pid=1, wrapper=WRAPPER, network="net-1")
    assert config["Env"][:3] == [
        "TOKEN=s3cret-token",
        "A=1",
        "KUBECONFIG=/.xxci-secrets/KUBECONFIG",
    ]
    assert config["HostConfig"] == {"Init": True, "NetworkMode": "net-1"}
    assert secret_files(job) == (("/.xxci-secrets/KUBECONFIG", b"apiVersion: v1\n"),)
    assert "s3cret-token" not in repr(job.secrets)


def test_services_join_the_network_with_their_aliases_and_the_job_variables() -> None:
    from xxci.common.spec.services_cache import Service
    from xxci.worker.docker.service_config import service_config, service_names

    db = Service("postgres:16", ("postgres", "db"), variables={"POSTGRES_DB": "app"})
    plain = Service("redis:7", ("redis",), command=("redis-server", "--save", ""))
    assert service_names([db, plain, plain]) == ["db", "redis", "redis-2"]
    config = service_config(JOB, db, "db", "net-1", "h", 7)
    assert config["Image"] == "postgres:16"
    assert config["Env"] == ["CI=true", "A=x=y", "POSTGRES_DB=app"]
    assert config["NetworkingConfig"] == {
        "EndpointsConfig": {"net-1": {"Aliases": ["postgres", "db"]}}
    }
    assert config["Labels"]["xxci.service"] == "db"
    assert config["Labels"]["xxci.worker.pid"] == "7"
    assert "Cmd" not in config and "Entrypoint" not in config
    assert service_config(JOB, plain, "redis", "n", "h", 7)["Cmd"] == ["redis-server", "--save", ""]
