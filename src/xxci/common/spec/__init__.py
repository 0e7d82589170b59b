"""The pipeline file: its model, loading and validation, discovery and plan.

load_pipeline_text(text, file_name, overrides)  -> Pipeline   (raises SpecError)
load_pipeline_file(path, overrides, display_name) -> Pipeline
discover(repo_root) -> [Path]          .pipelines/*.yml|*.yaml
select(repo_root, file=, pipeline=)    the files a command works on
load_files(paths, overrides) -> [LoadedFile]   with the cross-file name check
plan(pipeline) -> Plan                 stages as waves of parallel jobs
apply_overrides(root, overrides)       --override KEY.PATH=VALUE
"""

from xxci.common.spec.discovery import (
    PIPELINES_DIR,
    LoadedFile,
    diagnostics_of,
    discover,
    load_files,
    select,
)
from xxci.common.spec.durations import format_duration, parse_duration
from xxci.common.spec.loader import (
    display_path,
    load_pipeline_file,
    load_pipeline_text,
    parse_text,
)
from xxci.common.spec.model import (
    DEFAULT_STAGES,
    DEFAULT_TIMEOUT_SECONDS,
    AllowFailure,
    Artifacts,
    ArtifactWhen,
    Job,
    Pipeline,
)
from xxci.common.spec.overrides import Override, apply_overrides, parse_override
from xxci.common.spec.plan import Plan, StagePlan, plan

__all__ = [
    "DEFAULT_STAGES",
    "DEFAULT_TIMEOUT_SECONDS",
    "PIPELINES_DIR",
    "AllowFailure",
    "ArtifactWhen",
    "Artifacts",
    "Job",
    "LoadedFile",
    "Override",
    "Pipeline",
    "Plan",
    "StagePlan",
    "apply_overrides",
    "diagnostics_of",
    "discover",
    "display_path",
    "format_duration",
    "load_files",
    "load_pipeline_file",
    "load_pipeline_text",
    "parse_duration",
    "parse_override",
    "parse_text",
    "plan",
    "select",
]
