"""Documents for the OCR tests, drawn here: images of text, and PDFs whose pages are text or images only."""

from __future__ import annotations

import io
from pathlib import Path

IMAGE_LINES = ("Kestrel valve inspection", "The Kestrel valve opens at 12 bar.")
TEXT_PAGE = "Heron pump acceptance. The Heron pump delivers 40 litres per second."


def text_image(lines=IMAGE_LINES, fmt: str = "PNG") -> bytes:
    """Black text in a large font on white, as a 300 dpi scan of a printed page would be."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=64)
    image = Image.new("L", (1800, 140 + 110 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((80, 70 + 110 * number), line, font=font, fill=0)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def pdf_of_pages(pages: list[str | None]) -> bytes:
    """One PDF page per item: a string becomes a text layer, None an image-only page (the text image)."""
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    width, height = A4
    for page in pages:
        if page is None:
            image = Image.open(io.BytesIO(text_image()))
            shown = width - 100  # the 1800-pixel image across the page: about 300 dpi
            pdf.drawImage(ImageReader(image), 50, height - 300, width=shown, height=shown * image.height / image.width)
        else:
            pdf.setFont("Helvetica", 12)
            pdf.drawString(72, height - 100, page)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf(path: Path) -> Path:
    path.write_bytes(pdf_of_pages([None]))
    return path


def mixed_pdf(path: Path) -> Path:
    """Page 1 has a text layer, page 2 is an image only."""
    path.write_bytes(pdf_of_pages([TEXT_PAGE, None]))
    return path


def write_png(path: Path) -> Path:
    path.write_bytes(text_image())
    return path
