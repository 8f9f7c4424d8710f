"""Server memory under uploads of the largest allowed size, and the spreadsheet bomb (Chromium, a real server).

Starts ``streamlit run app.py`` on a fresh data directory, opens the Match page in headless
Chromium and uploads ten different affiliation files of the largest size the page takes
(config.MAX_UPLOAD_MB), waiting each time for the page to show what it read; then ten
registry files of the Registry page's limit (config.MAX_REGISTRY_UPLOAD_MB; uploaded, not
imported); then a 0.4 MB .xlsx that unpacks to 301 MB. Prints the server's resident memory
(VmRSS) at the start, after each upload, after the tab is closed, and the bomb's timing.

    python bench/bench_upload_memory.py
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "tests" / "browser"))
sys.path.insert(0, str(PROJECT_DIR / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, open_app, start_server, stop_server, wait_idle  # noqa: E402

from affiliation_curator import config  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def affiliation_file(n: int, size: int) -> bytes:
    """``size`` bytes of distinct affiliation lines (within the 50,000-string limit)."""
    width = size // (45_000 - 100 * n)  # a different number of lines for each file
    lines, total = [], 0
    i = 0
    while total < size - width - 2:
        line = f"Upload {n} line {i}, Department of Physics, University {i % 977}, City {i % 31} ".ljust(width, "x")
        lines.append(line)
        total += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()


def ror_dump(path: Path, size: int) -> int:
    """A ROR-shaped JSON array of about ``size`` bytes (synthetic records); returns the record count."""
    import json

    from fixtures.registries import ror_record

    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while out.tell() < size:
            record = ror_record(f"https://ror.org/0{count:06x}{count % 100:02d}", f"Institute {count} of Bench",
                                names=[(f"IB{count}", ["acronym"], None), (f"Bench Institute number {count}", ["alias"], "en")],
                                city=f"City {count % 977}")
            out.write(("," if count else "") + json.dumps(record))
            count += 1
        out.write("]")
    return count


def bomb_xlsx(unpacked_mb: int = 301) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["affiliation"])
    workbook.active.append(["University of Oslo"])
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, tail = body.split(b"</sheetData>")
                with target.open(info.filename, "w") as member:
                    member.write(head)
                    row = b"<row><c t='inlineStr'><is><t>" + b"A" * 1000 + b"</t></is></c></row>"
                    for _ in range(unpacked_mb * 1024):
                        member.write(row)
                    member.write(b"</sheetData>" + tail)
            else:
                target.writestr(info, body)
    return out.getvalue()


def main() -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    proc = start_server(work / "home", free_port(), work / "streamlit.log")
    url = proc.args[proc.args.index("--server.port") + 1]
    url = f"http://127.0.0.1:{url}"
    uploader = "[data-testid=stFileUploaderDropzoneInput]"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(120_000)
            page = context.new_page()
            open_app(page, url)
            page.get_by_role("tab", name="Upload a file").click()
            wait_idle(page)
            print(f"server RSS at start (Match page open): {rss_mb(proc.pid):7.1f} MB", flush=True)
            size = config.MAX_UPLOAD_MB * 1000 * 1000 - 64 * 1024  # the uploader's MB are 10^6 bytes
            for n in range(10):
                data = affiliation_file(n, size)
                (work / f"affs{n}.txt").write_bytes(data)
                start = time.perf_counter()
                page.locator(uploader).set_input_files(str(work / f"affs{n}.txt"))
                kept = data.count(b"\n")
                page.get_by_text(f"Kept {kept:,} affiliations", exact=False).first.wait_for()
                wait_idle(page, 300_000)
                print(f"affiliation upload {n + 1:2d} ({len(data) / 1e6:.1f} MB): shown in "
                      f"{time.perf_counter() - start:5.1f} s, server RSS {rss_mb(proc.pid):7.1f} MB", flush=True)
            page.get_by_role("link", name="Registry").first.click()
            page.get_by_role("heading", name="Import a registry").wait_for()
            wait_idle(page)
            for n in range(10):
                big = work / f"registry{n}.csv"
                with big.open("wb") as out:
                    out.write(b"id,name\n")
                    row = f"own:{n}-%d,Institute {n} number %d\n"
                    chunk = "".join(row % (i, i) for i in range(20000)).encode()
                    while out.tell() < config.MAX_REGISTRY_UPLOAD_MB * 1000 * 1000 - len(chunk) - 1024:
                        out.write(chunk)
                start = time.perf_counter()
                page.locator(uploader).set_input_files(str(big))
                page.get_by_text(big.name).first.wait_for()
                wait_idle(page, 300_000)
                time.sleep(2)  # the upload's own request ends before the rerun it triggers
                big_mb = big.stat().st_size / 1e6
                big.unlink()
                print(f"registry upload {n + 1:2d} ({big_mb:.0f} MB, not imported): "
                      f"{time.perf_counter() - start:5.1f} s, server RSS {rss_mb(proc.pid):7.1f} MB", flush=True)
            dump = work / "ror-dump.json"  # a short name: the uploader cuts long ones
            count = ror_dump(dump, config.MAX_REGISTRY_UPLOAD_MB * 1000 * 1000 - 2_000_000)
            before = rss_mb(proc.pid)
            start = time.perf_counter()
            page.locator(uploader).set_input_files(str(dump))
            page.get_by_text(dump.name).first.wait_for()
            wait_idle(page, 300_000)
            time.sleep(2)
            page.get_by_role("button", name="Import", exact=True).click()
            page.get_by_text("Imported", exact=False).first.wait_for(timeout=900_000)
            wait_idle(page, 300_000)
            time.sleep(2)
            print(f"registry upload + import ({dump.stat().st_size / 1e6:.0f} MB, {count:,} records) in "
                  f"{time.perf_counter() - start:.0f} s: server RSS {before:.1f} MB before, {rss_mb(proc.pid):.1f} MB after "
                  "(the import's registry and index stay loaded)", flush=True)
            page.get_by_role("link", name="Match").first.click()
            page.get_by_role("tab", name="Upload a file").click()
            bomb = bomb_xlsx()
            start = time.perf_counter()
            page.locator(uploader).set_input_files({"name": "bomb.xlsx", "mimeType": "application/octet-stream",
                                                    "buffer": bomb})
            page.get_by_text("unpacks to", exact=False).first.wait_for()
            wait_idle(page)
            print(f"bomb.xlsx ({len(bomb) / 1024:.0f} kB, unpacks to 301 MB): refused in "
                  f"{time.perf_counter() - start:.2f} s, server RSS {rss_mb(proc.pid):7.1f} MB", flush=True)
            context.close()
            browser.close()
        waited = 0
        for wait in (5, 60, 150):  # Streamlit drops a closed session's uploads after disconnectedSessionTTL (120 s)
            time.sleep(wait - waited)
            waited = wait
            print(f"{wait:3d} s after the browser closed: server RSS {rss_mb(proc.pid):7.1f} MB", flush=True)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
