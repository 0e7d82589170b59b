"""The side-by-side benchmark's pipelines: valid for xxci, and the same jobs for every
contender (the bare script's waves follow stages and needs as xxci plans them)."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML
from runner_pipelines import IMAGE, PIPELINES, Pipeline

from xxci.common.spec import load_pipeline_text


@pytest.mark.parametrize("pipeline", PIPELINES.values(), ids=list(PIPELINES))
def test_each_pipeline_is_a_valid_xxci_pipeline_with_the_same_jobs(pipeline: Pipeline) -> None:
    loaded = load_pipeline_text(pipeline.xxci_yaml(), f"{pipeline.name}.yml")
    assert loaded.name == pipeline.name
    assert [(j.name, j.stage, tuple(j.script), tuple(j.needs)) for j in loaded.jobs] == [
        (j.name, j.stage, j.script, j.needs) for j in pipeline.jobs
    ]
    assert {j.image for j in loaded.jobs} == {IMAGE}


@pytest.mark.parametrize("pipeline", PIPELINES.values(), ids=list(PIPELINES))
def test_the_gitlab_file_holds_the_same_jobs(pipeline: Pipeline) -> None:
    doc = YAML(typ="safe").load(pipeline.gitlab_yaml())
    assert doc.pop("stages") == list(pipeline.stages)
    assert doc.pop("image") == IMAGE
    assert doc == {
        j.name: {"stage": j.stage, "script": list(j.script)}
        | ({"needs": list(j.needs)} if j.needs else {})
        for j in pipeline.jobs
    }


def test_waves_follow_stages_and_needs() -> None:
    sizes = {name: [len(w) for w in p.waves()] for name, p in PIPELINES.items()}
    assert sizes == {
        "stages4x5": [5, 5, 5, 5],
        "stage1x20": [20],
        "chain10": [1] * 10,
        "one3": [1],
    }
    chain = PIPELINES["chain10"].waves()
    assert [w[0].name for w in chain] == [f"c{i}" for i in range(10)]
    plan = json.loads(PIPELINES["one3"].bare_plan())
    assert plan == {"image": IMAGE, "waves": [["echo hello; true; echo bye"]]}
