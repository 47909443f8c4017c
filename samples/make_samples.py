"""Write the binary sample documents: ``safety_manual.pdf`` and ``hr_oncall_policy.docx``.

    python samples/make_samples.py            # rewrites them next to this script
    python samples/make_samples.py OUTDIR     # writes them into OUTDIR instead

The output is deterministic: re-running with the same reportlab / python-docx / zlib versions
gives byte-identical files. reportlab runs with ``invariant=1`` (fixed creation date and
document ID); the DOCX gets fixed core properties and is re-zipped with fixed member timestamps,
because python-docx stamps every zip member with the current time.

The text and markdown samples in this folder are written by hand; only the two binary formats
need a generator. Everything here is original writing about a fictional company, released
under CC0 (see README.md).
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

PDF_NAME = "safety_manual.pdf"
DOCX_NAME = "hr_oncall_policy.docx"

# Metadata dates baked into the files (the DOCX core properties, the DOCX zip members).
FIXED_DATETIME = datetime(2024, 3, 1, 9, 0, 0)
ZIP_DATE_TIME = (2024, 3, 1, 9, 0, 0)


# --------------------------------------------------------------------------------------------
# Safety manual (PDF, three pages)
# --------------------------------------------------------------------------------------------


def _safety_manual_bytes() -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    # Text extraction (pdfminer) decides what belongs together by the gaps between lines:
    # - with reportlab's default spacing a heading is merged into the paragraph before or after
    #   it, so headings get more room;
    # - a heading that starts "1. ..." is classified as a list item, hence "Section 1: ...";
    # - the standard fonts have no ToUnicode entry for the bullet glyph (it comes out as
    #   "(cid:127)") and a hanging indent splits an item's wrapped lines into separate text
    #   boxes, so list items are plain paragraphs that start with "- ".
    title = ParagraphStyle("DocTitle", parent=styles["Title"], spaceAfter=16)
    h1 = ParagraphStyle("H1", parent=styles["Heading1"], spaceBefore=18, spaceAfter=12)
    h2 = ParagraphStyle("H2", parent=styles["Heading2"], spaceBefore=14, spaceAfter=10)

    def p(text: str) -> Paragraph:
        return Paragraph(text, body)

    def bullets(*items: str) -> list[Paragraph]:
        return [Paragraph(f"- {item}", body) for item in items]

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(
            20 * mm,
            12 * mm,
            f"Aldermoor Station Safety Manual - Revision 4 - page {doc.page}",
        )
        canvas.restoreState()

    ppe = Table(
        [
            ["Area", "Minimum PPE"],
            ["Turbine hall", "Hard hat, safety boots, hearing protection"],
            ["Dam crest and intake", "Hard hat, safety boots, life jacket"],
            ["Switchyard (33 kV)", "Arc-rated clothing, insulating gloves, face shield"],
            ["Confined spaces", "Harness, gas monitor, hard hat, head torch"],
        ],
        colWidths=[45 * mm, 110 * mm],
    )
    ppe.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )

    story = [
        Paragraph("Aldermoor Station Safety Manual", title),
        p(
            "Northwind Hydro. Revision 4, effective 1 March 2024. Owner: Priya Raman, Safety "
            "Officer. This revision replaces Revision 3 of September 2022."
        ),
        Spacer(1, 6),
        Paragraph("Section 1: Scope and responsibilities", h1),
        p(
            "This manual applies to every employee, contractor and visitor at Aldermoor Station: "
            "the dam, the intake, the powerhouse with its three generating units, the tailrace "
            "and the 33 kV switchyard."
        ),
        p(
            "The Safety Officer, Priya Raman, owns this manual and reviews it every two years or "
            "after any serious incident. Shift supervisors make sure that everyone on their shift "
            "has read it. Visitors must be escorted by a member of staff at all times."
        ),
        Paragraph("Section 2: Lockout and tagout", h1),
        p(
            "No one may work on a turbine, generator, valve or gate until it has been isolated "
            "from every source of energy: water, electricity, oil pressure and stored mechanical "
            "energy."
        ),
        *bullets(
            "Only an Authorised Person may carry out an isolation.",
            "Every isolation is checked by a second Authorised Person before work starts "
            "(two-person verification).",
            "Each worker fits their own yellow personal padlock to the lockout hasp; red danger "
            "tags mark every isolation point.",
            "An isolation certificate is valid for one shift and never longer than 12 hours.",
            "A tag or padlock may only be removed by the person who fitted it.",
        ),
        PageBreak(),
        Paragraph("Section 3: Working near water", h1),
        p(
            "Water is the main hazard at the station. Flows change quickly when units trip or "
            "spillway gates open, and the tailrace current can knock a person over."
        ),
        *bullets(
            "A life jacket must be worn within 2 metres of any unguarded edge.",
            "No one may enter the tailrace while the total plant discharge is above 45 cubic "
            "metres per second.",
            "The spillway siren sounds 10 minutes before any spillway gate moves. When you hear "
            "it, leave the river bed and the tailrace at once.",
            "Never work alone near open water between sunset and sunrise.",
        ),
        Paragraph("Section 4: Confined spaces", h1),
        p(
            "The penstock, the spiral casing and the draft tubes are confined spaces. Entry needs "
            "a confined-space permit signed by the shift supervisor."
        ),
        Paragraph("Before entry", h2),
        p(
            "Test the atmosphere before anyone enters. Oxygen must read between 19.5 and 23.5 "
            "percent, and the gas monitor stays switched on for the whole job."
        ),
        Paragraph("During the work", h2),
        p(
            "A standby attendant stays at the entry point and keeps contact with the people "
            "inside. No one may stay inside for more than 2 hours at a stretch; take a break of "
            "at least 15 minutes in fresh air before going back in."
        ),
        Paragraph("Section 5: Personal protective equipment", h1),
        p("The table lists the minimum PPE for each area. Supervisors may require more."),
        Spacer(1, 4),
        ppe,
        PageBreak(),
        Paragraph("Section 6: Emergencies", h1),
        p(
            "In any emergency call the control room on internal extension 4400. The control room "
            "raises the alarm, calls the emergency services and sends someone to meet them at "
            "the main gate."
        ),
        p(
            "When the evacuation alarm sounds, go to Assembly Point B in the upper car park and "
            "report to the fire warden. Do not go back for belongings. A fire drill is held every "
            "quarter."
        ),
        Paragraph("Section 7: Reporting incidents", h1),
        p(
            "Report every incident and every near miss within 24 hours on form SF-12. Near misses "
            "matter as much as injuries: they show where the next accident will happen."
        ),
        p(
            "Serious incidents, meaning any injury that needs hospital treatment or any "
            "uncontrolled release of water, must be reported to the Safety Officer by telephone "
            "immediately, day or night."
        ),
    ]

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        title="Aldermoor Station Safety Manual",
        author="Northwind Hydro",
        subject="Site safety rules, Revision 4",
        creator="verirag samples/make_samples.py",
        invariant=1,
        topMargin=20 * mm,
        bottomMargin=22 * mm,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# HR policy (DOCX)
# --------------------------------------------------------------------------------------------


def _hr_policy_bytes() -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = "On-Call and Call-Out Pay (HR-07)"
    props.subject = "HR policy"
    props.author = "Northwind Hydro People Team"
    props.last_modified_by = "Northwind Hydro People Team"
    props.created = props.modified = FIXED_DATETIME
    props.last_printed = FIXED_DATETIME
    props.revision = 3
    props.keywords = "on-call; call-out; overtime; rest"
    props.comments = "Sample document written for verirag (CC0)."

    document.add_heading("On-Call and Call-Out Pay", level=0)
    document.add_paragraph(
        "Policy HR-07, version 2.1. Effective 1 January 2024. Owner: Sofia Lindqvist, Head of "
        "People. Applies to every Northwind Hydro employee on the HydroView on-call rotation."
    )

    document.add_heading("1. Purpose", level=1)
    document.add_paragraph(
        "Aldermoor Station runs day and night, so engineers take turns to be reachable outside "
        "office hours. This policy sets out what they are paid for being on call, what they are "
        "paid when they are called out, and the rest they are entitled to afterwards."
    )

    document.add_heading("2. On-call allowance", level=1)
    document.add_paragraph(
        "An engineer on call receives a flat allowance for every day on the rota, whether or not "
        "they are called:"
    )
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    header = table.rows[0].cells
    header[0].text = "Day"
    header[1].text = "Allowance"
    for day, amount in (
        ("Monday to Friday", "EUR 45 per day"),
        ("Saturday and Sunday", "EUR 90 per day"),
        ("Public holiday", "EUR 90 per day"),
    ):
        cells = table.add_row().cells
        cells[0].text = day
        cells[1].text = amount
    document.add_paragraph(
        "The allowance is the same for the primary and the secondary engineer."
    )

    document.add_heading("3. Call-out pay", level=1)
    document.add_heading("3.1 Rates", level=2)
    document.add_paragraph(
        "Time worked on a call-out is paid at 1.5 times the normal hourly rate, or at 2 times "
        "the normal hourly rate on a public holiday."
    )
    document.add_heading("3.2 Minimum payment", level=2)
    document.add_paragraph(
        "Each call-out is paid for at least 2 hours, even if the problem is solved in ten "
        "minutes. Two pages within the same hour count as one call-out."
    )

    document.add_heading("4. Rest after a call-out", level=1)
    document.add_paragraph(
        "An engineer who works on a call-out after midnight is entitled to 11 hours of rest "
        "before their next shift starts. If the rest period runs into the working day, they "
        "start late without any loss of pay."
    )

    document.add_heading("5. Limits and swaps", level=1)
    for text in (
        "No one may be on call for more than 2 weeks in any 6-week period.",
        "No one may be on call for more than 7 days in a row.",
        "Engineers may swap rota weeks if both agree; the swap must be entered in the rota at "
        "least 48 hours in advance and approved by the Operations Lead.",
    ):
        document.add_paragraph(text, style="List Bullet")

    document.add_heading("6. Claims", level=1)
    document.add_paragraph(
        "Record call-out hours on your timesheet within 30 days of the call-out. Claims made "
        "later than that are paid only with the approval of the Head of People."
    )

    buf = io.BytesIO()
    document.save(buf)
    return _normalize_zip(buf.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """Re-zip with fixed member timestamps and attributes, keeping member order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            member.create_system = 3
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------------------------


def write_samples(outdir: Path | str = HERE) -> dict[str, Path]:
    """Write both binary samples into ``outdir``; returns file name → path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, make in ((PDF_NAME, _safety_manual_bytes), (DOCX_NAME, _hr_policy_bytes)):
        path = outdir / name
        path.write_bytes(make())
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    for path in write_samples(args[0] if args else HERE).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
