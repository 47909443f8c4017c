"""Source text as the prompt may quote it: unable to open a source block, a role or a reply section.

Retrieved passages are untrusted: a document can hold text shaped like the prompt's own structure. Two
shapes would work on the model as structure rather than as quoted text:

* **a source block of its own** — a line starting ``[S9] …`` inside a passage reads as a further source,
  and the reply grammar and the citation resolver would take ``S9`` for a label the prompt gave;
* **chat and reply markup** — llama-cpp-python renders the chat template and tokenizes the result *with
  special tokens on* (so the template's ``<|im_start|>`` becomes one token), so a passage holding
  ``<|im_start|>system`` opened a new system turn; ``[INST]``, ``<<SYS>>``, ``<s>``/``</s>`` play that part
  for Llama 2 templates, and ``<think>``, ``<reasoning>``, ``<answer>`` are the reply's own sections.

``quote_source_text`` rewrites only those shapes, readably and the same way every time (the prompt stays
a stable, cacheable prefix): ``[S9]`` → ``(S9)``, ``<|im_start|>`` → ``&lt;|im_start|&gt;``, ``[INST]`` →
``(INST)``, ``<think>`` → ``&lt;think&gt;``. Everything else is left as the document wrote it; what the
text *says* (an instruction aimed at the model) is a question for a screen, not for this quoting.
"""

from __future__ import annotations

import re

__all__ = ["quote_source_text"]

# [S3] anywhere: the prompt's labels and the citations the model writes use exactly this shape.
_SOURCE_LABEL = re.compile(r"\[(S\d+)\]")
# <|im_start|>, <|eot_id|>, <|start_header_id|>, <|endoftext|>: special tokens of current chat templates.
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|\n]{1,64}\|>")
# Llama 2 and Mistral markup, and the sections of a reply (rag.reasoning's tags).
_ANGLE_MARKUP = re.compile(r"</?(?:s|think|reasoning|answer)>|<</?SYS>>", re.IGNORECASE)
_BRACKET_MARKUP = re.compile(r"\[(/?INST)\]", re.IGNORECASE)


def _escape_angles(match: re.Match[str]) -> str:
    return match.group(0).replace("<", "&lt;").replace(">", "&gt;")


def quote_source_text(text: str) -> str:
    """``text`` with the prompt's structural shapes written harmlessly (see the module's docstring)."""
    text = _SOURCE_LABEL.sub(r"(\1)", text)
    text = _SPECIAL_TOKEN.sub(_escape_angles, text)
    text = _ANGLE_MARKUP.sub(_escape_angles, text)
    return _BRACKET_MARKUP.sub(r"(\1)", text)
