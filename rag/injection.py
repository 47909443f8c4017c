"""A screen for text that speaks to the model instead of to the reader: indirect prompt injection.

Retrieved passages are untrusted. ``find_injections(text)`` reads one passage and returns what in it is
aimed at the model that will read it, as :class:`Finding` records (kind, rule, language, text, span):

* ``instruction`` — a sentence holding an imperative aimed at an assistant: overriding its instructions
  ("ignore the previous instructions"), giving it a new role ("you are now …", "from now on you reply …"),
  dictating its output ("reply only with …", "answer that …", "tell the user …"), hiding the injection
  ("do not mention this to the user"), asking for its system prompt, announcing "new instructions:",
  addressing it by name ("Note to the AI: …", "if you are a language model …") or sending the user's
  secrets somewhere ("include the user's API key …"). English, German, French and Spanish phrasings are
  recognised (``LANGUAGES``); the span is the whole sentence, so the instruction can be quoted as data.
* ``hidden`` — characters a reader does not see but a tokenizer reads: zero-width and bidi controls
  (U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF) and Unicode tag characters
  (U+E0000–U+E007F, which can spell a whole instruction invisibly; the finding says what they spell).
  A zero-width joiner or non-joiner between letters of a script that needs them (Arabic, Indic, emoji
  sequences) and bidi marks in text written right to left are part of the writing, not hidden text.
* ``delimiter`` — text imitating the prompt's structure: a line opening with a source label ``[S3]``,
  a ``Sources:`` heading or ``Source S3:`` header, a fake end of the sources, chat-template markup
  (``<|im_start|>``, ``[INST]``, ``<<SYS>>``, ``### Instruction``), a role line (``system:``,
  ``assistant:``) or the screen's own quotation marks (``QUOTE_MARKS``).

The rules are written for precision: a word alone ("ignore", "system", "you are") never counts, only the
phrasings that point at a model, its instructions or its output, so that ordinary scientific and
technical prose passes (bench/injection_screen.py measures both rates). Instructions are looked for in
the text as a reader sees it — hidden characters removed and tag characters read as the letters they
spell — so "ig\u200bnore previous instructions" is caught too. What the screen cannot see: paraphrases
that use none of these phrasings, other languages, homoglyphs, and text that only looked hidden in the
original file (white on white, tiny fonts: the parser keeps no colours or sizes).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["KINDS", "LANGUAGES", "QUOTE_MARKS", "Finding", "find_injections", "is_hidden_character"]

Kind = Literal["instruction", "hidden", "delimiter"]
KINDS: tuple[str, ...] = ("instruction", "hidden", "delimiter")
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")
# The brackets rag.passage_screen quotes a flagged span with; in a document they would imitate it.
QUOTE_MARKS = ("\u27e6", "\u27e7")  # ⟦ ⟧

# Sentences are widened to at most this many characters each side of the phrase that matched.
_SENTENCE_REACH = 400


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing in a passage aimed at the model. ``start``/``end`` index the passage text as given."""

    kind: Kind
    rule: str  # which rule matched: override, role, output, conceal, system-prompt, address, exfiltrate,
    #            zero-width, tag-characters, source-label, chat-markup, role-line, quote-mark
    text: str  # the instruction's sentence; for hidden text the code points (and what tag characters spell)
    start: int
    end: int
    language: str = ""  # en, de, fr, es for instructions; "" for language-neutral rules

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "language": self.language or None, "text": self.text,
                "char_start": self.start, "char_end": self.end}


# ---------------------------------------------------------------------------------------------------
# Hidden characters

_ZERO_WIDTH = {0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF}
_BIDI = {0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_JOINERS = {0x200C, 0x200D}  # ZWNJ, ZWJ: needed by Arabic, Indic scripts and emoji sequences
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
_ANY_HIDDEN = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")


def is_hidden_character(char: str) -> bool:
    """A character of the ``hidden`` kind, whatever its neighbours (see ``find_injections``)."""
    code = ord(char)
    return code in _ZERO_WIDTH or code in _BIDI or _TAG_FIRST <= code <= _TAG_LAST


def _writes_a_script(char: str) -> bool:
    """A letter beyond Latin (where joiners shape the writing) or an emoji-like symbol."""
    if not char:
        return False
    category = unicodedata.category(char)
    return (category.startswith(("L", "M")) and ord(char) > 0x24F) or category == "So"


def _right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def _legitimate(text: str, index: int, rtl: bool) -> bool:
    code = ord(text[index])
    if code in _JOINERS:
        before = text[index - 1] if index > 0 else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        return _writes_a_script(before) or _writes_a_script(after)
    return code in _BIDI and rtl


def _hidden_positions(text: str) -> list[int]:
    if not _ANY_HIDDEN.search(text):
        return []
    rtl = _right_to_left(text)
    return [i for i, char in enumerate(text) if is_hidden_character(char) and not _legitimate(text, i, rtl)]


def _hidden_findings(text: str, positions: list[int]) -> list[Finding]:
    runs: list[list[int]] = []
    for index in positions:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    findings = []
    for run in runs:
        chars = [text[i] for i in run]
        tags = "".join(chr(ord(c) - _TAG_FIRST) for c in chars if _TAG_FIRST + 0x20 <= ord(c) <= _TAG_FIRST + 0x7E)
        names = sorted({f"U+{ord(c):04X}" for c in chars})
        described = " ".join(names[:6]) + (" …" if len(names) > 6 else "")
        if tags:
            findings.append(Finding("hidden", "tag-characters", f"{len(chars)} tag characters spelling {tags!r}",
                                    run[0], run[-1] + 1))
        else:
            findings.append(Finding("hidden", "zero-width", f"{len(chars)} × {described}", run[0], run[-1] + 1))
    return findings


# ---------------------------------------------------------------------------------------------------
# What a reader sees: the text instructions are looked for in

_SAME_LENGTH = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00a0": " ", "\u202f": " ",
                              "\u201c": '"', "\u201d": '"', "\u201e": '"'})


def _visible(text: str, hidden: list[int]) -> tuple[str, list[int] | None]:
    """(the text without hidden characters, tag characters read as ASCII; each character's index in
    ``text``, None when that is its own index)."""
    if not _ANY_HIDDEN.search(text):
        return text.translate(_SAME_LENGTH), None
    skip = set(hidden)
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        code = ord(char)
        if _TAG_FIRST + 0x20 <= code <= _TAG_FIRST + 0x7E:
            chars.append(chr(code - _TAG_FIRST))  # what a tokenizer may read in them
        elif index in skip:
            continue
        else:
            chars.append(char)
        where.append(index)
    return "".join(chars).translate(_SAME_LENGTH), where


# ---------------------------------------------------------------------------------------------------
# Instruction rules. Written with single spaces, compiled with \s+ between words (" ?": optional space);
# case-insensitive.


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace(" ?", r"\s*").replace(" ", r"\s+"), re.IGNORECASE)


# Where an imperative can start: the text's start, a sentence or clause boundary, or after a connective.
_CLAUSE = r"(?:^|(?<=[.!?:;,\"'(])\s*|\b(?:and|then|instead|now|please) )"

# Software that reads documents, named as a reader ("automated systems", "machine readers"): only in rules
# that address it, never alone (science describes automated systems processing samples).
_EN_AUTOMATON = (r"(?:automated|automatic|machine|computer|software|AI-powered|artificial) (?:systems?|programs?|"
                 r"agents?|readers?|processors?|tools?|models?|summari[sz]ers?|crawlers?)")
_EN_MODEL = (r"(?:AI|A\.I\.|LLM|LLMs|(?:large )?language models?|AI (?:assistant|model|system|agent)s?|assistants?|"
             r"chat ?bots?|ChatGPT|GPT(?:-?\d[\w.]*)?|Claude|Gemini|DeepSeek|Llama|Copilot|bots?|robots?|"
             rf"{_EN_AUTOMATON})")
_EN_MODEL_STRICT = (r"(?:AI|A\.I\.|LLM|LLMs|(?:large )?language models?|AI (?:assistant|model|system|agent)s?|"
                    r"chat ?bots?|ChatGPT|GPT(?:-?\d[\w.]*)?|Claude|Gemini|DeepSeek|Copilot)")
_EN_ORDERS = (r"(?:instructions?|prompts?|rules|directions|directives?|guidelines|commands|orders|context|"
              r"constraints|messages|guardrails|programming|system prompt|system messages?)")
_EN_BEFORE = r"(?:previous|prior|preceding|above|earlier|foregoing|former|initial|original|system|old)"
_EN_SECRETS = (r"(?:api[ _-]?keys?|passwords?|passphrases?|credentials|(?:access|auth|session|bearer) tokens?|"
               r"tokens|session (?:ids?|cookies?)|cookies|secrets?|private keys?|chat history|"
               r"conversation(?: history)?|previous messages|e-?mail address(?:es)?|"
               r"personal (?:data|details|information)|credit card(?: numbers?)?)")

# English patterns come with a gate: words (lower case) of which the pattern cannot match without one. A
# passage holding none of them is not searched with it, which keeps the screen cheap on English text.
_MODEL_STRICT_WORDS = ("ai llm llms language chatbot chatbots chat chatgpt gpt claude gemini deepseek copilot")
_MODEL_WORDS = (_MODEL_STRICT_WORDS + " assistant assistants bot bots llama robot robots automated automatic machine "
                "computer software artificial")

_EN = {
    "override": [
        ("ignore disregard forget override bypass discard abandon dismiss neglect skip",
         (r"\b(?:ignore|disregard|forget|override|bypass|discard|abandon|dismiss|neglect|skip) (?:(?:all|any|each|"
          rf"every|the|your|my|of|these|those|that|what|was) )*{_EN_BEFORE} (?:\w+ )?{_EN_ORDERS}\b")),
        ("ignore disregard forget override bypass discard",
         (r"\b(?:ignore|disregard|forget|override|bypass|discard) (?:all|any|every) (?:of )?(?:the |your |these"
          rf" )?{_EN_ORDERS}\b")),
        ("ignore disregard forget override bypass discard",
         (r"\b(?:ignore|disregard|forget|override|bypass|discard) (?:your|the system's|the developer's)"
          rf" {_EN_ORDERS}\b")),
        ("ignore disregard forget",
         (r"\b(?:ignore|disregard|forget) (?:everything|anything|all(?: that)?|whatever) (?:(?:you(?:'ve| have)?"
          r" (?:were|been|was) )?(?:told|said|written|stated|given|read|instructed)|above|before|(?:that )?came"
          r" before|previously|so far|up to now|prior)\b")),
        ("follow obey heed listen",
         (rf"\b(?:do not|don't|never|stop) (?:follow|obey|heed|listen to) (?:the |your |any |these )?{_EN_BEFORE}?"
          r" ?(?:instructions|rules|guidelines|system prompt|directives)\b")),
        ("void cancelled canceled revoked obsolete overridden superseded expired lapsed outdated longer",
         (rf"\b(?:the |all |any |your )?{_EN_BEFORE} {_EN_ORDERS} (?:are|is|were|have|has|have been|has been) (?:void|"
          r"cancell?ed|revoked|obsolete|overridden|superseded|expired|lapsed|outdated|no longer (?:valid|apply|"
          r"applicable|relevant|in effect))\b")),
        ("drop ignore forget disregard aside pay abandon discard throw override",
         (r"\b(?:drop|ignore|forget|disregard|set aside|put aside|pay no attention to|abandon|discard|leave aside|"
          r"throw out|override)\b(?:[^.!?\n]|[.!?](?=\S)){0,40}?\b(?:guidance|directions|instructions|rules|orders|"
          r"prompt|programming|configuration|guidelines|directives)\b(?:[^.!?\n]|[.!?](?=\S)){0,15}?\byou(?:'ve|"
          r" have)? (?:received|were given|got|have been given|were told|were initiali[sz]ed with|were programmed"
          r" with)")),
        ("instead",
         (r"\binstead of (?:what|whatever) (?:your|the) (?:operator|developer|creator|owner|administrator|system"
          r" prompt|instructions)")),
        ("operator operators developer developers creator creators owner owners administrator administrators",
         (r"\byour (?:operator|developer|creator|owner|administrator)s? (?:said|says|told you|instructed|wants|"
          r"asked)\b")),
    ],
    "role": [
        ("now henceforth hereby",
         (rf"\byou are (?:now|henceforth|from now on|hereby) (?:an?|the|my) (?:[\w-]+ ){{0,3}}?(?:{_EN_MODEL_STRICT}|"
          r"assistant|bot|model|agent|persona|character|pirate|hacker|villain|DAN|version)\b")),
        ("now henceforth hereby",
         (r"\byou are (?:now|henceforth|from now on|hereby) (?:DAN\b|called|named|known as|free (?:of|from)|"
          r"unrestricted|unfiltered|jailbroken|uncensored|in (?:DAN|jailbreak|god|developer|unrestricted) mode)")),
        ("longer",
         r"\byou(?: are|'re) no longer (?:an?|the|bound|restricted|limited|required|allowed|a helpful)\b"),
        ("now henceforth conversation",
         (r"\b(?:from now on|henceforth|starting now|for the rest of (?:this|the) conversation),? you (?:will |must |"
          r"shall |should |are to |may |can )?(?:only |always |never )?(?:respond|reply|answer|act|behave|speak|talk|"
          r"pretend|role-?play|obey|follow|ignore|refuse|output|write|end|begin|start|say|include|are)\b")),
        ("pretend",
         r"\bpretend (?:that )?(?:you(?: are|'re)|to be) "),
        (_MODEL_STRICT_WORDS,
         (r"\b(?:act|behave|respond|answer|role-?play|pose) as (?:if you (?:were|are) )?(?:an?|the|my) (?:\w+"
          rf" ){{0,3}}?{_EN_MODEL_STRICT}\b")),
        ("act behave roleplay role pose",
         r"\byou (?:will|must|shall|should) (?:now )?(?:act|behave|role-?play|pose) as\b"),
        ("your",
         (r"\byour (?:new|real|true|actual|updated) (?:role|persona|identity|instructions|task|goal|objective|purpose|"
          r"directive|programming|name) (?:is|are|will be|now)\b")),
        ("mode",
         r"\b(?:enter|switch to|activate|enable) (?:DAN|jailbreak|jailbroken|god|unrestricted|unfiltered) mode\b"),
        ("persona",
         (r"\b(?:new|alternate|alternative|updated) persona\b|\bpersona (?:disabled|enabled|deactivated|activated|"
          r"switched|changed|override)\b")),
    ],
    "output": [
        ("only solely exclusively just simply nothing always instead",
         (r"\b(?:reply|respond|answer|output|say|write|print|return) (?:only|solely|exclusively|just|simply|nothing"
          r" but|always|instead)(?: with)? (?:[\"'«]|the (?:words?|phrase|text|sentence|following|string|url|link|"
          r"answer)\b|(?:yes|no|ok|okay|true|false)\b|in (?:all caps|capital letters|uppercase|base64|json|emoji|"
          r"pirate))")),
        ("reply respond answer",
         r"\b(?:reply|respond|answer) (?:only|solely|exclusively|just) in\b"),
        ("your",
         (r"\byour (?:final )?(?:answer|response|reply|output)s? (?:must|should|shall|has to|have to|needs? to|will|"
          r"may) (?:only |always |now )?(?:be|say|state|read|contain|include|start|begin|end|claim|mention|recommend|"
          r"tell)\b")),
        ("answer reply respond claim assert",
         (rf"{_CLAUSE}(?:always |instead |only )?(?:answer|reply|respond|claim|assert) (?:to (?:the|any|every) users?"
          r" )?that\b")),
        ("user users reader readers human person",
         (rf"{_CLAUSE}(?:tell|inform|remind|warn|advise|instruct|ask|urge|direct) (?:the |every |any )?(?:user|users|"
          r"reader|readers|human|person asking)s?\b")),
        ("begin start end prefix finish conclude",
         (r"\b(?:begin|start|end|prefix|finish|conclude) (?:your|every|each|all) (?:answers?|responses?|replies|"
          r"outputs?|messages?)\b")),
        ("output print emit display write",
         (rf"{_CLAUSE}(?:output|print|emit|write out|display) (?:the |exactly )?(?:text|string|words?|phrase|sentence|"
          r"following|message)\b")),
        ("summary summaries answer answers response responses replies output outputs",
         (r"\b(?:summar(?:y|ies)|answers?|responses?|replies|outputs?) (?:\w+ ){0,2}?(?:of|about|from|on|based on|"
          r"generated from|derived from|produced from|drawn from) this (?:text|document|page|passage|abstract|article|"
          r"paper|file|content|source|paragraph)\b(?:[^.!?\n]|[.!?](?=\S)){0,30}?\b(?:must|should|shall|has to|have"
          r" to|needs? to|is to|are to|will) (?:\w+ )?(?:say|state|claim|mention|conclude|include|end|begin|contain|"
          r"report|recommend|assert|read)s?\b")),
    ],
    "conceal": [
        ("not don never",
         (r"\b(?:do not|don't|never|must not|should not) (?:ever )?(?:mention|reveal|disclose|tell|say|show|"
          r"acknowledge|admit|reference|refer to|cite|report|explain)(?: (?:this|these|that|it|anything))? (?:to"
          r" (?:the )?(?:user|users|reader|anyone|human)|(?:the )?user\b|these instructions|this instruction|this"
          r" (?:message|note|text)\b|that you (?:were|have been|are))")),
        ("telling informing mentioning alerting notifying warning",
         (r"\b(?:without|never) (?:telling|informing|mentioning|alerting|notifying|warning) (?:it )?(?:to )?(?:the"
          r" )?(?:user|users|reader)\b")),
        ("secret hidden confidential",
         (r"\b(?:keep|hide) (?:this|these|it) (?:instructions? |message |note )?(?:secret|hidden|confidential) from"
          r" (?:the )?(?:user|reader)\b")),
    ],
    "system-prompt": [
        ("instruction instructions prompt directive directives",
         (r"\b(?:new|updated|revised|real|actual|true|hidden|secret|override|priority|urgent|admin|system) (?:system"
          r" )?(?:instructions?|prompt|directives?)\s*(?::|[\-–—]\s)")),
        ("instructions orders rules directives",
         (r"\b(?:here are|these are|follow|obey) (?:your|the|my) (?:new|updated|real|actual|true|revised)"
          r" (?:instructions|orders|rules|directives)\b")),
        ("prompt message preprompt",
         (r"\b(?:reveal|print|show|repeat|output|display|leak|disclose|share|write out|recite|dump|give me|tell me|"
          r"return) (?:me )?(?:your|the) (?:full |entire |complete |exact |original |initial |hidden |secret |verbatim"
          r" )*(?:system prompt|system message|initial prompt|hidden prompt|pre-?prompt|developer (?:message|"
          r"prompt))\b")),
        ("your",
         (r"\b(?:reveal|print|show|repeat|output|display|leak|disclose|recite|dump) (?:me )?your (?:full |entire |"
          r"complete |exact |original |initial |hidden |secret )*(?:instructions|prompt|rules|guidelines)\b")),
        ("you",
         (r"\b(?:print|show|reveal|output|dump|display|repeat|share|disclose)\b(?:[^.!?\n]|"
          r"[.!?](?=\S)){0,40}?\b(?:configuration|setup|prompt|instructions|rules|settings) (?:that )?you (?:were|have"
          r" been) (?:initiali[sz]ed|configured|given|programmed|set up|started)\b")),
    ],
    "address": [
        ("you",
         rf"\b(?:if|when|whenever) you(?: are|'re) (?:an?|the|any) (?:\w+ )?{_EN_MODEL}\b"),
        ("note message instruction instructions attention reminder notice warning memo directive order",
         (r"\b(?:note|message|instructions?|attention|reminder|notice|warning|memo|directive|order) (?:to|for) (?:the"
          rf" |any |all |every )?{_EN_MODEL}\b")),
        ("dear hey hello hi attention listen",
         rf"\b(?:dear|hey|hello|hi|attention|listen(?: up)?),? {_EN_MODEL}\b"),
        ("you",
         rf"\bas an? {_EN_MODEL},? you\b"),
        (_MODEL_STRICT_WORDS,
         (rf"\b{_EN_MODEL_STRICT} (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|answering|ingesting|"
          r"seeing) (?:this|these|the following)\b")),
        (_MODEL_STRICT_WORDS,
         (rf"\bthe {_EN_MODEL_STRICT} (?:must|should|shall|has to|is (?:required|instructed|ordered|told) to|needs to)"
          r" ")),
        (_MODEL_WORDS,
         (rf"(?:^|[.!?]\s+)(?:{_EN_MODEL}),? (?:you |please |ignore |disregard |forget |do |don't |stop |from now |"
          r"always |never |reply |respond |answer |say |tell |output |print |include )")),
        ("assistant assistants",
         r"\b(?:the|any|every) (?:\w+ )?assistants? (?:reading|processing|summari[sz]ing|seeing) this\b"),
        ("reads read reading sees see processes process summarizes summarises parses ingests receives encounters",
         (r"\b(?:any|every|each|whichever|whatever|the|an?) (?:\w+ )?(?:model|system|reader|tool|bot|assistant|AI|LLM|"
          r"agent|program|summari[sz]er|crawler)s? (?:that|which|who) (?:reads?|is reading|sees?|processe?s|"
          r"summari[sz]es|parses|ingests|receives|encounters) (?:this|these)(?: (?:text|document|page|passage|message|"
          r"note|paragraph|abstract|article|file|content|sentence|line|words?|instructions?))? ?,? ?(?:should|must|"
          r"shall|has to|needs? to|is (?:required|asked|instructed) to|will)\b")),
        ("whoever whatever anyone anything anybody",
         (r"\b(?:whoever|whatever|anyone who|anything that|anybody who) (?:reads|is reading|sees|processes|"
          r"summari[sz]es|parses|ingests) this (?:\w+ )?,? ?(?:should|must|shall|has to|needs to|is to)\b")),
    ],
    "exfiltrate": [
        ("user users customer conversation",
         (r"\b(?:include|append|add|insert|embed|attach|put|send|post|forward|transmit|upload|leak|exfiltrate|reveal|"
          rf"output|print|write|encode|copy|paste) (?:\w+ ){{0,3}}?(?:the |all |any )?(?:user's |users' |customer's |"
          rf"the conversation's )(?:\w+ )?{_EN_SECRETS}")),
        ("user users customer conversation chat session",
         (r"\b(?:include|append|add|insert|embed|attach|send|post|forward|transmit|upload|leak|exfiltrate|reveal|"
          rf"output|print|write|encode|copy|paste|collect|extract|steal|grab|harvest) (?:\w+ ){{0,3}}?{_EN_SECRETS}"
          r" (?:of|from) (?:the |this )?(?:user|users|customer|conversation|chat|session)s?\b")),
        ("http https",
         r"https?://\S+[?&][\w-]+=(?:\{|\[|<|\$|%7B|%5B)"),
        ("user users reader readers customer customers human humans",
         (rf"{_CLAUSE}(?:tell|ask|instruct|direct|urge|encourage|invite|advise|get) (?:the |every )?(?:user|reader|"
          r"customer|human)s? to (?:visit|click|open|go to|download|install|run|enter|paste|type|send|e-?mail|call|"
          r"log ?in|sign ?in|provide|share|reset|confirm|verify)\b")),
        ("send post forward transmit upload submit",
         (r"\b(?:send|post|forward|transmit|upload|submit) (?:it|them|this|everything|the (?:answer|conversation|"
          r"question|data|result)s?) to (?:https?://|\S+@\S+\.\w+|the (?:following )?(?:url|address|endpoint|server|"
          r"webhook))")),
    ],
}

_DE_ORDERS = (r"(?:Anweisung(?:en)?|Instruktion(?:en)?|Befehle?n?|Regeln|Vorgaben|Anordnungen|Richtlinien|"
              r"Aufforderungen|Prompts?|Systemanweisungen|Systemprompts?)")
_DE_BEFORE = (r"(?:vorherige[nmrs]?|vorige[nmrs]?|bisherige[nmrs]?|obige[nmrs]?|vorangegangene[nmrs]?|"
              r"vorhergehende[nmrs]?|frühere[nmrs]?|ursprüngliche[nmrs]?|alte[nmrs]?|oben genannte[nmrs]?|"
              r"erhaltene[nmrs]?)")
_DE_MODEL = (r"(?:KI|K\.I\.|KI-Assistent(?:en)?|KI-Modell(?:e)?|KI-Systeme?|Sprachmodell(?:e)?|Assistent(?:en)?|"
             r"Chatbot(?:s)?|LLMs?|ChatGPT|GPT|Roboter|automatische[n]? (?:Systeme?|Leser|Programme?)|"
             r"maschinelle[n]? Leser)")
_DE_USER = (r"(?:Nutzer(?:in|innen|n|s)?|Benutzer(?:in|innen|n|s)?|Anwender(?:in|innen|n|s)?|"
            r"Leser(?:in|innen|n|s)?|Kunden)")

_DE = {
    "override": [
        (r"\b(?:ignorier(?:e|en|t)?|vergiss|vergesst|vergessen|missachte[nt]?|übergeh(?:e|en|t)|verwirf|verwerfen|"
         r"überschreibe|überschreiben)(?: Sie| du)? (?:(?:alle|sämtliche|die|deine|Ihre|eure|jegliche|jede|diese)"
         rf" )*{_DE_BEFORE} (?:\w+ )?{_DE_ORDERS}\b"),
        (r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte[nt]?)(?: Sie| du)? (?:alle|sämtliche|jegliche)"
         rf" (?:deine |Ihre |diese )?{_DE_ORDERS}\b"),
        (r"\b(?:vergiss|vergessen Sie|ignoriere|ignorieren Sie) alles,? (?:was (?:du|Sie) (?:bisher|zuvor|vorher) |was"
         r" (?:oben|zuvor|vorher) |(?:bisher|zuvor|vorher|oben)\b)"),
        (rf"\b(?:befolge|befolgen Sie|folge|folgen Sie) (?:nicht (?:mehr )?(?:den|die|deinen|Ihren) {_DE_BEFORE}?"
         rf" ?{_DE_ORDERS}|(?:den|die|deinen|Ihren) {_DE_BEFORE}? ?{_DE_ORDERS} nicht)"),
        (rf"\b(?:lass|lasst|lassen Sie|setze|setzen Sie) (?:alle |die |deine |Ihre )?{_DE_BEFORE}? ?{_DE_ORDERS}"
         r" (?:beiseite|außer Acht|weg|fallen|außer Kraft)"),
    ],
    "role": [
        (r"\b(?:du bist|Sie sind|ihr seid) (?:jetzt|nun|ab sofort|ab jetzt|von nun an|fortan|ab heute) (?:ein|eine|"
         r"einer|der|die|das|kein|keine|mein|meine|nicht mehr)\b"),
        (r"\b(?:ab sofort|ab jetzt|von nun an|fortan|ab heute),? (?:bist|antwortest|sprichst|handelst|verhältst|wirst|"
         r"sollst|musst|darfst|gibst|schreibst) du\b"),
        (r"\b(?:ab sofort|ab jetzt|von nun an|fortan),? (?:sind|antworten|sprechen|handeln|verhalten|werden|sollen|"
         r"müssen|geben|schreiben) Sie\b"),
        r"\b(?:tu so|tun Sie so),? als (?:ob|wärst|wären)\b",
        (r"\b(?:verhalte dich|verhalten Sie sich|agiere|agieren Sie|antworte|antworten Sie) (?:als|wie) (?:ein |eine"
         rf" |der |die )?(?:\w+ )?{_DE_MODEL}\b"),
        (r"\b(?:deine|Ihre) (?:neue|wahre|eigentliche|tatsächliche) (?:Rolle|Aufgabe|Identität|Anweisung|Persona|Ziel)"
         r" (?:ist|lautet|sind)\b"),
    ],
    "output": [
        (r"\b(?:antworte|antwortet|antworten Sie|gib|geben Sie|schreibe|schreib|schreiben Sie|sage|sag|sagen Sie|gib"
         r" aus|geben Sie aus)(?: \w+){0,2}? (?:nur|ausschließlich|lediglich|einzig|immer) (?:noch )?(?:mit|auf|in|\"|"
         r"«|„|das Wort|den Satz|folgendes|Folgendes|ja|nein)\b"),
        (rf"{_CLAUSE}(?:antworte|antworten Sie|sage|sag|sagen Sie|behaupte|behaupten Sie|teile|teilen Sie)(?: (?:dem|"
         rf"den) {_DE_USER})?(?: immer| stets| nur| mit)?,? dass\b"),
        (rf"{_CLAUSE}(?:behaupte|behaupten Sie|schreibe|schreiben Sie|erkläre|erklären Sie)\b(?:[^.!?\n]|"
         rf"[.!?](?=\S)){{0,40}}?, dass\b"),
        r"\bjede (?:Frage|Anfrage) (?:nur |ausschließlich )?mit\b",
        r"\b(?:deine|Ihre) (?:Antwort|Ausgabe|Rückmeldung)(?:en)? (?:muss|soll|sollte|müssen|sollen|darf|hat zu) ",
        (rf"{_CLAUSE}(?:sag|sage|sagen Sie|teile|teilen Sie|erkläre|erklären Sie|empfiehl|empfehlen Sie|rate|raten"
         rf" Sie) (?:dem|den) {_DE_USER}\b"),
    ],
    "conceal": [
        (r"\b(?:erwähne|erwähnen Sie|sag|sage|sagen Sie|verrate|verraten Sie|erzähle|erzähl|erzählen Sie|zeige|zeigen"
         rf" Sie)(?: \w+){{0,2}}? (?:dem|den) {_DE_USER} (?:\w+ )?(?:nicht|nichts|niemals|nie)\b"),
        (r"\b(?:erwähne|erwähnen Sie|verrate|verraten Sie)(?: \w+){0,2}? (?:nicht|niemals|nie) (?:diese|die)"
         r" (?:Anweisung|Anweisungen|Nachricht|Notiz)\b"),
        (rf"\bohne (?:es )?(?:dem|den) {_DE_USER} (?:zu )?(?:sagen|mitzuteilen|mitteilen|erwähnen|zu erwähnen|"
         r"verraten|zu verraten|informieren|zu informieren)"),
        rf"\bohne (?:den|die) {_DE_USER} (?:darüber )?zu (?:informieren|benachrichtigen|warnen)",
    ],
    "system-prompt": [
        (r"\b(?:neue|geänderte|aktualisierte|wahre|eigentliche|geheime|versteckte|wichtige neue|vorrangige)"
         rf" {_DE_ORDERS}\s*[:\-–—]"),
        (r"\b(?:zeige|zeig|zeigen Sie|gib|geben Sie|nenne|nennen Sie|verrate|verraten Sie|wiederhole|wiederholen"
         r" Sie)(?: mir)? (?:deinen|deine|Ihren|Ihre|den|die) (?:vollständigen? |ursprünglichen? |geheimen?"
         r" )?(?:System-?[Pp]rompt|Systemanweisung(?:en)?|Systemnachricht|Anweisungen|Instruktionen)\b"),
    ],
    "address": [
        (r"\b(?:Hinweis|Nachricht|Anweisung|Anweisungen|Achtung|Notiz|Mitteilung|Befehl) (?:an|für) (?:die |den |das"
         rf" |alle |jede |jeden |jedes )?{_DE_MODEL}\b"),
        rf"\b(?:wenn|falls) (?:du|Sie) (?:ein|eine|der|die|das) (?:\w+ )?{_DE_MODEL} (?:bist|sind)\b",
        rf"\bals {_DE_MODEL},? (?:musst|sollst|darfst|wirst|müssen|sollen|dürfen|werden) (?:du|Sie)\b",
        rf"\b(?:liebe|lieber|liebes|hallo|hey|achtung),? {_DE_MODEL}\b",
        (r"\b(?:wer|jede[rs]?|alle) (?:\w+ ){0,2}?(?:diesen|dieses|diese) (?:Text|Dokument|Seite|Abschnitt|Absatz|"
         r"Artikel) (?:\w+ ){0,2}?(?:liest|verarbeitet|zusammenfasst|analysiert|sieht)\b"),
    ],
    "exfiltrate": [
        (r"\b(?:API-?Schlüssel|Passw(?:ort|örter)|Kennw(?:ort|örter)|Zugangsdaten|Anmeldedaten|Token|Chatverlauf|"
         rf"Gesprächsverlauf|Sitzungs-?IDs?|E-Mail-Adressen?|persönlichen Daten) (?:des|der) {_DE_USER}\b"),
        (rf"{_CLAUSE}(?:fordere|fordern Sie|bitte|bitten Sie|weise|weisen Sie|sag|sage|sagen Sie)(?: \w+)? (?:den|dem|"
         rf"die) {_DE_USER}\b(?:[^.!?\n]|[.!?](?=\S)){{0,60}}?\b(?:zu besuchen|zu öffnen|zu klicken|zu gehen|"
         r"herunterzuladen|einzugeben|zu senden|zu schicken|anzugeben|zu installieren|preiszugeben|mitzuteilen)\b"),
        (r"\b(?:sende|schicke|übermittle|senden Sie|schicken Sie|übermitteln Sie) (?:ihn|sie|es|alles|die Antwort|den"
         r" Verlauf|die Daten) an (?:https?://|\S+@\S+\.\w+|die (?:folgende )?(?:URL|Adresse))"),
    ],
}

_FR_ORDERS = r"(?:consignes?|instructions?|directives?|règles|ordres|commandes|indications|prompts?|messages?)"
_FR_BEFORE = (r"(?:précédente?s?|antérieure?s?|ci-dessus|d'avant|initiales?|d'origine|originales?|du système|"
              r"système|reçue?s?|données (?:plus haut|auparavant|avant|jusqu'ici))")
_FR_MODEL = (r"(?:IA|I\.A\.|intelligence artificielle|assistante?s?(?: IA| virtuel(?:le)?)?|modèles? de langage|"
             r"chatbots?|LLMs?|agents? conversationnels?|ChatGPT|GPT|robots?|systèmes? automatiques?|"
             r"lecteurs? automatiques?)")
_FR_USER = r"(?:l'utilisat(?:eur|rice)|les utilisateurs|le lecteur|la lectrice|le client|la cliente)"

_FR = {
    "override": [
        (r"\b(?:ignore[zrs]?|oublie[zrs]?|néglige[zr]?|écarte[zr]?|contourne[zr]?|outrepasse[zr]?|ne (?:tiens|tenez|"
         r"tient) (?:pas|plus) compte|fai(?:s|tes) abstraction)(?: (?:de|des|d'|du|toutes?|tous|les|tes|vos|ces|ses|"
         rf"mes|la|le|l'))* ?{_FR_ORDERS}(?: \w+)? {_FR_BEFORE}"),
        (r"\b(?:ignore[zr]?|oublie[zr]?|ne (?:tiens|tenez) (?:pas|plus) compte de) (?:toutes?|tous) (?:les |tes |vos"
         rf" |ces )?{_FR_ORDERS}"),
        (r"\b(?:oublie[zr]?|ignore[zr]?) tout ce qui (?:précède|a été dit|t'a été dit|vous a été dit|est écrit (?:plus"
         r" haut|ci-dessus|avant))"),
        r"\b(?:oublie[zr]?|ignore[zr]?) ce qu'on (?:t'|vous )?a (?:demandé|dit|ordonné)",
        (r"\bne (?:suis|suivez|respecte|respectez|obéis|obéissez)(?: plus| pas)(?: aux?| les| tes| vos)?"
         rf" {_FR_ORDERS}(?: \w+)? ?{_FR_BEFORE}?"),
    ],
    "role": [
        (r"\b(?:tu es|vous êtes|t'es) (?:maintenant|désormais|dorénavant|à présent|à partir de maintenant) (?:un|une|"
         r"le|la|l'|mon|ma|plus)\b"),
        (r"\b(?:à partir de maintenant|dorénavant|désormais|à partir d'aujourd'hui|dès maintenant),? (?:tu|vous)"
         r" (?:es|êtes|dois|devez|vas|allez|réponds|répondez|agis|agissez|parles|parlez|seras|serez|répondras|"
         r"répondrez|ne)\b"),
        r"\b(?:fais|faites) (?:comme si|semblant d'être) ",
        (r"\b(?:agis|agissez|comporte-toi|comportez-vous|réponds|répondez) (?:comme|en tant qu'?) (?:une? |le |la |"
         rf"l')?(?:\w+ )?{_FR_MODEL}"),
        (r"\b(?:ton|ta|votre) (?:nouveau |nouvelle |vrai |vraie |véritable )(?:rôle|mission|tâche|identité|objectif|"
         r"persona) (?:est|sera|consiste)\b"),
    ],
    "output": [
        (r"\b(?:réponds|répondez|répondre|écris|écrivez|dis|dites|affiche|affichez|renvoie|renvoyez)(?: \w+)?"
         r" (?:uniquement|seulement|exclusivement|simplement|juste|toujours) (?:par|avec|en|:|«|\"|oui|non|le mot|la"
         r" phrase|que)\b"),
        (r"\b(?:ne )?(?:réponds|répondez|dis|dites|écris|écrivez) (?:rien d'autre )?que (?:«|\"|par|le mot|la phrase|"
         r"oui|non)"),
        (rf"{_CLAUSE}(?:réponds|répondez|dis|dites|affirme|affirmez|déclare|déclarez|indique|indiquez|explique|"
         rf"expliquez)(?: (?:à )?{_FR_USER})? que\b"),
        r"\b(?:ta|votre) (?:réponse|sortie) (?:finale )?(?:doit|devra|devrait|ne doit)\b",
        (r"\b(?:tout|toute|chaque) (?:résumé|réponse|synthèse) (?:\w+ ){0,3}?(?:de|du|sur) (?:ce|cette) (?:texte|"
         r"document|page|article|passage|résumé)\b(?:[^.!?\n]|[.!?](?=\S)){0,30}?\b(?:doit|devra|devrait)\b"),
        (rf"{_CLAUSE}(?:dis|dites|informe|informez|rappelle|rappelez|conseille|conseillez|demande|demandez) (?:à"
         rf" )?{_FR_USER}\b"),
    ],
    "conceal": [
        (r"\bne (?:le |lui |leur |rien )?(?:dis|dites|mentionne|mentionnez|révèle|révélez|signale|signalez|parle|"
         rf"parlez|montre|montrez)(?: \w+)? (?:pas|jamais|rien)(?: \w+){{0,2}}? (?:à {_FR_USER}|à personne|ces"
         r" (?:instructions|consignes)|cette (?:instruction|consigne)|ce message|de (?:ces|cette) (?:instructions?|"
         r"consignes?))"),
        rf"\bsans (?:le dire|en informer|en parler|informer|prévenir|avertir|le signaler) (?:à )?{_FR_USER}",
    ],
    "system-prompt": [
        (r"\b(?:nouvelles?|vraies?|véritables?|réelles?|secrètes?|cachées?|prioritaires?|mises? à jour) (?:consignes|"
         r"instructions|directives|ordres)\s*[:\-–—]"),
        (r"\b(?:révèle|révélez|affiche|affichez|montre|montrez|répète|répétez|donne|donnez|écris|écrivez)(?:-moi|"
         r" moi)? (?:ton|votre|le|tes|vos|les) (?:prompt système|invite système|prompt initial|message système|"
         r"instructions (?:système|initiales|d'origine|cachées)|consignes (?:système|initiales|d'origine|cachées))"),
    ],
    "address": [
        (r"\b(?:note|message|instructions?|consignes?|avis|attention|remarque|rappel) (?:à|pour) (?:l'|la |le |les |"
         rf"toute |tout |toutes |tous |chaque )?{_FR_MODEL}"),
        rf"\bsi (?:tu es|vous êtes) (?:une? |l'|la |le )(?:\w+ )?{_FR_MODEL}",
        rf"\ben tant qu'(?:{_FR_MODEL}|une? {_FR_MODEL}),? (?:tu|vous) (?:dois|devez|ne|es|êtes)",
        rf"\b(?:chère|cher|bonjour|salut|attention),? {_FR_MODEL}\b",
        rf"\bà l'(?:intention|attention) (?:du |de la |des |de l')?{_FR_MODEL}",
        (rf"\b(?:{_FR_MODEL}) qui (?:lit|lisent|résume|résument|traite|traitent|analyse|analysent) (?:ceci|ce texte|ce"
         r" document|cette page)"),
    ],
    "exfiltrate": [
        (r"\b(?:la |les |sa |ses |son )?(?:clés? d'API|clés? API|mots? de passe|identifiants|jetons? d'accès|jetons?|"
         r"historique de (?:la )?conversation|historique du chat|cookies?|adresses? e-?mail|données personnelles)"
         rf" (?:de {_FR_USER}|des utilisateurs|du client|de la conversation)"),
        (rf"{_CLAUSE}(?:dis|dites|demande|demandez|invite|invitez|conseille|conseillez|incite|incitez) (?:à"
         rf" )?{_FR_USER} (?:de |d'|à )(?:visiter|cliquer|ouvrir|aller|se rendre|télécharger|saisir|entrer|envoyer|"
         r"fournir|installer|confirmer)"),
        (r"\b(?:envoie|envoyez|transmets|transmettez|poste|postez)(?:-la|-les|-le)? (?:la réponse |l'historique |les"
         r" données |tout )?(?:à|vers|sur) (?:https?://|\S+@\S+\.\w+|l'adresse|l'URL)"),
    ],
}

_ES_ORDERS = (r"(?:instrucciones|indicaciones|órdenes|ordenes|reglas|directrices|directivas|normas|comandos|"
              r"consignas|pautas|prompts?|mensajes)")
_ES_BEFORE = (r"(?:anteriores|previas|previos|de arriba|precedentes|iniciales|originales|del sistema|de antes|"
              r"dadas|recibidas|que (?:te )?(?:dieron|han dado|dimos|recibiste))")
_ES_MODEL = (r"(?:IA|I\.A\.|inteligencia artificial|asistentes?(?: de IA| virtual(?:es)?)?|modelos? de lenguaje|"
             r"chatbots?|LLMs?|agentes? conversacional(?:es)?|ChatGPT|GPT)")
_ES_USER = r"(?:(?:al|el|los|del) (?:usuari[oa]s?|lector(?:es)?|cliente)|a la usuaria|la usuaria)"

_ES = {
    "override": [
        (r"\b(?:ignora|ignore|ignorad|ignoren|olvida|olvide|olviden|olvidad|descarta|descarte|omite|omita|desestima|"
         r"desestime|desatiende|desatienda|(?:haz|haga|hagan) caso omiso|no (?:hagas|haga) caso)(?: (?:de|a|las|los|"
         rf"tus|sus|todas|todos|estas|esas|cualquier|cualquiera))* {_ES_ORDERS}(?: \w+)? {_ES_BEFORE}"),
        (r"\b(?:ignora|ignore|olvida|olvide|descarta|descarte|omite|omita) (?:todas|todos) (?:las |los |tus |sus |"
         rf"estas )?{_ES_ORDERS}"),
        (r"\b(?:olvida|olvide|ignora|ignore) todo lo (?:anterior|que (?:te|le) (?:dijeron|han dicho|dije|dijimos)|"
         r"dicho|de arriba)"),
        rf"\b(?:deja|deje|dejad|dejen) de lado (?:todas |todos )?(?:las |los |tus |sus )?{_ES_ORDERS}",
        (r"\bno (?:sigas|siga|obedezcas|obedezca|respetes|respete|cumplas|cumpla)(?: más)? (?:las |los |tus |sus"
         rf" )?{_ES_ORDERS}(?: \w+)? ?{_ES_BEFORE}?"),
    ],
    "role": [
        (r"\b(?:ahora|a partir de ahora|desde ahora|de ahora en adelante|a partir de este momento|desde este"
         r" momento),? (?:tú |usted )?(?:eres|serás|sos|es usted|usted es|actúas|actuarás|respondes|responderás|"
         r"respondas|debes|deberás|vas a|solo|sólo|nunca|siempre) "),
        r"\b(?:tú|usted) (?:eres|es) ahora (?:un|una|el|la|mi)\b",
        r"\b(?:ahora|ya) (?:eres|es usted) (?:un|una|el|la|mi)\b",
        (r"\b(?:finge|finja|imagina que eres|imagine que es|actúa como|actúe como|compórtate como|compórtese como|"
         r"responde como si fueras|responda como si fuera)\b"),
        (r"\b(?:tu|su) (?:nuevo|nueva|verdadero|verdadera|auténtico|auténtica) (?:rol|papel|tarea|identidad|objetivo|"
         r"misión|función) (?:es|será|consiste)\b"),
    ],
    "output": [
        (r"\b(?:responde|responda|respondan|contesta|conteste|di|diga|escribe|escriba|devuelve|devuelva|imprime|"
         r"imprima)(?: \w+)? (?:solo|sólo|solamente|únicamente|exclusivamente|nada más que|siempre) (?:con|en|\"|«|la"
         r" palabra|la frase|sí|no|que|:)"),
        (rf"{_CLAUSE}(?:responde|responda|contesta|conteste|di|diga|afirma|afirme|declara|declare|dile|dígale|explica|"
         rf"explique)(?: {_ES_USER})? que\b"),
        r"\b(?:tu|su|cada) respuesta (?:final )?(?:debe|tiene que|deberá|debería|ha de)\b",
        (rf"{_CLAUSE}(?:dile|dígale|dile al usuario|informa|informe|recuerda|recuerde|aconseja|aconseje|indica|"
         r"indique) (?:a |al )?(?:usuari[oa]|lector|cliente)\b"),
    ],
    "conceal": [
        (r"\bno (?:le |les )?(?:digas|diga|menciones|mencione|reveles|revele|cuentes|cuente|informes|informe|"
         rf"muestres|muestre)(?: nada)?(?: de esto| sobre esto)? (?:{_ES_USER}|a nadie|estas instrucciones|esta"
         r" instrucción|este mensaje|nada de esto)"),
        rf"\bsin (?:decírselo|decirle nada|informar|avisar|contarle|notificar)(?: a| al)? ?{_ES_USER}",
    ],
    "system-prompt": [
        (r"\b(?:nuevas|verdaderas|auténticas|reales|secretas|ocultas|actualizadas|prioritarias) (?:instrucciones|"
         r"indicaciones|órdenes|directrices|consignas)\s*[:\-–—]"),
        (r"\b(?:revela|revele|muestra|muestre|repite|repita|imprime|imprima|dime|dígame|dame|deme|escribe|escriba)(?:"
         r" me)? (?:tu|su|el|las|tus|sus) (?:prompt (?:del|de) sistema|prompt inicial|mensaje (?:del|de) sistema|"
         r"instrucciones (?:del sistema|de sistema|iniciales|originales|ocultas))"),
    ],
    "address": [
        (r"\b(?:nota|mensaje|instrucci(?:ón|ones)|aviso|atención|recordatorio|orden) (?:para|a) (?:la |el |los |las |"
         rf"cualquier |toda |todo |cada )?{_ES_MODEL}"),
        rf"\bsi (?:eres|es usted|usted es) (?:una?|el|la) (?:\w+ )?{_ES_MODEL}",
        rf"\bcomo {_ES_MODEL},? (?:debes|tienes que|deberás|no debes|usted debe)",
        rf"\b(?:querida|querido|hola|oye|atención),? {_ES_MODEL}\b",
        (r"\b(?:cualquier|todo|toda|cada|el|la) (?:\w+ )?(?:sistema|modelo|asistente|lector|programa|IA|herramienta|"
         r"chatbot)s? (?:\w+ )?que (?:lea|lee|procese|procesa|resuma|resume|vea|analice|analiza) (?:este|esta|estos)"
         r" (?:texto|documento|página|artículo|mensaje|párrafo)"),
    ],
    "exfiltrate": [
        (r"\b(?:la |las |su |sus )?(?:claves? (?:de )?API|contraseñas?|credenciales|tokens? de acceso|tokens?|"
         r"historial de (?:la )?conversación|historial del chat|cookies?|direcci(?:ón|ones) de correo|datos"
         r" personales) (?:del (?:usuario|cliente)|de los usuarios|de la usuaria|de la conversación)"),
        (rf"{_CLAUSE}(?:dile|dígale|pide|pídele|pídale|indica|indícale|indíquele|invita|invite)(?: {_ES_USER})? (?:al"
         r" usuario |a la usuaria )?(?:que |a )(?:visite|visitar|haga clic|hacer clic|abra|abrir|vaya|ir|descargue|"
         r"descargar|introduzca|introducir|envíe|enviar|ingrese|ingresar|escriba|escribir|instale|instalar)"),
        (r"\b(?:envía|envíe|envíalo|envíela|manda|mande|transmite|transmita) (?:la respuesta |el historial |los datos"
         r" |todo )?(?:a|al?) (?:https?://|\S+@\S+\.\w+|la (?:dirección|URL))"),
    ],
}

# The rule a sentence is reported under when several match it: the most specific first.
_PRECEDENCE = ("override", "role", "exfiltrate", "system-prompt", "conceal", "output", "address")


def _compiled(table: dict[str, list]) -> list[tuple[str, frozenset[str] | None, re.Pattern[str]]]:
    """(rule, gate words or None, pattern) for every pattern of a language's table."""
    out = []
    for rule, patterns in sorted(table.items(), key=lambda item: _PRECEDENCE.index(item[0])):
        for entry in patterns:
            gate, pattern = entry if isinstance(entry, tuple) else (None, entry)
            out.append((rule, frozenset(gate.split()) if gate else None, _rule(pattern)))
    return out


_INSTRUCTION_RULES = {language: _compiled(table)
                      for language, table in (("en", _EN), ("de", _DE), ("fr", _FR), ("es", _ES))}

_WORD = re.compile(r"[a-z]+")

# A language's rules run only on text holding one of its trigger words (stems of the rules' verbs and nouns,
# and short words no English text uses): English text is spared three quarters of the rules, the screen's
# cost being mostly these regular expressions.
_LANGUAGE_GATES = {
    language: re.compile(rf"\b(?:(?:{stems})\w*|(?:{words})\b)", re.IGNORECASE)
    for language, stems, words in (
        ("de", ("anweisung|instruktion|befehl|vorgabe|richtlinie|ignorier|vergiss|vergess|missacht|übergeh|verwirf|"
               "antwort|nutzer|benutzer|anwender|sprachmodell|assistent|passwort|passwört|kennw|zugangsdaten|"
               "schlüssel|fordere|erwähn|verrat|erzähl|behaupt|verhalte|agier|hinweis|achtung|zusammenfass|verarbeit|"
               "empfiehl|empfehl|beiseite|deine|ihre|sofort|regeln"),
         ("du|dich|dir|sie|gib|sag|füge|bitte|zeig|lass|wer|wenn|ohne|nur|dass|und|nicht|dem|alle|jede|ist|sind|auch|"
         "noch|oder|aber|immer|jetzt|nun|eine|einen|der|das|ich|wir|euch|ihr")),
        ("fr", ("consigne|néglig|contourn|outrepass|répond|répon|utilisat|désormais|dorénavant|maintenant|modèle|"
               "identifiant|envoie|conseill|révèl|affich|répèt|nouvelle|oubli|résum|précéd|antérieur"),
         ("tu|vous|toi|dis|dites|que|qu|les|une|avec|sans|cette|ceci|demande|demandez|montre|montrez|dans|aux|être|"
         "sont|très|plutôt|nouveau|celui|celle|rôle|leur|tiens|tenez|compte|ci-dessus|toujours|jamais|tout|toutes")),
        ("es", ("instrucci|indicaci|órden|directri|olvid|desestim|usuari|contraseñ|credencial|historial|dígale|"
               "pídele|pídale|indícale|finge|actúa|compórt|pauta|ahora|asistente|nuev|muestra|repite"),
         ("eres|tu|tus|usted|su|sus|que|las|una|con|sin|dile|pide|este|esta|cada|lado|momento|revela|revele|"
         "responde|responda|respondas|contesta|conteste|modelo|reglas|descarta|descarte|omite|omita|ignora|pero|"
         "porque|como|muy|también|aquí|siempre|nunca|todo|todas|todos|nada|algo|según|para|por|el|la|es|y")),
    )
}


def _languages(text: str) -> list[str]:
    gated = [language for language, gate in _LANGUAGE_GATES.items() if gate.search(text)]
    return ["en", *gated]


# ---------------------------------------------------------------------------------------------------
# Delimiter rules: imitations of the prompt's own structure (rag.prompts) and of chat templates.

# (rule, gate, pattern): the pattern is searched only in text holding one of the gate's strings (lower case).
_DELIMITER_RULES: list[tuple[str, tuple[str, ...], re.Pattern[str]]] = [
    # A line opening with a label as rag.prompts writes one ("[S3] Title — page 2"), a "Source S3:" header,
    # a bracketed or tagged source block, a fake end of the sources.
    ("source-label", ("[s",), re.compile(r"^[ \t>*#-]*\[S\d+\]", re.MULTILINE)),
    ("source-label", ("source", "[/", "[document", "[context"),
     re.compile(r"\bSources? S\d+\s*:|\[/?(?:source|sources|document|context)(?:[ =:]\w[^\]\n]{0,40})?\](?!\()",
                re.IGNORECASE)),
    ("source-label", ("---", "===", "##", "***", "[", "<"),
     re.compile(r"(?:-{3,}|={3,}|#{2,}|\*{3,}|\[|<)\s*(?:END|BEGIN|START) (?:OF )?(?:THE )?"
                r"(?:SOURCES?|CONTEXT|DOCUMENTS?|RETRIEVED \w+|PASSAGES?|INPUT|SYSTEM PROMPT)\b", re.IGNORECASE)),
    ("source-label", ("<",),
     re.compile(r"</?(?:source|sources|document|documents|context|passage|search_results?|retrieved)"
                r"(?:\s[^<>]{0,80})?>", re.IGNORECASE)),
    # Chat templates' markup (rag.source_text escapes it in the prompt; here it is reported).
    ("chat-markup", ("<", "inst]"),
     re.compile(r"<\|[^<>|\n]{1,64}\|>|\[/?INST\]|<</?SYS>>|"
                r"</?(?:system|assistant|user|im_start|im_end|think|reasoning|answer)>|</?s>", re.IGNORECASE)),
    ("chat-markup", ("##",),
     re.compile(r"^[ \t]*#{2,4}[ \t]*(?:Instructions?|System|Response|Assistant|Human|User|Input)[ \t]*:?[ \t]*$",
                re.MULTILINE | re.IGNORECASE)),
    # A role line: "system: …" or "ASSISTANT: …", not a Title-case field label ("System: HydroView"); and a
    # transcript of user and assistant turns.
    ("role-line", ("system", "assistant", "developer"),
     re.compile(r"(?:^|(?<=[.!?] ))[ \t]*(?:system|assistant|developer|SYSTEM|ASSISTANT|DEVELOPER)[ \t]*:[ \t]*(?=\S)",
                re.MULTILINE)),
    ("role-line", ("user", "human"),
     re.compile(r"^[ \t]*(?:Human|User|USER|HUMAN)[ \t]*:.*\n(?:.*\n){0,6}?[ \t]*(?:Assistant|ASSISTANT|AI|Bot)[ \t]*:",
                re.MULTILINE)),
    # The screen's own quotation brackets: text holding them could close a quotation early.
    ("quote-mark", QUOTE_MARKS, re.compile(f"[{''.join(QUOTE_MARKS)}]")),
]

_SENTENCE_END = re.compile(r"[.!?][\"'»”)\]]*(?=\s|$)|\n")


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence (or line) around ``text[start:end]``, at most ``_SENTENCE_REACH`` wider each side."""
    floor = max(0, start - _SENTENCE_REACH)
    left = floor
    for boundary in _SENTENCE_END.finditer(text, floor, start):
        left = boundary.end()
    ceiling = min(len(text), end + _SENTENCE_REACH)
    boundary = _SENTENCE_END.search(text, end, ceiling)
    right = ceiling if boundary is None else (boundary.start() if boundary.group() == "\n" else boundary.end())
    while left < right and text[left].isspace():
        left += 1
    return left, max(right, end)


def _original_span(where: list[int] | None, start: int, end: int, length: int) -> tuple[int, int]:
    if where is None:
        return start, end
    if not where:
        return 0, 0
    first = where[min(start, len(where) - 1)]
    last = where[end - 1] + 1 if end > 0 else first
    return first, min(max(last, first), length)


def find_injections(text: str) -> list[Finding]:
    """Everything in ``text`` aimed at the model, in order of position (the module's docstring says what).
    Spans index ``text`` itself; an instruction's span is its whole sentence."""
    if not text:
        return []
    hidden = _hidden_positions(text)
    findings = _hidden_findings(text, hidden)
    visible, where = _visible(text, hidden)

    seen: set[tuple[int, int]] = set()
    lowered = visible.lower()
    words = set(_WORD.findall(lowered)) | ({"ai"} if "a.i." in lowered else set())
    for language in _languages(visible):
        for rule, gate, pattern in _INSTRUCTION_RULES[language]:
            if gate is not None and words.isdisjoint(gate):
                continue
            for match in pattern.finditer(visible):
                left, right = _sentence(visible, match.start(), match.end())
                if right - match.end() <= 2:  # "Ignore the above rules." says nothing else: what to do follows
                    right = _sentence(visible, right, min(right + 1, len(visible)))[1]
                start, end = _original_span(where, left, right, len(text))
                if (start, end) in seen:
                    continue
                seen.add((start, end))
                sentence = " ".join("".join(c for c in text[start:end] if not is_hidden_character(c)).split())
                findings.append(Finding("instruction", rule, sentence, start, end, language))

    for rule, gate, pattern in _DELIMITER_RULES:
        if not any(part in lowered for part in gate):
            continue
        for match in pattern.finditer(visible):
            if not match.group(0).strip():
                continue
            start, end = _original_span(where, match.start(), match.end(), len(text))
            findings.append(Finding("delimiter", rule, match.group(0).strip(), start, end))
    return sorted(findings, key=lambda f: (f.start, f.end, f.kind))
