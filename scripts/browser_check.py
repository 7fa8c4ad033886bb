"""Look at the running app in a real browser: every page, an upload on Predict, screenshots.

Starts ``streamlit run Home.py`` (headless, a free port), drives Debian's Chromium
(``/usr/bin/chromium``) with Playwright -- no browser is ever downloaded --, visits
every page, waits for Streamlit's status widget to vanish, uploads a synthesised
MP3 (and a bad file) on Predict and waits for the per-segment charts, saves
full-page screenshots to ``.screenshots/`` and prints one line per check::

    Home -> ok
    Predict -> ok
    Predict: upload browser-check.mp3 -> ok (5 charts, verdicts for 2 run(s))
    Predict: bad upload -> ok (error shown: ...)

Usage (from the repo root)::

    .venv/bin/python scripts/browser_check.py                 # the repo's models/ (shipped + user runs)
    .venv/bin/python scripts/browser_check.py --temp-models   # tiny runs trained now in a temp folder
    .venv/bin/python scripts/browser_check.py --audio song.mp3  # upload a real song instead

Exit status: 0 when every check is ok (or Chromium is absent: prints SKIP),
1 when a page shows an error or an exception, or a check times out.

Extending: pages are discovered from ``pages/*.py``; add a page-specific
interaction by writing ``def check_<name>(page, ctx) -> list[Result]`` and
registering it in :data:`PAGE_ACTIONS` (``name`` is the page's URL name, e.g.
``"Train"`` for ``pages/2_Train.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
STATUS_WIDGET = '[data-testid="stStatusWidget"]'
ERROR_ALERT = '[data-testid="stAlertContentError"]'
EXCEPTION = '[data-testid="stException"]'
PLOTLY = '[data-testid="stPlotlyChart"] .main-svg'


@dataclass
class Result:
    name: str
    ok: bool
    detail: str = ""
    screenshot: Path | None = None


@dataclass
class Context:
    base_url: str
    out: Path
    tmp: Path
    timeout_s: float
    audio: Path | None = None
    results: list[Result] = field(default_factory=list)
    suffix: str = ""  # added to screenshot names (e.g. "-1024" for the narrow viewport)


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true", "--server.port",
           str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 90.0) -> None:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --------------------------------------------------------------------------- page helpers


def page_names() -> list[tuple[str, str]]:
    """``(url name, file)`` for Home and every ``pages/*.py`` (URL name: file stem without the number prefix)."""
    out = [("Home", "Home.py")]
    for f in sorted((REPO / "pages").glob("*.py")):
        if f.name.startswith("_"):
            continue
        out.append((re.sub(r"^\d+[_-]*", "", f.stem), f"pages/{f.name}"))
    return out


def script_state(page) -> str:
    """Streamlit's own run state on the app root: ``initial``, ``running``, ``notRunning``, ..."""
    try:
        return page.locator('[data-testid="stApp"]').first.get_attribute("data-test-script-state", timeout=1000) or ""
    except Exception:  # noqa: BLE001 - not rendered yet
        return ""


def wait_idle(page, timeout_s: float, settle_s: float = 1.0) -> None:
    """Wait until the script has run and finished: state ``notRunning`` and no status widget, for ``settle_s``."""
    deadline = time.monotonic() + timeout_s
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    quiet_since = None
    while time.monotonic() < deadline:
        busy = script_state(page) != "notRunning" or page.locator(STATUS_WIDGET).count() > 0
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle_s:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the app was still running after {timeout_s:.0f} s (state {script_state(page)!r})")


def error_texts(page) -> list[str]:
    """Visible error alerts and exceptions on the page (first line of each)."""
    found = []
    for sel in (EXCEPTION, ERROR_ALERT):
        for el in page.locator(sel).all():
            try:
                text = el.inner_text(timeout=2000).strip()
            except Exception:  # noqa: BLE001 - element went away
                continue
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if lines and re.fullmatch(r"[a-z_]+", lines[0]):  # the material icon's name
                lines = lines[1:]
            found.append(lines[0][:200] if lines else sel)
    return found


_CONTENT_HEIGHT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.scrollingElement;
  let h = main ? main.scrollHeight : 0;
  for (const el of document.querySelectorAll('[data-testid="stMainBlockContainer"], section.main')) {
    h = Math.max(h, el.scrollHeight);
  }
  return h;
}"""


def shoot(page, ctx: Context, name: str, *, max_height: int = 9000) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main pane, so grow the viewport to fit."""
    path = ctx.out / f"{name}{ctx.suffix}.png"
    size = page.viewport_size or {"width": 1400, "height": 1000}
    try:
        height = int(page.evaluate(_CONTENT_HEIGHT_JS) or 0)
    except Exception:  # noqa: BLE001
        height = 0
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height + 80, max_height)})
        page.wait_for_timeout(700)  # plotly redraws on resize
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


# --------------------------------------------------------------------------- Predict


def _synth_mp3(path: Path, seconds: float = 24.0) -> Path:
    import soundfile as sf

    from genre_core.synthetic import synthetic_medley

    y = synthetic_medley(part=seconds / 4.0, sr=22050)
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="MP3", subtype="MPEG_LAYER_III")
    path.write_bytes(buf.getvalue())
    return path


def _upload(page, path: Path, ctx: Context) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    # the rerun starts a moment after the upload finishes
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and script_state(page) == "notRunning" and not page.locator(STATUS_WIDGET).count():
        time.sleep(0.1)
    wait_idle(page, ctx.timeout_s)


def _timed_upload(page, path: Path, ctx: Context) -> tuple[float | None, float]:
    """Upload ``path``; seconds until the first verdict shows ("ready after ...") and until the page is idle."""
    t0 = time.monotonic()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    # the first run's line ("... ready after ...") shows inside the analysis box, which collapses once every
    # run is done ("Analysed NAME with N run(s)"): on a fast analysis the line may come and go between two
    # looks, so the box's final label bounds the first verdict from above
    # (a previous clip's lines may still be on screen: only lines after this file's box appeared count)
    first, started = None, False
    ready = page.get_by_text(re.compile("ready after")).first
    running = page.get_by_text(f"Analysing {path.name}").first
    done = page.get_by_text(re.compile(rf"Analysed {re.escape(path.name)} with \d+ run")).first
    while first is None and time.monotonic() - t0 < ctx.timeout_s:
        with contextlib.suppress(Exception):
            started = started or running.is_visible()
            if (started and ready.is_visible()) or done.is_visible():
                first = time.monotonic() - t0
                break
        time.sleep(0.05)
    while time.monotonic() - t0 < 10 and script_state(page) == "notRunning" and not page.locator(STATUS_WIDGET).count():
        time.sleep(0.1)
    wait_idle(page, ctx.timeout_s)
    page.wait_for_selector(PLOTLY, timeout=ctx.timeout_s * 1000)
    return first, time.monotonic() - t0


def check_predict_timing(page, ctx: Context) -> list[Result]:
    """Issue 12: on this server, seconds from upload to the first verdict and to an idle page, first and second clip."""
    results = []
    for i, seconds in enumerate((30.0, 31.0)):  # two different clips (no cache hit for the second)
        clip = ctx.tmp / f"timing-{i + 1}.mp3"
        _synth_mp3(clip, seconds=seconds)
        try:
            if i:
                try:
                    page.locator('[data-testid="stFileUploaderDeleteBtn"] button').first.click(timeout=3000)
                    wait_idle(page, ctx.timeout_s)
                except Exception:  # noqa: BLE001
                    pass
            first, idle = _timed_upload(page, clip, ctx)
            results.append(Result(f"Predict timing: clip {i + 1} ({seconds:.0f} s)", first is not None,
                                  f"first verdict {first:.1f} s, idle page {idle:.1f} s after the upload"
                                  if first is not None else f"no verdict seen; idle after {idle:.1f} s"))
        except Exception as err:  # noqa: BLE001
            results.append(Result(f"Predict timing: clip {i + 1}", False, f"{type(err).__name__}: {err}"))
    return results


def check_predict(page, ctx: Context) -> list[Result]:
    results = []
    if page.locator('[data-testid="stFileUploaderDropzoneInput"]').count() == 0:
        return [Result("Predict: upload", True, "skipped: no trained run to predict with (see the Home page)")]
    results.extend(check_predict_timing(page, ctx) if ctx.suffix == "" else [])
    mp3 = ctx.audio or _synth_mp3(ctx.tmp / "browser-check.mp3")
    name = f"Predict: upload {mp3.name}"
    print(f"uploading {mp3.name} on Predict ...", flush=True)
    try:
        _upload(page, mp3, ctx)
        page.wait_for_selector(PLOTLY, timeout=ctx.timeout_s * 1000)
        page.wait_for_timeout(1500)  # let plotly finish drawing
        n_charts = page.locator('[data-testid="stPlotlyChart"]').count()
        n_verdicts = page.get_by_text("Verdict", exact=True).count()
        errors = error_texts(page)
        shot = shoot(page, ctx, "predict-upload")
        ok = not errors and n_charts >= 2
        detail = (f"{n_charts} charts, verdicts for {n_verdicts} run(s)" if ok else
                  ("; ".join(errors) or f"only {n_charts} chart(s)"))
        results.append(Result(name, ok, detail, shot))
        # one more interaction: play the third segment and show the mel spectrogram
        try:
            page.get_by_text("Mel spectrogram", exact=True).click()
            wait_idle(page, ctx.timeout_s)
            page.wait_for_timeout(1000)
            shoot(page, ctx, "predict-melspectrogram")
            errors = error_texts(page)
            results.append(Result("Predict: mel spectrogram view", not errors, "; ".join(errors) or "ok"))
            results.append(mel_is_dark_when_quiet(page, ctx, "Predict"))
        except Exception as err:  # noqa: BLE001
            results.append(Result("Predict: mel spectrogram view", False, f"{type(err).__name__}: {err}"))
    except Exception as err:  # noqa: BLE001
        results.append(Result(name, False, f"{type(err).__name__}: {err}", shoot(page, ctx, "predict-upload")))

    bad = ctx.tmp / "not-really.wav"
    bad.write_text("This is a text file, not a song.\n" * 50)
    try:
        page.locator('[data-testid="stFileUploaderDeleteBtn"] button').first.click(timeout=3000)
        wait_idle(page, ctx.timeout_s)
    except Exception:  # noqa: BLE001 - replacing the file works as well
        pass
    print(f"uploading {bad.name} (text, not audio) on Predict ...", flush=True)
    try:
        _upload(page, bad, ctx)
        page.wait_for_selector(ERROR_ALERT, timeout=ctx.timeout_s * 1000)
        errors = error_texts(page)
        shot = shoot(page, ctx, "predict-bad-upload")
        has_trace = page.locator(EXCEPTION).count() > 0
        ok = bool(errors) and not has_trace and any("not audio" in e for e in errors)
        results.append(Result("Predict: bad upload", ok, f"error shown: {errors[0] if errors else 'none'}", shot))
    except Exception as err:  # noqa: BLE001
        results.append(Result("Predict: bad upload", False, f"{type(err).__name__}: {err}",
                              shoot(page, ctx, "predict-bad-upload")))
    return results


#: URL name -> extra interactions after the page loaded cleanly.
PAGE_ACTIONS: dict[str, Callable] = {"Predict": check_predict}


# --------------------------------------------------------------------------- main


def _prepare_temp_models(tmp: Path) -> Path:
    """Tiny runs trained into ``tmp/models`` by the tests' fixture builder (in a child process whose
    ``PYTHONPATH`` holds ``tests/``, so this script never edits ``sys.path``)."""
    code = ("import sys; from pathlib import Path; from app_fixtures import build_app_models; "
            "from genre_core.synthetic import write_synthetic_dataset; tmp = Path(sys.argv[1]); "
            "data = write_synthetic_dataset(tmp / 'synthetic', genres=('drone', 'pulse', 'chords'), n_per_genre=6, "
            "duration=4.0, seed=0); print(build_app_models(tmp / 'models', data))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code, str(tmp)], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--temp-models", action="store_true",
                    help="train tiny runs into a temporary models folder instead of using the repo's models/")
    ap.add_argument("--models", help="use this models folder (GENRE_MODELS_DIR)")
    ap.add_argument("--out", default=str(REPO / ".screenshots"), help="screenshot folder (default .screenshots/)")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    ap.add_argument("--audio", help="upload this file on Predict instead of a synthesised MP3 (e.g. a real song)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for a page or an analysis")
    ap.add_argument("--widths", type=int, nargs="+", default=[1280, 1024],
                    help="viewport widths to look at (default 1280 1024); page interactions run at the first")
    args = ap.parse_args(argv)

    if not CHROMIUM.exists():
        print(f"SKIP: {CHROMIUM} is absent (install it with: apt-get install -y chromium); no browser check done.")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("SKIP: the playwright package is not installed (pip install playwright); no browser check done.")
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="genre-browser-check-"))
    env = dict(os.environ)
    env.setdefault("GENRE_CACHE_DIR", str(tmp / "cache"))
    if args.temp_models:
        print("training tiny runs into a temporary models folder ...", flush=True)
        env["GENRE_MODELS_DIR"] = str(_prepare_temp_models(tmp))
    elif args.models:
        env["GENRE_MODELS_DIR"] = str(Path(args.models).resolve())
    port = args.port or _free_port()
    log = tmp / "streamlit.log"
    proc = start_server(port, env, log)
    ctx = Context(base_url=f"http://127.0.0.1:{port}", out=out, tmp=tmp, timeout_s=args.timeout,
                  audio=Path(args.audio).resolve() if args.audio else None)
    try:
        wait_healthy(port, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            for i, width in enumerate(args.widths):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                ctx.suffix = "" if i == 0 else f"-{width}"
                for url_name, _file in page_names():
                    url = ctx.base_url + ("/" if url_name == "Home" else f"/{url_name}")
                    label = url_name + (f" at {width} px" if i else "")
                    print(f"visiting {url} at {width} px ...", flush=True)
                    t_page = time.monotonic()
                    try:
                        page.goto(url, wait_until="domcontentloaded", timeout=args.timeout * 1000)
                        page.wait_for_timeout(800)
                        wait_idle(page, args.timeout)
                        errors = error_texts(page)
                        shot = shoot(page, ctx, url_name.lower())
                        ctx.results.append(Result(label, not errors, "; ".join(errors) or "ok", shot))
                        print(f"  {label}: {'ok' if not errors else 'errors'} after "
                              f"{time.monotonic() - t_page:.1f} s", flush=True)
                        actions = PAGE_ACTIONS if i == 0 else NARROW_ACTIONS
                        if not errors and url_name in actions:
                            ctx.results.extend(actions[url_name](page, ctx))
                    except Exception as err:  # noqa: BLE001 - report and go on with the next page
                        ctx.results.append(Result(label, False, f"{type(err).__name__}: {err}"))
                if i == 0 and _TRAINED.get("run"):
                    ctx.results.extend(check_delete_run(page, ctx))
                page.close()
            browser.close()
    except Exception as err:  # noqa: BLE001
        ctx.results.append(Result("server", False, f"{type(err).__name__}: {err}"))
    finally:
        stop_server(proc)
        cleanup_trained(env.get("GENRE_MODELS_DIR"), args.temp_models)  # Train check's run (issue 5 section)

    print(f"\nbrowser check ({ctx.base_url}, models: {env.get('GENRE_MODELS_DIR', REPO / 'models')}):")
    for r in ctx.results:
        print(f"  {r.name} -> {'ok' if r.ok else 'ERROR'}" + (f" ({r.detail})" if r.detail and r.detail != "ok" else ""))
    print(f"screenshots: {out}/")
    failed = [r for r in ctx.results if not r.ok]
    if failed:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print("streamlit log (last lines):\n  " + "\n  ".join(tail))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


# --------------------------------------------------------------------------- Train, Compare, Explore (issue 5)
#
# Train: launch a short MLP job on the bundled table, watch the live panel, wait for the result,
# follow the link to Compare (the new run selected). Compare: click a confusion-matrix cell in the
# browser (plotly click on the cell's target) and check the tracks behind it are listed. Explore:
# pick a track and check the waveform / spectrogram / chroma and the player.

#: The run the Train check creates (``user/NAME``), removed afterwards unless the models folder is temporary.
_TRAINED: dict[str, str] = {}

_PICK_CELL_JS = """() => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const cells = (gd.data || []).find(t => t.name === 'cells');
    if (!cells) continue;
    let best = null;
    for (let i = 0; i < cells.x.length; i++) {
      const n = cells.customdata[i][0];
      const off = cells.x[i] !== cells.y[i];
      const score = (off ? 1e6 : 0) + n;
      if (n > 0 && (!best || score > best.score)) best = {i, score, n, x: cells.x[i], y: cells.y[i]};
    }
    if (!best) return null;
    const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
    const box = gd.getBoundingClientRect();
    return {px: box.left + xa._offset + xa.l2p(xa.d2c(best.x)), py: box.top + ya._offset + ya.l2p(ya.d2c(best.y)),
            true: best.y, pred: best.x, n: best.n};
  }
  return null;
}"""


def _wait_text(page, text: str, timeout_s: float) -> bool:
    try:
        page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_s * 1000)
        return True
    except Exception:  # noqa: BLE001 - not there in time
        return False


def check_train(page, ctx: Context) -> list[Result]:
    name = f"browser-check-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"training user/{name} (mlp on the bundled table) from the Train page ...", flush=True)
    try:
        epochs = page.get_by_label("epochs", exact=True)
        epochs.fill("30")
        epochs.press("Enter")
        wait_idle(page, ctx.timeout_s)
        run_name = page.get_by_label("Run name", exact=True)
        run_name.fill(name)
        run_name.press("Enter")
        wait_idle(page, ctx.timeout_s)
        page.get_by_role("button", name=re.compile(r"(Start|Queue) training")).click()
        if not _wait_text(page, "Cancel", 60):
            return [Result("Train: launch", False, "no live job panel appeared", shoot(page, ctx, "train-launch"))]
        t0 = time.monotonic()
        _wait_text(page, "training: epoch", ctx.timeout_s)
        page.wait_for_timeout(2500)  # a few epochs on the live curves
        running = shoot(page, ctx, "train-running")
        link = f"Open user/{name} in Compare"
        if not _wait_text(page, link, ctx.timeout_s * 2):
            errors = error_texts(page)
            return [Result("Train: job", False, "; ".join(errors) or "no result in time", shoot(page, ctx, "train-result"))]
        _TRAINED["run"] = f"user/{name}"
        page.wait_for_timeout(1000)
        shot = shoot(page, ctx, "train-complete")
        errors = error_texts(page)
        acc = page.locator('[data-testid="stMetricValue"]').first.inner_text(timeout=5000)
        results = [Result("Train: launch, live progress, result", not errors,
                          "; ".join(errors) or f"user/{name} complete in {time.monotonic() - t0:.0f} s, "
                                               f"track accuracy {acc} (live view: {running.name})", shot)]
        page.get_by_text(link).first.click()
        wait_idle(page, ctx.timeout_s)
        page.wait_for_timeout(1500)
        selected = page.locator('[data-testid="stMultiSelect"]').first.inner_text(timeout=5000)
        shot = shoot(page, ctx, "train-to-compare")
        ok = f"user/{name}" in selected and "/Compare" in page.url and not error_texts(page)
        results.append(Result("Train: link to Compare", ok, f"opened {page.url.split('/')[-1]}", shot))
        return results
    except Exception as err:  # noqa: BLE001
        return [Result("Train: launch", False, f"{type(err).__name__}: {err}", shoot(page, ctx, "train-error"))]


def check_compare(page, ctx: Context) -> list[Result]:
    try:
        page.locator(PLOTLY).first.wait_for(timeout=ctx.timeout_s * 1000)
        page.get_by_text("Confusion matrix", exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        cell = page.evaluate(_PICK_CELL_JS)
        if cell is None:
            return [Result("Compare: click a confusion-matrix cell", False, "no clickable confusion matrix found")]
        print(f"clicking the confusion-matrix cell {cell['true']} -> {cell['pred']} on Compare ...", flush=True)
        page.mouse.move(cell["px"], cell["py"])
        page.wait_for_timeout(400)
        page.mouse.click(cell["px"], cell["py"])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and script_state(page) == "notRunning" and not page.locator(STATUS_WIDGET).count():
            time.sleep(0.1)
        wait_idle(page, ctx.timeout_s)
        listed = _wait_text(page, f"test track(s) of genre {cell['true']}", 20)
        page.wait_for_timeout(1000)
        shot = shoot(page, ctx, "compare-cell")
        errors = error_texts(page)
        players = page.locator('[data-testid="stAudio"], audio').count()
        ok = listed and not errors
        detail = (f"clicked {cell['true']} -> {cell['pred']} ({cell['n']}): tracks listed, "
                  f"{'an audio player' if players else 'no audio on this machine'}") if ok else \
            ("; ".join(errors) or "the click listed no tracks")
        return [Result("Compare: click a confusion-matrix cell", ok, detail, shot)]
    except Exception as err:  # noqa: BLE001
        return [Result("Compare: click a confusion-matrix cell", False, f"{type(err).__name__}: {err}",
                       shoot(page, ctx, "compare-cell"))]


def check_explore(page, ctx: Context) -> list[Result]:
    try:
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Track")
        if box.count() == 0:
            return [Result("Explore: track view", True, "skipped: no audio for the bundled table on this machine")]
        for attempt in range(3):  # open the dropdown and take its first track (retried: the list can be slow)
            try:
                box.first.locator("input").first.click(timeout=10000)
                page.get_by_role("option").first.wait_for(timeout=10000)
                page.keyboard.press("Enter")
                break
            except Exception:  # noqa: BLE001
                page.keyboard.press("Escape")
                if attempt == 2:
                    raise
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and script_state(page) == "notRunning" and not page.locator(STATUS_WIDGET).count():
            time.sleep(0.1)
        wait_idle(page, ctx.timeout_s)
        page.wait_for_timeout(1500)
        shot = shoot(page, ctx, "explore-track")
        errors = error_texts(page)
        charts = page.locator('[data-testid="stPlotlyChart"]').count()
        players = page.locator('[data-testid="stAudio"], audio').count()
        ok = not errors and players >= 1 and charts >= 6
        return [Result("Explore: track view", ok, "; ".join(errors) or f"{charts} charts, {players} player(s)", shot)]
    except Exception as err:  # noqa: BLE001
        return [Result("Explore: track view", False, f"{type(err).__name__}: {err}", shoot(page, ctx, "explore-track"))]


def cleanup_trained(models_dir: str | None, temporary: bool) -> None:
    """Remove the run (and its job record) the Train check made in a real models folder."""
    run = _TRAINED.get("run")
    if not run or temporary:
        return
    root = Path(models_dir) if models_dir else REPO / "models"
    folder = root / "user" / run.split("/", 1)[1]
    shutil.rmtree(folder, ignore_errors=True)
    for job in (root / "user" / ".jobs").glob("*"):
        try:
            if f'"name": "{folder.name}"' in (job / "job.json").read_text():
                shutil.rmtree(job, ignore_errors=True)
        except OSError:
            pass


# --------------------------------------------------------------------------- issue 13: what a demanding user sees

#: The luminance (0 dark .. 1 light) of the low end of every mel-spectrogram heatmap on the page.
_MEL_LOW_END_JS = """() => {
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    for (const t of (gd.data || [])) {
      const title = (((t.colorbar || {}).title || {}).text || '');
      if (t.type !== 'heatmap' || title !== 'dB') continue;
      const c = String(t.colorscale[0][1]);
      let r, g, b;
      if (c[0] === '#') { r = parseInt(c.slice(1, 3), 16); g = parseInt(c.slice(3, 5), 16); b = parseInt(c.slice(5, 7), 16); }
      else { [r, g, b] = c.match(/[\\d.]+/g).map(Number); }
      out.push((0.2126 * r + 0.7152 * g + 0.0722 * b) / 255);
    }
  }
  return out;
}"""


def mel_is_dark_when_quiet(page, ctx: Context, where: str) -> Result:
    """Every mel spectrogram on the page draws its quietest values dark (issue 13)."""
    try:
        lum = page.evaluate(_MEL_LOW_END_JS)
    except Exception as err:  # noqa: BLE001
        return Result(f"{where}: mel quiet = dark", False, f"{type(err).__name__}: {err}")
    ok = bool(lum) and all(v < 0.15 for v in lum)
    return Result(f"{where}: mel quiet = dark", ok,
                  f"{len(lum)} mel heatmap(s), low-end luminance {', '.join(f'{v:.2f}' for v in lum) or 'none found'}")


def check_home(page, ctx: Context) -> list[Result]:
    """The leaderboard comes in groups of comparable runs (same data and protocol), best first."""
    try:
        headers = page.locator('[data-testid="stMarkdownContainer"] strong').filter(has_text=re.compile(r" · .*\(\d+ runs?[,)]"))
        n = headers.count()
        names = [headers.nth(i).inner_text() for i in range(n)]
        shot = shoot(page, ctx, "home-leaderboard")
        return [Result("Home: grouped leaderboard", n >= 1 and not error_texts(page),
                       f"{n} group(s): {'; '.join(names[:4])}", shot)]
    except Exception as err:  # noqa: BLE001
        return [Result("Home: grouped leaderboard", False, f"{type(err).__name__}: {err}")]


def check_delete_run(page, ctx: Context) -> list[Result]:
    """Home -> Manage runs: delete the run the Train check made, with the confirmation box (issue 13)."""
    run = _TRAINED["run"]
    print(f"deleting {run} from Home's Manage runs ...", flush=True)
    try:
        page.goto(ctx.base_url + "/", wait_until="domcontentloaded", timeout=ctx.timeout_s * 1000)
        page.wait_for_timeout(800)
        wait_idle(page, ctx.timeout_s)
        page.get_by_text(re.compile(r"Manage runs")).first.click()
        wait_idle(page, ctx.timeout_s)
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Run")
        box.first.locator("input").first.click(timeout=10000)
        page.get_by_role("option").filter(has_text=run).first.click(timeout=10000)
        wait_idle(page, ctx.timeout_s)
        page.get_by_text(f"Yes, delete {run}").first.click()
        wait_idle(page, ctx.timeout_s)
        shoot(page, ctx, "home-delete-confirm")
        page.get_by_role("button", name=re.compile("Delete")).first.click()
        deleted = _wait_text(page, f"Deleted {run}", 30)
        shot = shoot(page, ctx, "home-deleted")
        ok = deleted and not error_texts(page)
        if ok:
            _TRAINED.pop("run", None)  # nothing left for the clean-up
        return [Result("Home: delete a run (with confirmation)", ok,
                       f"{run} deleted" if ok else ("; ".join(error_texts(page)) or "no confirmation shown"), shot)]
    except Exception as err:  # noqa: BLE001
        return [Result("Home: delete a run (with confirmation)", False, f"{type(err).__name__}: {err}",
                       shoot(page, ctx, "home-delete-error"))]


def check_compare_pair(page, ctx: Context) -> list[Result]:
    """Run A vs run B: the difference matrix is computed on the tracks both runs share, or withheld."""
    try:
        head = page.get_by_text("Run A vs run B", exact=True)
        if head.count() == 0:
            return [Result("Compare: A vs B on shared tracks", True, "skipped: fewer than two runs selected")]
        head.first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        shot = shoot(page, ctx, "compare-pair")
        notes = page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
        said = [n for n in notes if "share" in n]
        return [Result("Compare: A vs B on shared tracks", not error_texts(page),
                       said[0][:120] if said else "same test tracks for both runs", shot)]
    except Exception as err:  # noqa: BLE001
        return [Result("Compare: A vs B on shared tracks", False, f"{type(err).__name__}: {err}")]


def _compare_checks(page, ctx: Context) -> list[Result]:
    return check_compare(page, ctx) + check_compare_pair(page, ctx)


def _explore_checks(page, ctx: Context) -> list[Result]:
    results = check_explore(page, ctx)
    if any(r.ok and "skipped" not in r.detail for r in results):
        results.append(mel_is_dark_when_quiet(page, ctx, "Explore"))
    return results


def _predict_narrow(page, ctx: Context) -> list[Result]:
    """At the narrow width: upload again and look at the charts' legends and toolbars."""
    return check_predict(page, ctx)[:1]


PAGE_ACTIONS.update({"Home": check_home, "Train": check_train, "Compare": _compare_checks,
                     "Explore": _explore_checks})
#: Interactions repeated at the narrower widths (where layouts break).
NARROW_ACTIONS: dict[str, Callable] = {"Predict": _predict_narrow}


if __name__ == "__main__":
    sys.exit(main())
