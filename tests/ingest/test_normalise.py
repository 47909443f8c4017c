"""Element text is normalised before it is assembled (ingest.normalise), page furniture and margin
stamps are dropped (ingest.furniture), and every block still points at its own text in the stored
document. The PDF fixture is written here with reportlab: a preprint with a junk metadata title, a
large title, a rotated arXiv stamp, a running header and page numbers, a ligature and a word
hyphenated across a line break."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ingest.furniture import find_furniture, single_characters, strip_stamps
from ingest.normalise import Vocabulary, normalise_text, nfkc, packaged_words, prepare_text
from ingest.parse import assemble, parse_file

LIGATURES = "".join(chr(code) for code in range(0xFB00, 0xFB07))
PDF_TITLE = "Sparse Retrieval for Pump Maintenance Manuals"
RUNNING_HEADER = "Pump Manual Series - Internal Draft"
STAMP = "arXiv:2401.01234v1 [cs.IR] 5 Jan 2024"


class Element:
    def __init__(self, category: str, text: str, page: int | None = None, filetype: str | None = None):
        self.category, self.text = category, text
        self.metadata = type("M", (), {"page_number": page, "category_depth": None, "filetype": filetype})()


def vocabulary(*texts: str, known: str = "") -> Vocabulary:
    return Vocabulary(texts, known=frozenset(known.split()))


# --------------------------------------------------------------------------------------------
# Characters and whitespace
# --------------------------------------------------------------------------------------------


def test_ligatures_and_full_width_forms_are_folded():
    assert nfkc("the ﬁrst ﬂow ﬀect ﬃx ﬄe ﬅ") == "the first flow ffect ffix ffle st"
    assert nfkc("ＢＥＲＴ　ｍｏｄｅｌ　１２") == "BERT model 12"
    assert nfkc("12\u00a0kPa") == "12 kPa"


def test_superscripts_subscripts_and_fractions_keep_their_meaning():
    assert nfkc("10⁻³ m² of H₂O, ½ turn, ﬁne") == "10⁻³ m² of H₂O, ½ turn, fine"


def test_control_characters_zero_widths_and_soft_hyphens_go():
    assert prepare_text("pump\x00 sta\u200btion\ufeff") == "pump station"
    assert prepare_text("lubri\u00adcation and lubri\u00ad\ncant") == "lubrication and lubricant"
    assert prepare_text("line one\r\nline two\rthree") == "line one\nline two\nthree"


def test_whitespace_is_collapsed_and_line_breaks_are_kept():
    text = normalise_text("  the \t pump   runs \n   at  night\n\n\n\n\nend  ", vocabulary())
    assert text == "the pump runs\nat night\n\nend"


# --------------------------------------------------------------------------------------------
# Words broken across lines
# --------------------------------------------------------------------------------------------


def test_a_word_broken_at_a_line_end_is_joined_when_the_joined_word_is_known():
    words = vocabulary(known="implementation")
    assert normalise_text("the implementa-\ntion of it", words) == "the implementation of it"
    # unstructured turns a PDF's line breaks into spaces: there "- " is a line end too ...
    assert normalise_text("the implementa- tion of it", words, line_joined=True) == "the implementation of it"
    # ... but typed text means it ("implementa- tion" stays in a DOCX or a Markdown file)
    assert normalise_text("the implementa- tion of it", words) == "the implementa- tion of it"


def test_the_packaged_word_lists_know_common_words():
    words = packaged_words()
    assert len(words) > 20_000
    assert {"implementation", "information", "between", "attention"} <= words
    assert normalise_text("Its implementa- tion and the infor- mation", Vocabulary([]), line_joined=True) == (
        "Its implementation and the information"
    )


def test_the_document_itself_decides_between_joined_and_hyphenated():
    # "optimizer" is in no word list; the document uses it whole elsewhere
    document = vocabulary("We tune the optimizer.", "The optimizer state is kept.")
    assert normalise_text("the opti- mizer", document, line_joined=True) == "the optimizer"
    # unknown, and never used whole: left as it stands, not glued blindly
    assert normalise_text("the opti- mizer", vocabulary(), line_joined=True) == "the opti- mizer"
    # the document writes "e-mail" more often than "email": the hyphen stays
    mail = vocabulary("send an e-mail", "the e-mail address", "email", known="email")
    assert normalise_text("by e- mail", mail, line_joined=True) == "by e-mail"


def test_hyphens_that_are_not_line_breaks_stay():
    words = vocabulary(known="self attention state of the art pre and post training model")
    assert normalise_text("GPT-3 and GPT- 3 and 2nd- order", words, line_joined=True) == (
        "GPT-3 and GPT- 3 and 2nd- order"
    )
    # a suspended hyphen before a conjunction is English, not a break
    assert normalise_text("pre- and post-training", words, line_joined=True) == "pre- and post-training"
    # two known words, no joined word: a compound whose hyphen ended the line
    assert normalise_text("uses self- attention", words, line_joined=True) == "uses self-attention"
    assert normalise_text("a state-of-the- art model", words, line_joined=True) == "a state-of-the-art model"
    # a capitalised second half is a new word unless the document hyphenates the pair
    assert normalise_text("Transformer- Based", words, line_joined=True) == "Transformer- Based"
    assert normalise_text("Transformer- Based", vocabulary("Transformer-Based models"), line_joined=True) == (
        "Transformer-Based"
    )


def test_table_rows_are_never_joined_across_the_line_break():
    words = vocabulary(known="implementation")
    table = "Phase | implementa-\ntion | Cost"
    assert normalise_text(table, words, table=True) == table
    assert normalise_text("Phase | implementa- tion", words, line_joined=True, table=True) == "Phase | implementation"


# --------------------------------------------------------------------------------------------
# Page furniture
# --------------------------------------------------------------------------------------------


SENTENCES = [
    "The relief valve opens at twelve bar.", "Grease the bearings monthly.", "Seals are checked weekly.",
    "The impeller is bronze.", "Log every start in the book.", "The strainer is cleaned daily.",
    "Spare parts sit in store B.", "The motor is rated for continuous duty.", "Isolate before opening.",
    "Vibration is read by hand.", "The coupling needs no oil.", "Check the level switch.",
    "Drain the casing in winter.", "The gland leaks a little.", "Report noise at once.",
    "The base plate is grouted.", "Torque the bolts evenly.", "Keep the guard closed.",
    "Prime the pump first.", "The check valve is new.",
]


def paged(pages: int, body: int = 4, header: str | None = RUNNING_HEADER) -> list[tuple[int, str, bool]]:
    """Distinct sentences between a running header and "Page n of N" on each page."""
    sentences = iter(SENTENCES * 3)
    items = []
    for page in range(1, pages + 1):
        if header:
            items.append((page, header, False))
        items += [(page, f"{next(sentences)} (page {page})", False) for _ in range(body)]
        items.append((page, f"Page {page} of {pages}", False))
    return items


def test_running_headers_and_page_numbers_are_furniture():
    items = paged(5)
    dropped = {items[index][1] for index in find_furniture(items)}
    assert dropped == {RUNNING_HEADER, *(f"Page {page} of 5" for page in range(1, 6))}


def test_repeats_in_the_middle_of_pages_or_on_too_few_pages_stay():
    assert find_furniture(paged(2)) == set()  # two pages: too few to tell furniture from text
    sentences = iter(SENTENCES * 2)
    middle = []
    for page in range(1, 6):  # the same line in the middle of every page is text
        middle += [(page, next(sentences), False) for _ in range(3)]
        middle += [(page, "Close the valve.", False), *[(page, next(sentences), False) for _ in range(3)]]
    assert find_furniture(middle) == set()
    tables = [(page, "Valve | Setting", True) for page in range(1, 6)]
    assert find_furniture(tables) == set()  # a table repeated on each page is not a running header
    identical = [(page, text, False) for page in range(1, 4) for text in ("Intro", "Open the valve.")]
    assert find_furniture(identical) == set()  # pages of nothing but repeats are text, repeated
    # furniture opens or closes a page: a repeat after the first line of text is not
    shifted = [(page, text, False) for page in range(1, 6)
               for text in (f"Body {SENTENCES[page]}", RUNNING_HEADER, f"More {SENTENCES[page + 5]}", "x")]
    assert {shifted[index][1] for index in find_furniture(shifted)} == {"x"}


def test_the_arxiv_stamp_is_dropped_in_pieces_and_cut_out_of_text():
    # as unstructured gives the stamp of preprint_pdf: reversed, in pieces, with "i" and "." apart
    reversed_pieces = ["4 2 0 2 n a", "J", "5 ] R", "I . s c [ 1 v 4 3 2 1 0 1 0 4 2 : v X r a", ".", "i"]
    items = [(1, piece, False) for piece in reversed_pieces] + [
        (1, "We study sparse retrieval.", False),
        (1, "x y", False),  # single characters, but on a page without a stamp they would stay
    ]
    # every single-character element of the stamped page goes, the prose stays
    assert find_furniture(items) == {0, 1, 2, 3, 4, 5, 7}
    assert find_furniture([(2, "x y", False), (2, "Text.", False)]) == set()
    assert strip_stamps(f"{STAMP} We study sparse retrieval.").strip() == "We study sparse retrieval."
    assert find_furniture([(1, STAMP[::-1], False)]) == {0}
    assert single_characters("y a M 4 2") and single_characters("J") and not single_characters("a pump")


# --------------------------------------------------------------------------------------------
# Assembled documents: spans point into the normalised text
# --------------------------------------------------------------------------------------------


def assert_spans_exact(document) -> None:
    assert document.blocks
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text


def test_blocks_point_into_the_normalised_text():
    pdf = "application/pdf"
    elements = [
        Element("Title", "1 Introduc\u00adtion", 1, pdf),
        Element("NarrativeText", "The ﬁrst  ﬁlter\u00a0stage. Its implementa- tion is simple.", 1, pdf),
        Element("NarrativeText", "ＷＩＤＥ text\x07 and a hyphen-\nated word.", 2, pdf),
        Element("Title", "2 Method", 2, pdf),
        Element("NarrativeText", "One implementation of the ﬂow, hyphenated.", 2, pdf),
    ]
    document = assemble(elements, fallback_title="doc")
    assert_spans_exact(document)
    assert not any(char in document.text for char in LIGATURES + "\u00ad\u00a0\x07")
    assert "Its implementation is simple." in document.text and "hyphenated word" in document.text
    assert "WIDE text and" in document.text
    assert [block.section_path for block in document.blocks][-1] == ("2 Method",)


def test_code_keeps_its_characters_and_indentation():
    code = "def fit(x):\n    return x   -  1  # ﬁt, opti-\nmizer\n"
    document = assemble([Element("Title", "Fitting", 1, "text/markdown"),
                         Element("CodeSnippet", "\r\n" + code, 1, "text/markdown")], fallback_title="doc")
    assert document.blocks[-1].text == code.rstrip()
    assert_spans_exact(document)


TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ-\n\t.,") + ["ﬁ", "ﬂ", "\u00ad", "\u00a0", "\u200b", "Ａ", "²", "\x00", "é"]),
    max_size=60,
)


@hsettings(max_examples=60, deadline=None)
@given(texts=st.lists(st.tuples(st.sampled_from(["Title", "NarrativeText", "ListItem"]), TEXT), max_size=12))
def test_spans_stay_exact_for_any_text(texts):
    elements = [Element(category, text, page=index // 3 + 1, filetype="application/pdf")
                for index, (category, text) in enumerate(texts)]
    document = assemble(elements, fallback_title="doc")
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text
        assert block.text and block.text == block.text.strip()
    assert not any(char in document.text for char in LIGATURES + "\u00ad\u200b\x00")


# --------------------------------------------------------------------------------------------
# A real PDF through the parser
# --------------------------------------------------------------------------------------------


def preprint_pdf(path: Path, metadata_title: str = "Microsoft Word - draft3.docx", big_title: bool = True,
                 stamp: bool = True) -> Path:
    """Three A4 pages: a running header and "Page n of 3" on each; on page 1 a 20 pt title, the
    arXiv stamp rotated in the left margin at 24 pt (larger than the title, as in real preprints), an
    e-mail address, a ligature and a word hyphenated across a line break."""
    import reportlab
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    fonts = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont("Vera", str(fonts / "Vera.ttf")))  # has the ﬁ and ﬂ glyphs
    pdfmetrics.registerFont(TTFont("VeraBd", str(fonts / "VeraBd.ttf")))
    width, height = A4
    pages = [
        ["The ﬁrst ﬁlter stage removes coarse particles before they reach the pump impeller.",
         "The implementa-",
         "tion of the cleaning schedule follows the vendor guidance for every station."],
        ["Bearings are greased every six hundred running hours with a lithium based grease.",
         "The operator records the grease quantity in the maintenance log of the station."],
        ["Seals are replaced when the leakage exceeds ten drops per minute at rated speed.",
         "A spare seal kit is kept in the store room next to the control cabinet."],
    ]
    headings = ["1 Filtration", "2 Bearings", "3 Seals"]
    sheet = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    sheet.setTitle(metadata_title)
    for number, (heading, lines) in enumerate(zip(headings, pages), start=1):
        sheet.setFont("Vera", 9)
        sheet.drawString(72, height - 40, RUNNING_HEADER)
        sheet.drawCentredString(width / 2, 30, f"Page {number} of 3")
        y = height - 110
        if number == 1:
            if big_title:
                sheet.setFont("VeraBd", 20)
                sheet.drawString(72, y, PDF_TITLE)
                y -= 36
            sheet.setFont("Vera", 10)
            sheet.drawString(72, y, "jane.doe@example.com")
            y -= 40
            if stamp:
                sheet.saveState()
                sheet.translate(40, 230)
                sheet.rotate(90)
                sheet.setFont("Vera", 24)
                sheet.drawString(0, 0, STAMP)
                sheet.restoreState()
        sheet.setFont("VeraBd", 13)
        sheet.drawString(72, y, heading)
        y -= 24
        sheet.setFont("Vera", 10)
        for line in lines:
            sheet.drawString(72, y, line)
            y -= 13
        sheet.showPage()
    sheet.save()
    return path


@pytest.fixture(scope="module")
def preprint(tmp_path_factory):
    return parse_file(preprint_pdf(tmp_path_factory.mktemp("pdf") / "sparse_retrieval.pdf"))


def test_a_preprint_pdf_comes_out_clean(preprint):
    text = preprint.text
    assert_spans_exact(preprint)
    assert not any(char in text for char in LIGATURES)
    assert "The first filter stage" in text
    assert "The implementation of the cleaning schedule" in text and "implementa-" not in text
    assert RUNNING_HEADER not in text and "Page 2 of 3" not in text
    assert "arXiv" not in text and not any(single_characters(block.text) for block in preprint.blocks)
    assert preprint.title == PDF_TITLE
    assert {block.section_path for block in preprint.blocks} >= {("1 Filtration",), ("3 Seals",)}
    assert not any("@" in part for block in preprint.blocks for part in block.section_path)
