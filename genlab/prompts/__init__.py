"""Prompt templates (promptsource Jinja with ``|||``, FLAN pattern lists), chat wrapping and few-shot prompts."""

from genlab.prompts.chat import has_chat_template, wrap_chat
from genlab.prompts.fewshot import BuiltPrompt, FewShotConfig, build_prompt, select_shots
from genlab.prompts.loading import load_templates, template_from, templates_from
from genlab.prompts.templates import FlanTemplate, JinjaTemplate, Template, substitute

__all__ = ["BuiltPrompt", "FewShotConfig", "FlanTemplate", "JinjaTemplate", "Template", "build_prompt",
           "has_chat_template", "load_templates", "select_shots", "substitute", "template_from", "templates_from",
           "wrap_chat"]
