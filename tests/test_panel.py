"""The live control panel: a real server on 127.0.0.1 in front of a real live run, fed by a clip played
through the camera interface, and the page driven in Debian's chromium through playwright."""
from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import IN_CI
from reenact import api, load_config
from reenact.io.camera import FileCamera
from reenact.io.image import astronaut
from reenact.io.mjpeg import MJPEGSink
from reenact.io.sink import SinkBase
from reenact.tasks.demo import camera_motion, write_clip
from reenact.tasks.live.panel import MAX_UPLOAD, PanelServer

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


class Watch(SinkBase):
    """Per delivered frame: the target in force, whether the output is the input bit for bit, and how far
    it is from it (mean absolute difference)."""

    def __init__(self):
        self.session = None
        self.rows: list[tuple[str, float, bool, float]] = []
        self.lock = threading.Lock()

    def write(self, frame, image):
        c = self.session.controls
        diff = float(np.abs(image.astype(np.int16) - frame.image).mean())
        with self.lock:
            self.rows.append((c.target, c.strength, bool(np.array_equal(image, frame.image)), diff))

    def since(self, n: int):
        with self.lock:
            return self.rows[n:]

    def count(self) -> int:
        with self.lock:
            return len(self.rows)

    def close(self):
        pass

    abort = close


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    clip = write_clip(tmp_path_factory.mktemp("cam") / "astronaut.mp4",
                      camera_motion(astronaut(), 45, (480, 360), 15.0), fps=15, tone_hz=None)
    watch, browser = Watch(), MJPEGSink()
    cfg = api.with_edit(load_config(), editor="rig")
    session = api.start_live(lambda src: _Both(watch, browser), cfg=cfg, camera_backend=FileCamera(clip))
    watch.session = session
    server = PanelServer(session, browser).start()
    _wait(lambda: watch.count() > 3, 30)
    yield session, server, watch
    server.close()
    session.stop()
    session.wait(10)


class _Both(SinkBase):
    def __init__(self, *sinks):
        self.sinks = sinks

    def write(self, frame, image):
        for s in self.sinks:
            s.write(frame, image)

    def close(self):
        for s in self.sinks:
            s.close()

    abort = close


def _wait(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _request(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


# --- security, over plain HTTP ----------------------------------------------------------------------


def test_requests_without_the_token_are_refused(studio):
    _, server, _ = studio
    assert server.url.startswith("http://127.0.0.1:") and len(server.token) >= 20
    for path in ("/", "/state", "/stream", "/events", f"/state?token={server.token[:-1]}x"):
        status, body = _request(server, "GET", path)
        # which path and what answered: this failed twice under load (200), not yet traced
        assert status == 403 and b"token" in body, (path, server.port, status, body[:120])
    status, _ = _request(server, "POST", "/control", json.dumps({"action": "bypass", "on": True}).encode(),
                         {"Content-Type": "application/json"})
    assert status == 403
    status, body = _request(server, "GET", f"/state?token={server.token}")
    assert status == 200 and "happy" in json.loads(body)["presets"]


def test_state_changes_from_another_origin_are_refused(studio):
    session, server, _ = studio
    path = f"/control?token={server.token}"
    body = json.dumps({"action": "bypass", "on": True}).encode()
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": server.origin, "Sec-Fetch-Site": "cross-site"}):
        status, text = _request(server, "POST", path, body, {"Content-Type": "application/json", **headers})
        assert status == 403 and b"another site" in text
    status, _ = _request(server, "GET", f"/state?token={server.token}", headers={"Host": "evil.example:80"})
    assert status == 403  # DNS rebinding: a name that points here is still not this server
    assert not session.stats().bypass


def test_bad_uploads_are_a_message_and_the_stream_goes_on(studio):
    _, server, watch = studio
    path = f"/reference?token={server.token}"
    head = {"Origin": server.origin, "Content-Type": "application/octet-stream"}
    status, body = _request(server, "POST", path, b"GIF89a not really an image", head)
    assert status == 400 and json.loads(body)["error"] == "upload: not a readable image"
    # a tiny PNG that claims to be huge is refused from its header, before any decoding
    _, png = cv2.imencode(".png", np.zeros((8000, 6000), np.uint8))
    status, body = _request(server, "POST", path, png.tobytes(), head)
    assert status == 400 and "megapixels" in json.loads(body)["error"]
    # refused from its Content-Length, before reading a byte of it
    status, body = _request(server, "POST", path, b"", {**head, "Content-Length": str(MAX_UPLOAD + 1)})
    assert status == 413 and "too big" in json.loads(body)["error"]
    status, body = _request(server, "POST", path, cv2.imencode(".png", np.full((64, 64, 3), 90, np.uint8))[1].tobytes(),
                            head)
    assert status == 400 and "no face" in json.loads(body)["error"]
    n = watch.count()
    _wait(lambda: watch.count() > n + 3)


# --- the page in a real browser ---------------------------------------------------------------------


def _browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = "chromium not installed (apt-get install chromium; .ci/run installs it)"
        if IN_CI:
            pytest.fail(message)   # CI installs it: a missing browser there is a broken set-up, not a skip
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e .[test])")
    return sync_api.sync_playwright()


def test_the_page_steers_the_run(studio):
    session, server, watch = studio
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("[data-preset=surprise]")
        _wait(lambda: page.evaluate("document.querySelector('#preview').naturalWidth") > 0)

        # a preset: output frames change within a few frames of the message being applied
        assert all(same for _, _, same, _ in watch.since(watch.count() - 3))   # no target: the input itself
        n = watch.count()
        page.click("[data-preset=surprise]")
        _wait(lambda: sum(t == "surprise" for t, *_ in watch.since(n)) >= 8)
        rows = [r for r in watch.since(n) if r[0] == "surprise"]
        changed = next(i for i, (_, _, same, diff) in enumerate(rows) if diff > 0.1)
        assert changed <= 3, rows[:6]

        # the strength slider: the change from the input follows it
        page.fill("#ease", "0")
        page.dispatch_event("#ease", "change")
        diffs = {}
        for value in ("0.5", "1"):
            page.eval_on_selector("#strength", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                                  value)
            _wait(lambda: session.controls.strength == float(value) and session.controls.ease_s == 0)
            time.sleep(0.8)  # the target's own smoothing settles
            n = watch.count()
            _wait(lambda: watch.count() >= n + 8)
            diffs[value] = np.mean([d for *_, d in watch.since(n)])
        assert 0.25 < diffs["0.5"] / diffs["1"] < 0.8, diffs

        # the figures and the face's AU bars are live on the page
        assert float(page.inner_text("#p50")) > 0 and float(page.inner_text("#fps")) > 0
        assert float(page.inner_text("#max")) >= float(page.inner_text("#p95"))
        assert page.locator(".bar").count() == 17 and page.inner_text("#faces-n") == "1"
        page.click("[data-view=split]")
        _wait(lambda: "view=split" in page.evaluate("document.querySelector('#preview').src"))
        page.click("[data-view=after]")
        time.sleep(0.5)
        (ROOT / "out").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "out" / "panel.png"), full_page=True)

        # bypass: from the next frame on, the camera's frames exactly
        page.click("#bypass")
        _wait(lambda: session.stats().bypass)
        n = watch.count()
        _wait(lambda: watch.count() >= n + 5)
        assert all(same for _, _, same, _ in watch.since(n))
        page.wait_for_selector("#bypass.on")
        page.click("#bypass")
        _wait(lambda: not session.stats().bypass)
        browser.close()
