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
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from nyx.dataclass_config import read_mapping
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.registry import available_types as _available_types
from nyx.ensemble.registry import component_class, extra_types, type_name

logger = logging.getLogger(__name__)

__all__ = ["ConfigBuilder", "ConfigWriter", "Configurable", "available_types", "build",
           "load_config", "save_config", "to_config"]

_PARAMETER_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def available_types(types: Iterable[type] | Mapping[str, type] | None = None) -> list[str]:
    """Every ``type:`` a config can name (plus ``types``, as a builder's ``types=``)."""
    return _available_types(extra_types(types))


def _init_parameters(cls: type) -> list[str]:
    """The named parameters of ``cls.__init__``, following ``**kwargs`` up to the parents'
    ``__init__``; parents' first."""
    chain: list[list[str]] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        chain.append([p.name for p in params if p.kind in _PARAMETER_KINDS and p.name != "self"])
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    names: list[str] = []
    for level in reversed(chain):
        names += [n for n in level if n not in names]
    return names


class Configurable:
    """A component that can be written as a dict and rebuilt from one, declared once.

    Its settings are the named parameters of ``__init__`` (stored as attributes of the same
    name): ``config_fields`` is derived from the signature, so a new parameter is in the
    config, in :meth:`to_config` and in the cache id without being listed anywhere else.
    ``component_fields`` says which parameters hold other components (or lists of them);
    ``cache`` is never a setting. ``volatile_fields`` are the settings that do not change what
    the component outputs (where or how fast it runs, its label): they stay out of
    :attr:`cache_id`. A class that is not built from configs may set ``config_fields = ()``.
    """

    config_fields: ClassVar[tuple[str, ...]] = ()
    component_fields: ClassVar[tuple[str, ...]] = ()
    volatile_fields: ClassVar[tuple[str, ...]] = ()
    config_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_fields" not in cls.__dict__:
            cls.config_fields = tuple(n for n in _init_parameters(cls)
                                      if n != "cache" and n not in cls.component_fields)

    @property
    def config_type(self) -> str:
        """The ``type:`` that builds this class (see :mod:`nyx.ensemble.registry`)."""
        return type_name(type(self))

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
                raise ValueError(f"unknown field {key!r} for type {type_name(cls)!r}; "
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

    # -- what the component computes from ---------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """Everything the output depends on: the type, each setting not in
        ``volatile_fields``, the identity of each component and resource held, and
        :meth:`data_identity`."""
        out: dict[str, Any] = {"type": self._type_label()}
        for name in self.config_fields:
            if name not in self.volatile_fields:
                out[name] = _plain(getattr(self, name))
        for name in self.component_fields:
            if name not in self.volatile_fields:
                out[name] = _identity_of(getattr(self, name))
        out.update(self.data_identity())
        return out

    def data_identity(self) -> dict[str, Any]:
        """What else the output depends on that no setting says (passages, a model version)."""
        return {}

    @property
    def cache_id(self) -> str:
        """The type and a digest of :meth:`identity`: equal for components that compute the
        same, different when any output-changing setting differs."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return f"{self._type_label()}:{hashlib.sha256(text.encode()).hexdigest()[:20]}"

    def _type_label(self) -> str:
        # a class defined in a function has no importable name: where it lives will do
        try:
            return self.config_type
        except ValueError:
            return f"{type(self).__module__}:{type(self).__qualname__}"


def _identity_of(value: Any) -> Any:
    if isinstance(value, Configurable):
        return value.identity()
    if isinstance(value, list):
        return [_identity_of(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    for attr in ("fingerprint", "resource_name"):
        found = getattr(value, attr, None)
        if isinstance(found, str):
            return {attr: found}
    return {"object": type(value).__name__}


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
                 cache: DiskCache | str | os.PathLike[str] | None = None, *,
                 types: Iterable[type] | Mapping[str, type] | None = None) -> None:
        self.specs = dict(components or {})
        #: component types beyond nyx.ensemble.registry's (a benchmark's, a test's)
        self.types = extra_types(types)
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
            obj = component_class(spec.get("type"), self.types).from_config(spec, self)
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
    return read_mapping(source)


def build(source: str | os.PathLike[str] | Mapping[str, Any],
          resources: Mapping[str, Any] | None = None, *, component: str | None = None,
          types: Iterable[type] | Mapping[str, type] | None = None) -> Any:
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
        return ConfigBuilder(components, resources, data.get("cache"), types=types).get(component)
    if "type" in data:
        return ConfigBuilder(resources=resources, types=types).build(data)
    unknown = set(data) - {"cache", "components", "pipeline"}
    if unknown or "pipeline" not in data:
        hint = (f"; to build one of its components pass component=NAME (one of "
                f"{', '.join(sorted(components))})" if components else "")
        raise ValueError(f"a config document has keys cache, components and pipeline; got "
                         f"{sorted(data)}{hint}")
    builder = ConfigBuilder(data.get("components"), resources, data.get("cache"), types=types)
    return builder.build(data["pipeline"])


def save_config(obj: Configurable, path: str | os.PathLike[str]) -> Path:
    """Write ``obj``'s config as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_config(obj), sort_keys=False), encoding="utf-8")
    return path
