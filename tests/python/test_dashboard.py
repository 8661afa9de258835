"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright
for Python with `executable_path`) opens the pages of a live stepd that this module drives
through 200 step requests (one with a NaN gradient, the early ones clipped) and a second,
shorter run for the comparison. It checks what a person would look at: the table, every chart
with as many points as the history has, the skipped step marked on each, a new step appearing
without a reload, the overlay of two sessions, a narrow screen, the token field, and no error
in the browser's console. Screenshots of each page go to tests/artifacts/ (or
$STEPD_ARTIFACTS).

Without Playwright or Chromium these tests skip, except where the browser is required
(STEPD_REQUIRE_BROWSER=1, or CI set): there they fail."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from stepd_server import REPO_ROOT, StepdServer

ARTIFACTS = Path(os.environ.get("STEPD_ARTIFACTS") or REPO_ROOT / "tests" / "artifacts")
STEPS = 200
NAN_AT = 120  # the request (1-based) whose gradient holds a NaN
DIM = 32


def _browser_required() -> bool:
    if os.environ.get("STEPD_REQUIRE_BROWSER", "") not in ("", "0"):
        return True
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        if _browser_required():
            pytest.fail(f"the browser tests need playwright (tests/python/requirements.txt): {e}")
        pytest.skip("playwright is not installed")
    exe = _chromium()
    if exe is None:
        if _browser_required():
            pytest.fail("the browser tests need Debian's chromium (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Console:
    """Every console error and uncaught exception of the pages it watches."""

    def __init__(self):
        self.errors: list[str] = []

    def watch(self, page):
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        return page


def _call(url, method="GET", body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def _train(url, sid, lr, requests, nan_at=None, seed=0, token=None):
    """A noisy quadratic bowl, 0.5·|w - target|², trained by stepd: the client reads the
    parameters, computes loss and gradient, posts them. Far from the target the gradient norm
    is over max_norm 1, so the early steps are clipped."""
    import numpy as np

    rng = np.random.default_rng(seed)
    target = rng.normal(0, 1, DIM)
    _call(f"{url}/v1/sessions", "POST", {
        "id": sid,
        "optimizer": {"type": "adamw", "lr": lr, "weight_decay": 0.01},
        "schedule": {"type": "warmup_cosine", "warmup_steps": 10, "total_steps": 300, "min_lr_ratio": 0.1},
        "clip": {"max_norm": 1.0},
        "groups": [{"name": "no_decay", "weight_decay": 0.0}],
        "params": [{"name": "w", "shape": [DIM], "init": "zeros"},
                   {"name": "b", "shape": [1], "init": "zeros", "group": "no_decay"}],
    }, token=token)
    for k in range(1, requests + 1):
        _post_step(url, sid, target, rng, nan=(k == nan_at), token=token)


def _post_step(url, sid, target, rng, nan=False, token=None):
    import numpy as np

    w = np.array(_call(f"{url}/v1/sessions/{sid}/params", token=token)["params"]["w"])
    noise = rng.normal(0, 0.05, DIM)
    grad = (w - target) + noise
    loss = float(0.5 * np.sum((w - target) ** 2))
    g = [float(x) for x in grad]
    if nan:
        g[3] = "nan"
    return _call(f"{url}/v1/sessions/{sid}/steps", "POST", {"grads": {"w": g, "b": [0.1]}, "loss": loss}, token=token)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A stepd with a data directory (so snapshots exist) and two trained sessions."""
    data = tmp_path_factory.mktemp("dashboard-data")
    with StepdServer(args=["--data-dir", str(data), "--snapshot-every-steps", "50"]) as server:
        _train(server.url, "sweep-lr-0.05", 0.05, STEPS, nan_at=NAN_AT, seed=1)
        _train(server.url, "sweep-lr-0.2", 0.2, 150, seed=2)
        yield server


def _history(url, sid):
    return _call(f"{url}/v1/sessions/{sid}/history")


def test_the_sessions_table_lists_both_runs_links_them_and_sorts(browser, live):
    console = Console()
    page = console.watch(browser.new_page(viewport={"width": 1400, "height": 700}))
    page.goto(live.url + "/")
    page.wait_for_selector('tr[data-id="sweep-lr-0.05"] .sparkline canvas')
    row = page.locator('tr[data-id="sweep-lr-0.05"]')
    cells = row.locator("td")
    assert cells.nth(3).inner_text() == str(STEPS - 1)  # one request was skipped
    assert cells.nth(7).inner_text() == "adamw"
    assert cells.nth(8).inner_text() == "f32"
    assert cells.nth(9).inner_text() == str(DIM + 1)
    assert "ago" in cells.nth(11).inner_text()  # the last snapshot's age
    health = _history(live.url, "sweep-lr-0.05")["health"]
    assert row.locator(".health").inner_text() == {"ok": "ok", "plateau": "plateau", "nonfinite": "non-finite",
                                                   "diverging": "diverging", "loss_spike": "loss spike",
                                                   "grad_norm_spike": "grad-norm spike"}[health["status"]]
    # The sparkline: the losses of the last 100 records, less the skipped request among them.
    assert row.get_attribute("data-points") == "99"
    assert row.locator("a").get_attribute("href") == "/sessions/sweep-lr-0.05"
    ids = lambda: page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")  # noqa: E731
    assert ids() == ["sweep-lr-0.05", "sweep-lr-0.2"]  # by id
    page.click('th[data-key="step"] button')  # numbers sort largest first
    assert page.get_attribute('th[data-key="step"]', "aria-sort") == "descending"
    assert ids() == ["sweep-lr-0.05", "sweep-lr-0.2"]
    page.click('th[data-key="step"] button')
    assert ids() == ["sweep-lr-0.2", "sweep-lr-0.05"]
    page.click('th[data-key="lr"] button')
    assert ids() == ["sweep-lr-0.2", "sweep-lr-0.05"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-sessions.png"), full_page=True)
    page.check('tr[data-id="sweep-lr-0.05"] input[type=checkbox]')
    page.check('tr[data-id="sweep-lr-0.2"] input[type=checkbox]')
    page.click("#compare-selected")
    page.wait_for_url("**/compare?ids=*")
    page.wait_for_selector('#compare-legend li[data-id="sweep-lr-0.2"]')
    assert console.errors == []


def _chart_pixels(page, figure_id):
    """Pixels painted on the chart's canvases: a chart that drew nothing has none."""
    return page.evaluate("""id => {
        let n = 0;
        for (const c of document.querySelectorAll('#' + id + ' canvas')) {
            if (!c.width || !c.height) continue;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
        }
        return n;
    }""", figure_id)


def test_the_session_page_draws_every_chart_marks_the_skip_and_follows_the_run(browser, live):
    sid = "sweep-lr-0.05"
    history = _history(live.url, sid)
    applied = [r for r in history["records"] if not r["skipped"]]
    skipped = [r for r in history["records"] if r["skipped"]]
    assert len(applied) == STEPS - 1 and len(skipped) == 1
    clipped = sum(r["clipped"] for r in applied)
    assert 0 < clipped < len(applied)

    console = Console()
    page = console.watch(browser.new_page(viewport={"width": 1400, "height": 1000}))
    page.goto(f"{live.url}/sessions/{sid}")
    page.wait_for_selector(f'#chart-loss[data-points="{STEPS - 1}"]')
    page.evaluate("window.__sameDocument = true")
    expected = {
        "chart-loss": len(applied),
        "chart-grad-norm": len(applied),
        "chart-lr": len(applied),
        # A zero update (the first step's lr is 0 in warmup) has no place on a log axis.
        "chart-update-ratio": sum(r["update_ratio"] > 0 for r in applied),
    }
    for fid, n in expected.items():
        fig = page.locator("#" + fid)
        assert fig.get_attribute("data-points") == str(n), fid
        assert fig.get_attribute("data-skipped") == "1", fid
        # The skipped request is flagged on every chart, half a step after the step it followed.
        assert fig.locator(".dygraph-annotation.skipped").count() == 1, fid
        assert _chart_pixels(page, fid) > 1000, fid
    assert page.get_attribute("#chart-grad-norm", "data-clipped") == str(clipped)
    # The schedule ahead, to total_steps (300), dashed after the last step.
    assert page.get_attribute("#chart-lr", "data-preview") == str(300 - (STEPS - 1))
    assert page.get_attribute("#verdict", "data-status") == history["health"]["status"]
    assert page.locator("#groups tbody tr").count() == 2
    assert "warmup_cosine" in page.locator("#config").inner_text()
    page.wait_for_selector("#snapshots tbody tr")

    # The tooltip shows the record of the step under the pointer.
    box = page.locator("#chart-loss .plot").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    legend = page.locator("#chart-loss .dygraph-legend")
    legend.wait_for(state="visible")
    assert "grad norm" in legend.inner_text() and "step" in legend.inner_text()

    # Zooming one chart zooms the others to the same steps.
    before = page.locator("#chart-grad-norm .dygraph-axis-label-x").all_inner_texts()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_function("""before => {
        const now = [...document.querySelectorAll('#chart-grad-norm .dygraph-axis-label-x')].map(e => e.innerText);
        return JSON.stringify(now) !== JSON.stringify(before);
    }""", arg=before)
    page.dblclick("#chart-loss .plot")
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "dashboard-session.png"), full_page=True)

    # A new step appears without a reload.
    import numpy as np
    rng = np.random.default_rng(9)
    target = np.random.default_rng(1).normal(0, 1, DIM)
    _post_step(live.url, sid, target, rng)
    page.wait_for_selector(f'#chart-loss[data-points="{STEPS}"]', timeout=15000)
    page.wait_for_selector(f'#chart-grad-norm[data-points="{STEPS}"]', timeout=15000)
    assert page.evaluate("window.__sameDocument") is True
    assert console.errors == []


def test_the_comparison_overlays_two_sessions_one_colour_each(browser, live):
    console = Console()
    page = console.watch(browser.new_page(viewport={"width": 1400, "height": 800}))
    page.goto(f"{live.url}/compare?ids=sweep-lr-0.05,sweep-lr-0.2")
    page.wait_for_selector('#compare-legend li[data-id="sweep-lr-0.2"][data-points="150"]')
    n_a = len([r for r in _history(live.url, "sweep-lr-0.05")["records"] if not r["skipped"]])
    page.wait_for_selector(f'#compare-legend li[data-id="sweep-lr-0.05"][data-points="{n_a}"]')
    assert page.get_attribute("#chart-compare", "data-series") == "sweep-lr-0.05,sweep-lr-0.2"
    colours = page.locator("#compare-legend .swatch").evaluate_all("s => s.map(e => getComputedStyle(e).backgroundColor)")
    assert len(colours) == 2 and colours[0] != colours[1]
    # dygraphs draws both series: hovering shows both sessions' losses.
    box = page.locator("#chart-compare .plot").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    legend = page.locator("#chart-compare .dygraph-legend")
    legend.wait_for(state="visible")
    assert "sweep-lr-0.05" in legend.inner_text() and "sweep-lr-0.2" in legend.inner_text()
    assert _chart_pixels(page, "chart-compare") > 1000
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "dashboard-compare.png"), full_page=True)
    # Unticking one in the picker leaves one curve and updates the address.
    page.uncheck('#picker input[value="sweep-lr-0.2"]')
    page.wait_for_function("document.getElementById('chart-compare').dataset.series === 'sweep-lr-0.05'")
    assert page.url.endswith("/compare?ids=sweep-lr-0.05")
    assert console.errors == []


def test_the_session_page_fits_a_narrow_screen(browser, live):
    console = Console()
    page = console.watch(browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2))
    page.goto(f"{live.url}/sessions/sweep-lr-0.2")
    page.wait_for_selector('#chart-loss[data-points="150"]')
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    width = page.locator("#chart-loss").bounding_box()["width"]
    assert 300 < width <= 390
    page.screenshot(path=str(ARTIFACTS / "dashboard-session-narrow.png"), full_page=True)
    assert console.errors == []


def test_with_a_token_the_pages_load_and_ask_for_it_then_use_it(browser):
    token = "dashboard-test-token"
    with StepdServer(env={"STEPD_TOKEN": token}) as server:
        _call(f"{server.url}/v1/sessions", "POST", {
            "id": "guarded", "optimizer": {"type": "sgd", "lr": 0.1},
            "params": [{"name": "w", "shape": [2], "values": [1, 2]}]}, token=token)
        _call(f"{server.url}/v1/sessions/guarded/steps", "POST", {"grads": {"w": [0.5, 0.5]}, "loss": 1.0}, token=token)
        page = browser.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector("#status.error")
        assert "needs a token" in page.inner_text("#status")
        page.fill("#token", token)
        page.click("#token-form button[type=submit]")
        page.wait_for_selector('tr[data-id="guarded"]')
        assert page.inner_text("#status") == ""
        # Kept in the tab's session storage: the session page uses it without asking again.
        errors = Console()
        errors.watch(page)
        page.click('tr[data-id="guarded"] a')
        page.wait_for_selector('#chart-loss[data-points="1"]')
        assert page.evaluate("sessionStorage.getItem('stepd.token')") == token
        assert errors.errors == []
