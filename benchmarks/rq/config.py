"""The YAML that drives one research question: data, sample, seed, systems, aggregators, models.

    rq: RQ1
    title: Is aggregating different pipelines effective?
    include: common.yaml            # shared components; same spec -> same cache keys
    seed: 13
    components: {...}               # nyx.ensemble.config components (pipelines, generators, ...)
    tasks:
      - name: squad
        dataset: squad-dev          # nyx.benchmarks.datasets name (easy-vqa-qa: captioned images)
        limit: 30                   # questions, sampled with the seed
        systems: [sequential, iter_retgen]        # the single systems that get aggregated
        baselines: [closed_book]    # shown, never aggregated nor counted as "best single"
        aggregators:                # answer-level aggregators over all `systems`
          majority_vote: {type: majority_vote}
        combined: [seq_voting]      # module-level aggregates: systems built with a fused module
        scaling: {aggregators: [majority_vote], metric: f1}        # RQ3
        preference: {aggregators: [majority_vote], map_aggregator: majority_vote}  # RQ4
        retrieval: {singles: {bm25: bm25}, fused: {rrf: rrf}, ks: [1, 5]}  # RQ6 / RQ7
    api: {url: null, model: null, key_env: OPENAI_API_KEY}       # RQ2: fills ${api_*}

Strings ``${api_url}``, ``${api_model}`` and ``${api_key_env}`` inside components are replaced
by the ``api`` section (or ``--api-url`` / ``--api-model``); a config with an ``api`` section
and no endpoint is reported as not run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nyx.dataclass_config import from_mapping, read_mapping

logger = logging.getLogger(__name__)

__all__ = ["CONFIG_DIR", "RQ_NAMES", "RQ_TYPES", "ApiSpec", "PreferenceSpec", "RQConfig",
           "RetrievalSpec", "ScalingSpec", "TaskSpec", "config_path", "load_rq_config",
           "registered_types", "rq_types"]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "rq"
RQ_NAMES: tuple[str, ...] = tuple(f"RQ{n}" for n in range(1, 8))
METRICS = ("exact_match", "f1", "contains")


@dataclass
class ScalingSpec:
    """RQ3: score vs the number of aggregated systems, over all combinations of k of them."""

    aggregators: list[str]
    metric: str = "f1"


@dataclass
class PreferenceSpec:
    """RQ4: how often each aggregator's answer agrees with each system; an answer map."""

    aggregators: list[str] = field(default_factory=list)
    map_aggregator: str | None = None
    embed: bool = True


@dataclass
class RetrievalSpec:
    """RQ6 / RQ7: ranking quality of retriever components (name in the report -> component)."""

    singles: dict[str, str]
    fused: dict[str, str]
    baselines: dict[str, str] = field(default_factory=dict)
    ks: list[int] = field(default_factory=lambda: [1, 2, 5, 10])


@dataclass
class TaskSpec:
    """One data set within a research question, and what runs on it."""

    name: str
    systems: list[str]
    dataset: str = "squad-dev"
    limit: int = 30
    baselines: list[str] = field(default_factory=list)
    aggregators: dict[str, dict[str, Any]] = field(default_factory=dict)
    combined: list[str] = field(default_factory=list)
    #: components replaced for this task only (e.g. another retriever for image captions)
    components: dict[str, Any] = field(default_factory=dict)
    scaling: ScalingSpec | None = None
    preference: PreferenceSpec | None = None
    retrieval: RetrievalSpec | None = None

    def __post_init__(self) -> None:
        where = f"task {self.name!r}"
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"{where}: limit must be a positive integer, got {self.limit!r}")

    def component_names(self) -> list[str]:
        """Every component the task refers to by name."""
        names = [*self.systems, *self.baselines, *self.combined]
        if self.retrieval is not None:
            for group in (self.retrieval.baselines, self.retrieval.singles, self.retrieval.fused):
                names += list(group.values())
        return names


@dataclass
class ApiSpec:
    """An OpenAI-compatible endpoint (RQ2). The key is read from the ``key_env`` variable."""

    url: str | None = None
    model: str | None = None
    key_env: str = "OPENAI_API_KEY"

    @property
    def configured(self) -> bool:
        return bool(self.url and self.model)


@dataclass
class RQConfig:
    """A research question's complete settings (what the JSON report records)."""

    rq: str
    title: str
    tasks: list[TaskSpec]
    components: dict[str, Any] = field(default_factory=dict)
    level: str = "pipeline"
    seed: int = 13
    api: ApiSpec | None = None
    notes: str = ""
    path: str = ""

    def with_overrides(self, *, limit: int | None = None, seed: int | None = None,
                       api_url: str | None = None, api_model: str | None = None,
                       api_key_env: str | None = None,
                       tasks: Sequence[str] | None = None) -> RQConfig:
        """A copy with the command line's ``--limit``, ``--seed``, ``--api-*`` and ``--tasks``
        (only these tasks, in the config's order) applied."""
        picked = self.tasks
        if tasks:
            names = [t.name for t in self.tasks]
            unknown = [n for n in tasks if n not in names]
            if unknown:
                raise ValueError(f"{self.rq} has no task {unknown[0]!r}; its tasks are "
                                 f"{', '.join(names)}")
            picked = [t for t in self.tasks if t.name in tasks]
        tasks_out = [dataclasses.replace(t, limit=limit) if limit else t for t in picked]
        api = self.api
        if api is not None:
            api = ApiSpec(api_url or api.url, api_model or api.model, api_key_env or api.key_env)
        return dataclasses.replace(self, tasks=tasks_out, api=api,
                                   seed=self.seed if seed is None else seed)

    def resolved_components(self, task: TaskSpec | None = None) -> dict[str, Any]:
        """The components (with ``task``'s replacements) and ``${api_*}`` placeholders filled
        from :attr:`api`."""
        components = {**self.components, **(task.components if task else {})}
        if self.api is None:
            return components
        values = {"${api_url}": self.api.url or "", "${api_model}": self.api.model or "",
                  "${api_key_env}": self.api.key_env}
        return _substitute(components, values)

    def validate(self) -> None:
        """Raise ValueError naming the first dangling reference or unknown aggregator type."""
        types = set(registered_types())
        if self.rq not in RQ_NAMES:
            raise ValueError(f"rq must be one of {RQ_NAMES}, got {self.rq!r}")
        for task in self.tasks:
            where = f"{self.rq} task {task.name!r}"
            known = {**self.components, **task.components}
            missing = [n for n in task.component_names() if n not in known]
            if missing:
                raise ValueError(f"{where} names components not defined: {missing}")
            if not task.systems:
                raise ValueError(f"{where} lists no systems")
            for name, spec in task.aggregators.items():
                if not isinstance(spec, Mapping) or spec.get("type") not in types:
                    raise ValueError(f"{where}: aggregator {name!r} needs a known type, got "
                                     f"{spec!r}")
            for spec in (task.scaling, task.preference):
                unknown = [a for a in (spec.aggregators if spec else [])
                           if a not in task.aggregators]
                if unknown:
                    raise ValueError(f"{where}: aggregators {unknown} are not under "
                                     "`aggregators:`")
            if task.scaling is not None and task.scaling.metric not in METRICS:
                raise ValueError(f"{where}: scaling metric must be one of {METRICS}")
        specs = [*self.components.items(), *(i for t in self.tasks for i in t.components.items())]
        for name, spec in specs:
            if isinstance(spec, Mapping) and spec.get("type") not in types:
                raise ValueError(f"{self.rq}: component {name!r} has unknown type "
                                 f"{spec.get('type')!r}; known: {sorted(types)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The component types the RQ configs add to the ensemble's (passed to its builder as types=).
RQ_TYPES: dict[str, str] = {
    "packaged_lm": "nyx.benchmarks.rq.models:PackagedLM",
    "nyx_cached": "nyx.benchmarks.rq.retrievers:CachedNyxRetriever",
}


def rq_types() -> dict[str, type]:
    """:data:`RQ_TYPES` as classes (imported on use)."""
    from nyx.ensemble.registry import component_class

    return {name: component_class(target) for name, target in RQ_TYPES.items()}


def registered_types() -> list[str]:
    """Every ``type:`` an RQ config can name: the ensemble's and :data:`RQ_TYPES`."""
    from nyx.ensemble.registry import COMPONENT_TYPES

    return sorted({*COMPONENT_TYPES, *RQ_TYPES})


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in values.items():
            value = value.replace(key, replacement)
        return value
    if isinstance(value, Mapping):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML document with its ``include:`` files merged underneath it (components merge)."""
    if path in seen:
        raise ValueError(f"config include cycle: {' -> '.join(map(str, (*seen, path)))}")
    data = read_mapping(path)
    include = data.pop("include", None)
    if include is None:
        return data
    base = _read(path.parent / include, (*seen, path))
    components = {**base.get("components", {}), **data.get("components", {})}
    return {**base, **data, "components": components}


def config_path(rq: str, config_dir: str | Path | None = None) -> Path:
    """``<config_dir>/<RQn>.yaml`` for a research question name (case-insensitive)."""
    name = rq.upper()
    if name not in RQ_NAMES:
        raise ValueError(f"unknown research question {rq!r}; use one of {', '.join(RQ_NAMES)}")
    return Path(config_dir or CONFIG_DIR) / f"{name}.yaml"


def load_rq_config(source: str | Path) -> RQConfig:
    """Read and check an RQ config (a path to YAML, or ``RQ1``..``RQ7`` for the shipped one)."""
    text = str(source)
    path = config_path(text) if text.upper() in RQ_NAMES else Path(text)
    data = _read(path)
    if "path" in data:
        raise ValueError(f"{path}: 'path' is where the config was read from, not a setting")
    if not data.get("tasks"):
        raise ValueError(f"{path} lists no tasks")
    config = from_mapping(RQConfig, {**data, "path": str(path)}, str(path))
    config.validate()
    logger.debug("loaded %s from %s", config.rq, path)
    return config
