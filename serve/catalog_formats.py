"""Tool descriptions read from the formats tools are published in.

* OpenAI function-calling tools: ``[{"type": "function", "function": {...}}]`` or bare
  ``{"name", "description", "parameters"}`` objects, alone, in a list or under ``"tools"``;
* OpenAPI 3 / Swagger 2 specs (JSON or YAML): one tool per operation;
* ToolBench / RapidAPI tool JSON: ``{"tool_name", "api_list": [...]}``;
* botocore service models (``service-2.json[.gz]``), the AWS API descriptions on PyPI;
* argparse command lines (one tool per subcommand).
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["VERB_HINTS", "ToolDescription", "from_argparse", "from_botocore", "from_openai",
           "from_openapi", "from_toolbench", "parse_catalog", "read_catalog_file"]

_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_TAG = re.compile(r"<[^>]+>")
#: Asides in AWS documentation (support notices, caveats) that bury what an operation does.
_ASIDE = re.compile(r"<(note|important)>.*?</\1>", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
#: Words of documentation kept per tool and per parameter: enough to tell tools apart.
DESCRIPTION_WORDS = 80
SUMMARY_WORDS = 40
PARAMETER_WORDS = 16
#: Operation names start with a handful of verbs; people describing a task use others.
VERB_HINTS = {"put": "add upload store write", "get": "retrieve download read fetch",
              "list": "enumerate show all", "delete": "remove", "create": "make add new",
              "update": "modify change edit", "describe": "show details of",
              "detect": "find identify", "start": "begin launch", "stop": "end halt",
              "send": "post deliver", "search": "find look up", "copy": "duplicate",
              "head": "check exists metadata of", "batch": "many at once"}


@dataclass
class ToolDescription:
    """One tool: a unique ``name``, what it does, a (shallow) JSON schema of its parameters
    and the catalogue it came from."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object",
                                                                "properties": {}})
    source: str = ""
    title: str = ""

    def openai(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling format (names sanitised to ``[A-Za-z0-9_-]``)."""
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", self.name).strip("_")[:64] or "tool"
        return {"type": "function", "function": {"name": name, "description": self.description,
                                                 "parameters": self.parameters}}

    def text(self) -> str:
        """What gets embedded: the title with synonyms of its verb, the first sentences of
        the description and the required parameters. Short texts embed sharper (and faster)
        than whole manual pages; :meth:`long_text` keeps more for a reranker."""
        required = ", ".join(_words(p) for p in self.parameters.get("required", []))
        return (f"{self._title()}. {summary(self.description, SUMMARY_WORDS)}"
                + (f" Parameters: {required}." if required else ""))

    def long_text(self) -> str:
        params = ", ".join(_words(p) for p in self.parameters.get("properties", {}))
        return f"{self._title()}. {self.description}" + (
            f" Parameters: {params}." if params else "")

    def _title(self) -> str:
        title = self.title or _words(self.name)
        verb = _words(self.name.rsplit(".", 1)[-1]).split()[:1]
        hint = VERB_HINTS.get(verb[0], "") if verb else ""
        return f"{title} ({hint})" if hint else title

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolDescription:
        return cls(**data)


def _words(name: str) -> str:
    """``CreateBucket`` / ``create_bucket`` / ``s3.CreateBucket`` → ``create bucket``-style."""
    spaced = _CAMEL.sub(" ", re.sub(r"[._/{}\-]+", " ", name))
    return " ".join(spaced.split()).lower()


def summary(text: str, words: int) -> str:
    """The first sentences of ``text``, cut at ``words`` words."""
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        kept += sentence.split()
        if len(kept) >= words:
            break
    return " ".join(kept[:words])


def _clean(text: Any, words: int = DESCRIPTION_WORDS) -> str:
    raw = str(text or "")
    without_asides = _ASIDE.sub(" ", raw)
    raw = without_asides if without_asides.strip() else raw
    plain = " ".join(html.unescape(_TAG.sub(" ", raw)).split())
    tokens = plain.split()
    return plain if len(tokens) <= words else " ".join(tokens[:words]) + " ..."


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(set(required) & set(properties))
    return schema


def _param(kind: Any, description: Any) -> dict[str, Any]:
    kinds = {"integer", "number", "string", "boolean", "object", "array"}
    aliases = {"long": "integer", "int": "integer", "float": "number", "double": "number",
               "structure": "object", "map": "object", "list": "array", "blob": "string",
               "timestamp": "string", "bool": "boolean", "str": "string", "enum": "string"}
    name = aliases.get(str(kind).lower(), str(kind).lower())
    out: dict[str, Any] = {"type": name if name in kinds else "string"}
    if description:
        out["description"] = _clean(description, PARAMETER_WORDS)
    return out


def from_openai(data: Any, source: str = "openai") -> list[ToolDescription]:
    items = data.get("tools", [data]) if isinstance(data, dict) else list(data)
    tools = []
    for item in items:
        fn = item.get("function", item)
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ValueError(f"{source}: a tool without a name: {json.dumps(item)[:120]}")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(ToolDescription(fn["name"], _clean(fn.get("description")), params, source))
    return tools


def from_openapi(spec: dict[str, Any], source: str = "openapi") -> list[ToolDescription]:
    """One tool per operation; ``operationId`` names it, else ``METHOD /path``."""
    tools = []
    for path, item in (spec.get("paths") or {}).items():
        shared = item.get("parameters", []) if isinstance(item, dict) else []
        for method in _HTTP_METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if not isinstance(op, dict):
                continue
            properties, required = {}, []
            for p in [*shared, *op.get("parameters", [])]:
                p = _resolve(spec, p)
                if "name" not in p:
                    continue
                kind = (p.get("schema") or {}).get("type") or p.get("type", "string")
                properties[p["name"]] = _param(kind, p.get("description"))
                if p.get("required"):
                    required.append(p["name"])
            body = (_resolve(spec, op.get("requestBody") or {}).get("content") or {})
            for media in body.values():
                schema = _resolve(spec, media.get("schema") or {})
                for name, prop in (schema.get("properties") or {}).items():
                    prop = _resolve(spec, prop)
                    properties[name] = _param(prop.get("type", "object"), prop.get("description"))
                required += schema.get("required", [])
                break
            label = f"{method.upper()} {path}"
            text = ". ".join(t for t in (op.get("summary"), op.get("description")) if t)
            tools.append(ToolDescription(op.get("operationId") or label, _clean(text or label),
                                         _schema(properties, required), source,
                                         title=_words(op.get("operationId") or path)))
    return tools


def _resolve(spec: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``) a few levels deep."""
    for _ in range(5):
        if not isinstance(node, dict) or "$ref" not in node:
            break
        target: Any = spec
        for key in str(node["$ref"]).lstrip("#/").split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        node = target
    return node if isinstance(node, dict) else {}


def from_toolbench(data: Any, source: str = "toolbench") -> list[ToolDescription]:
    tools = []
    for tool in data if isinstance(data, list) else [data]:
        prefix = tool.get("tool_name") or tool.get("name") or "tool"
        about = _clean(tool.get("tool_description") or tool.get("description"), 24)
        for api in tool.get("api_list", []):
            properties, required = {}, []
            for group in ("required_parameters", "optional_parameters"):
                for p in api.get(group) or []:
                    properties[p["name"]] = _param(p.get("type", "string"), p.get("description"))
                    if group == "required_parameters":
                        required.append(p["name"])
            text = _clean(api.get("description")) or about
            tools.append(ToolDescription(f"{prefix}.{api['name']}", text,
                                         _schema(properties, required), source,
                                         title=f"{_words(prefix)}: {_words(api['name'])}"))
    return tools


def from_botocore(model: dict[str, Any], source: str = "") -> list[ToolDescription]:
    meta = model.get("metadata", {})
    service = meta.get("endpointPrefix") or meta.get("serviceId", "aws")
    full = meta.get("serviceFullName") or service
    shapes = model.get("shapes", {})
    tools = []
    for name, op in model.get("operations", {}).items():
        if op.get("deprecated"):
            continue
        shape = shapes.get((op.get("input") or {}).get("shape", ""), {})
        properties = {m: _param(shapes.get(spec.get("shape", ""), {}).get("type", "string"),
                                spec.get("documentation"))
                      for m, spec in (shape.get("members") or {}).items()}
        tools.append(ToolDescription(f"{service}.{name}", _clean(op.get("documentation")),
                                     _schema(properties, shape.get("required", [])),
                                     source or f"botocore:{service}",
                                     title=f"{full}: {_words(name)}"))
    return tools


def from_argparse(parser: argparse.ArgumentParser, source: str = "") -> list[ToolDescription]:
    """One tool per subcommand of ``parser`` (``prog sub``), its options as parameters."""
    tools = []
    for action in parser._actions:  # argparse keeps subparsers only here
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sub in action.choices.items():
            properties, required = {}, []
            for arg in sub._actions:
                if arg.dest in ("help", argparse.SUPPRESS) or arg.help == argparse.SUPPRESS:
                    continue
                kind = "boolean" if arg.nargs == 0 else (
                    "integer" if arg.type is int else "string")
                properties[arg.dest] = _param(kind, arg.help)
                if not arg.option_strings and arg.nargs not in ("?", "*"):
                    required.append(arg.dest)
            text = _clean(helps.get(name) or sub.description or name)
            tools.append(ToolDescription(f"{parser.prog} {name}", text,
                                         _schema(properties, required),
                                         source or parser.prog))
    return tools


def parse_catalog(data: Any, source: str) -> list[ToolDescription]:
    """Detect the format of a loaded catalogue and read its tools."""
    if isinstance(data, dict) and ("openapi" in data or "swagger" in data):
        return from_openapi(data, source)
    if isinstance(data, dict) and "operations" in data and "metadata" in data:
        return from_botocore(data, source)
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict) and "api_list" in first:
        return from_toolbench(data, source)
    if isinstance(data, (dict, list)):
        return from_openai(data, source)
    raise ValueError(f"{source}: not a tool catalogue (expected OpenAI tools, an OpenAPI "
                     "spec, ToolBench JSON or a botocore service model)")


def read_catalog_file(path: str | Path) -> list[ToolDescription]:
    """Tools from a ``.json``, ``.json.gz``, ``.yaml`` or ``.yml`` catalogue file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tool catalogue at {path}")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(raw)
    else:
        data = json.loads(raw)
    return parse_catalog(data, path.name)
