"""Build templates from YAML files or plain Python data.

YAML (a list under ``templates:``, or the list itself)::

    templates:
      - name: rating
        jinja: "Review: {{review_body}}\\nRating? ||| {{answer_choices[star_rating-1]}}"
        answer_choices: "1 ||| 2 ||| 3 ||| 4 ||| 5"
      - name: samsum
        patterns:
          - ["{dialogue}\\nBriefly summarize that dialogue.", "{summary}"]
      - name: chat
        messages: messages     # a column of {role, content} turns; the last (assistant) turn is the target
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError
from genlab.prompts.templates import ConversationTemplate, FlanTemplate, JinjaTemplate, Template

TEMPLATE_KEYS = {"name", "jinja", "patterns", "messages", "answer_choices", "metadata"}


def template_from(spec: Any, *, default_name: str = "template", where: str | None = None) -> Template:
    """One template from a dict, a Jinja string, a list of pattern pairs, or a template object."""
    if isinstance(spec, (JinjaTemplate, FlanTemplate, ConversationTemplate)):
        return spec
    if isinstance(spec, str):
        return JinjaTemplate(default_name, spec)
    if isinstance(spec, (list, tuple)):
        return FlanTemplate(default_name, [tuple(p) for p in spec])
    if not isinstance(spec, dict):
        raise ConfigError(f"a template must be a mapping, string or list of patterns, not {type(spec).__name__}",
                          where=where)
    unknown = set(spec) - TEMPLATE_KEYS
    if unknown:
        raise ConfigError(f"unknown template key(s) {sorted(unknown)}", where=where,
                          hint=f"allowed keys: {', '.join(sorted(TEMPLATE_KEYS))}")
    name = str(spec.get("name", default_name))
    if sum(k in spec for k in ("jinja", "patterns", "messages")) != 1:
        raise ConfigError(f"template {name!r} needs exactly one of 'jinja', 'patterns' or 'messages'", where=where)
    if "messages" in spec:
        if not isinstance(spec["messages"], str) or spec.get("answer_choices") is not None:
            raise ConfigError(f"template {name!r}: 'messages' names the column holding the conversation "
                              "(a string), and takes no answer_choices", where=where)
        return ConversationTemplate(name, spec["messages"], metadata=spec.get("metadata", {}))
    if "jinja" in spec:
        return JinjaTemplate(name, spec["jinja"], spec.get("answer_choices"), spec.get("metadata", {}))
    patterns = spec["patterns"]
    if not isinstance(patterns, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in patterns):
        raise ConfigError(f"template {name!r}: 'patterns' must be a list of [input, target] pairs", where=where)
    return FlanTemplate(name, [tuple(p) for p in patterns], spec.get("answer_choices"), spec.get("metadata", {}))


def templates_from(specs: Any, *, where: str | None = None, prefix: str = "template") -> list[Template]:
    if isinstance(specs, dict) and "templates" in specs:
        specs = specs["templates"]
    if not isinstance(specs, list) or (specs and isinstance(specs[0], (list, tuple)) and len(specs[0]) == 2
                                       and all(isinstance(x, str) for x in specs[0])):
        specs = [specs]  # a single template (string, mapping or pattern list)
    return [template_from(s, default_name=f"{prefix}-{i}", where=f"{where}: templates[{i}]" if where else None)
            for i, s in enumerate(specs)]


def load_templates(path: str | Path) -> list[Template]:
    """Templates from a YAML file (see module docstring)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"template file {path} not found") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    return templates_from(data, where=str(path), prefix=path.stem)
