"""PDF from the HTML report with WeasyPrint (the bundled CJK font is embedded)."""

from __future__ import annotations


def html_to_pdf(html: str) -> bytes:
    import weasyprint

    from everydonor.adapters.report.html import report_asset

    document = weasyprint.HTML(string=html, base_url=str(report_asset()))
    pdf: bytes = document.write_pdf()
    return pdf
