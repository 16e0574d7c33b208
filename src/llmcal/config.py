"""The config checked against its schema, with one readable line per problem.

The schema (``schemas/config.schema.yaml``) is closed: every mapping lists the keys it accepts, so a
misspelt key is an error naming its full path and the nearest valid key, never a setting silently left
at its default. jsonschema's own messages dump the schema; these name the key and what to write instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmcal.registry import ConfigError
from llmcal.sections import check_keys, suggest, unknown_keys  # noqa: F401  (they live with the section base)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


@lru_cache(maxsize=4)
def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _path(config: Any, parts: Iterable) -> str:
    """data.clm.n, models[2] (mini-s).mini.num_heads: the key path of a value, list entries by name."""
    out, node = "", config
    for part in parts:
        if isinstance(part, int):
            label = f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, Mapping) and "name" in node:
                    label += f" ({node['name']})"
            except (IndexError, KeyError, TypeError):
                node = None
            out += label
        else:
            out = _join(out, str(part))
            node = node.get(part) if isinstance(node, Mapping) else None
    return out


def _message(config: Any, error) -> list[str]:
    where = _path(config, error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return unknown_keys({k: None for k in extra}, allowed, where)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        return [
            f"`{_join(where, k)}`: required key is missing" for k in error.validator_value if k not in error.instance
        ]
    if error.validator == "enum":
        return [f"`{where}`: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _message(config, min(error.context, key=lambda e: len(list(e.absolute_path))))
    return [f"`{where or 'config'}`: {error.message}"]


def schema_for(config: Mapping) -> dict:
    """The schema a config is checked against: the file's, plus the tasks of its `task_modules`.

    Each such task (llmcal.tasks) joins the `tasks` and figure `task` enums and `task_labels`, and its own
    closed `data_schema` becomes `data.<name>`; built-in sections stay exactly as the file has them.
    """
    import copy

    from llmcal import tasks

    schema = load_schema()
    modules = config.get("task_modules") if isinstance(config, Mapping) else None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        return schema  # no task modules, or a malformed list the schema reports
    extra = [t for t in tasks.load_modules(modules) if t not in schema["properties"]["data"]["properties"]]
    if not extra:
        return schema
    schema = copy.deepcopy(schema)
    props = schema["properties"]
    for name in extra:
        task = tasks.get(name)
        props["tasks"]["items"]["enum"].append(name)
        props["figures"]["items"]["properties"]["task"]["enum"].append(name)
        props["task_labels"]["properties"][name] = {"type": "string"}
        props["data"]["properties"][name] = copy.deepcopy(dict(task.data_schema))
    return schema


def fill_defaults(config: dict, schema: Mapping | None = None) -> dict:
    """Set the schema's defaults in `config` (in place), as Snakemake's validate(set_default=True) does."""
    from jsonschema import Draft202012Validator, validators

    schema = schema_for(config) if schema is None else schema
    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        for name, sub in props.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(name, sub["default"])
        yield from properties(validator, props, instance, subschema)

    filler = validators.extend(Draft202012Validator, {"properties": set_defaults})
    filler(schema).validate(config)
    return config


def validate(config: Mapping, schema: Mapping | None = None) -> None:
    """Raise one ConfigError listing every problem of `config` against the (closed) schema (schema_for)."""
    from jsonschema import Draft202012Validator

    schema = schema_for(config) if schema is None else schema
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    lines: list[str] = []
    for error in errors:
        for line in _message(config, error):
            if line not in lines:
                lines.append(line)
    if lines:
        raise ConfigError("\n".join(lines))


def load_yaml(path: str | Path) -> dict:
    """A config file as a mapping, or one ConfigError naming the file (and line and column of a syntax error)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file (relative paths are read from {Path.cwd()})")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(data).__name__}")
    return data


def check_file(path: str | Path) -> None:
    """Everything the workflow checks when it builds the DAG, for one config file, without Snakemake."""
    from llmcal.study import Study

    config = load_yaml(path)
    validate(config)
    Study(config)


def main(argv: list[str] | None = None) -> int:
    """python -m llmcal.config FILE...: check config files as the workflow would; one line per problem."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m llmcal.config CONFIG.yaml [...]", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            check_file(path)
            print(f"{path}: ok")
        except ConfigError as e:
            failed += 1
            for line in str(e).splitlines():
                print(line if line.startswith(str(path)) else f"{path}: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
