"""Build pipelines, ensembles and their modules from dicts / YAML, and write them back.

A config is either one component spec (a dict with a ``type``) or a document::

    cache: runs/cache.sqlite            # optional on-disk call cache shared by all modules
    components:                         # named, shared components (built once)
      llm: {type: transformers, model: smollm2-135m-instruct}
      bm25: {type: bm25, corpus: squad}  # "squad" is a resource the caller passes in
    pipeline:
      type: ensemble
      systems:
        - {type: sequential, generator: llm, retriever: bm25}
        - {type: iter_retgen, generator: llm, retriever: bm25}
      aggregator: {type: majority_vote}

A string where a component is expected names a component (or a resource given to
:func:`build`). :func:`to_config` writes any object back; components used more than once are
written once under ``components`` so that the reloaded object shares them too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from nyx.ensemble.cache import DiskCache

logger = logging.getLogger(__name__)

__all__ = ["ConfigBuilder", "ConfigWriter", "Configurable", "available_types", "build",
           "load_config", "register", "save_config", "to_config"]

_REGISTRY: dict[str, type[Configurable]] = {}


def register(name: str):
    """Class decorator: make ``{type: name}`` build this class."""

    def decorate(cls: type[Configurable]) -> type[Configurable]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"config type {name!r} is registered twice")
        cls.config_type = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available_types() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def _import_all() -> None:
    # The registry fills as modules are imported; importing the package imports them all.
    import nyx.ensemble  # noqa: F401


class Configurable:
    """A component that can be written as a dict and rebuilt from one.

    ``config_fields`` are plain values stored as attributes of the same name;
    ``component_fields`` hold other components (or lists of them).
    """

    config_type: ClassVar[str] = ""
    config_fields: ClassVar[tuple[str, ...]] = ()
    component_fields: ClassVar[tuple[str, ...]] = ()
    config_name: str | None = None

    def to_config(self, writer: ConfigWriter | None = None) -> dict[str, Any]:
        writer = writer or ConfigWriter()
        out: dict[str, Any] = {"type": self.config_type}
        for name in self.config_fields:
            out[name] = _plain(getattr(self, name))
        for name in self.component_fields:
            out[name] = writer.ref(getattr(self, name))
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any], builder: ConfigBuilder) -> Configurable:
        kwargs: dict[str, Any] = {}
        for key, value in config.items():
            if key == "type":
                continue
            if key in cls.component_fields:
                kwargs[key] = builder.build(value)
            elif key in cls.config_fields:
                kwargs[key] = value
            else:
                known = sorted({*cls.config_fields, *cls.component_fields})
                raise ValueError(f"unknown field {key!r} for type {cls.config_type!r}; "
                                 f"expected one of {known}")
        return cls(**kwargs)

    def children(self) -> list[Configurable]:
        found: list[Configurable] = []
        for name in self.component_fields:
            value = getattr(self, name)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, Configurable):
                    found.append(v)
        return found


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class ConfigBuilder:
    """Builds components from specs, resolving names against ``components`` then ``resources``."""

    def __init__(self, components: Mapping[str, Any] | None = None,
                 resources: Mapping[str, Any] | None = None,
                 cache: DiskCache | str | os.PathLike[str] | None = None) -> None:
        _import_all()
        self.specs = dict(components or {})
        self.resources = dict(resources or {})
        self.cache = DiskCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.built: dict[str, Any] = {}
        self._building: list[str] = []

    def build(self, spec: Any) -> Any:
        if spec is None or not isinstance(spec, (str, list, Mapping)):
            return spec  # a built component or a resource object
        if isinstance(spec, str):
            return self.get(spec)
        if isinstance(spec, list):
            return [self.build(s) for s in spec]
        if isinstance(spec, Mapping):
            kind = spec.get("type")
            if kind not in _REGISTRY:
                raise ValueError(f"unknown component type {kind!r}; available: "
                                 f"{sorted(_REGISTRY)}")
            obj = _REGISTRY[kind].from_config(spec, self)
            if self.cache is not None and getattr(obj, "cache", False) is None:
                obj.cache = self.cache
            return obj
        raise TypeError(f"cannot build a component from {type(spec).__name__}: {spec!r}")

    def get(self, name: str) -> Any:
        """The component or resource called ``name`` (components are built once)."""
        if name in self.built:
            return self.built[name]
        if name in self.specs:
            if name in self._building:
                raise ValueError(f"components refer to each other in a cycle: "
                                 f"{' -> '.join([*self._building, name])}")
            self._building.append(name)
            try:
                obj = self.build(self.specs[name])
            finally:
                self._building.pop()
            if isinstance(obj, Configurable):
                obj.config_name = name
                spec = self.specs[name]
                if isinstance(spec, Mapping) and "name" in obj.config_fields and \
                        "name" not in spec:
                    obj.name = name  # a named system is labelled by its component name
            self.built[name] = obj
            return obj
        if name in self.resources:
            return self.resources[name]
        raise KeyError(f"{name!r} is neither a component ({sorted(self.specs)}) nor a resource "
                       f"({sorted(self.resources)}); define it under `components:` or pass it "
                       "in resources=")


class ConfigWriter:
    """Writes objects as specs; shared or named components go to ``components`` by name."""

    def __init__(self, root: Configurable | None = None) -> None:
        self.components: dict[str, Any] = {}
        self._names: dict[int, str] = {}
        if root is not None:
            self._name_shared(root)

    def _name_shared(self, root: Configurable) -> None:
        seen: dict[int, int] = {}
        order: list[Configurable] = []

        def walk(obj: Configurable) -> None:
            seen[id(obj)] = seen.get(id(obj), 0) + 1
            if seen[id(obj)] == 1:
                order.append(obj)
                for child in obj.children():
                    walk(child)

        walk(root)
        taken = {o.config_name for o in order if o.config_name}
        for obj in order:
            if obj is root:
                continue
            name = obj.config_name
            if name is None and seen[id(obj)] > 1:
                n = 0
                while f"{obj.config_type}_{n}" in taken:
                    n += 1
                name = f"{obj.config_type}_{n}"
                taken.add(name)
            if name is not None:
                self._names[id(obj)] = name

    def ref(self, value: Any) -> Any:
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, list):
            return [self.ref(v) for v in value]
        if isinstance(value, Configurable):
            name = self._names.get(id(value))
            if name is None:
                return value.to_config(self)
            if name not in self.components:
                self.components[name] = None  # reserve the slot: keeps definition order
                self.components[name] = value.to_config(self)
            return name
        resource = getattr(value, "resource_name", None)
        if resource:
            return resource
        raise TypeError(f"cannot write {type(value).__name__} into a config; give it a "
                        "`resource_name` or pass it as a resource by name")


def to_config(obj: Configurable) -> dict[str, Any]:
    """The config document for ``obj`` (``{"pipeline": ..., "components": ..., "cache": ...}``)."""
    writer = ConfigWriter(obj)
    main = obj.to_config(writer)
    doc: dict[str, Any] = {}
    cache = _find_cache(obj)
    if cache is not None:
        doc["cache"] = str(cache.path)
    if writer.components:
        doc["components"] = writer.components
    doc["pipeline"] = main
    return doc


def _find_cache(obj: Configurable) -> DiskCache | None:
    stack, seen = [obj], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(getattr(current, "cache", None), DiskCache):
            return current.cache  # type: ignore[attr-defined]
        stack.extend(current.children())
    return None


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A config as a dict: a mapping is returned as is, a path is read as YAML (or JSON)."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a mapping (got {type(data).__name__})")
    return data


def build(source: str | os.PathLike[str] | Mapping[str, Any],
          resources: Mapping[str, Any] | None = None, *, component: str | None = None) -> Any:
    """Build the object a config describes: its ``pipeline`` entry, the spec itself, or with
    ``component`` one of its named components (other top-level keys, such as a benchmark's
    ``dataset`` and ``evaluate``, are then ignored).

    >>> build("benchmarks/configs/ensemble/squad.yaml", {"corpus": corpus}, component="replug")
    """
    data = load_config(source)
    components = data.get("components") or {}
    if component is not None:
        if component not in components:
            raise ValueError(f"no component {component!r} in the config; it has "
                             f"{', '.join(sorted(components)) or 'none'}")
        return ConfigBuilder(components, resources, data.get("cache")).get(component)
    if "type" in data:
        return ConfigBuilder(resources=resources).build(data)
    unknown = set(data) - {"cache", "components", "pipeline"}
    if unknown or "pipeline" not in data:
        hint = (f"; to build one of its components pass component=NAME (one of "
                f"{', '.join(sorted(components))})" if components else "")
        raise ValueError(f"a config document has keys cache, components and pipeline; got "
                         f"{sorted(data)}{hint}")
    builder = ConfigBuilder(data.get("components"), resources, data.get("cache"))
    return builder.build(data["pipeline"])


def save_config(obj: Configurable, path: str | os.PathLike[str]) -> Path:
    """Write ``obj``'s config as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_config(obj), sort_keys=False), encoding="utf-8")
    return path
