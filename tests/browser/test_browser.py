"""Neo4j Browser in a real (headless) Chromium: the guide's family-tree query draws the family, styled.

Needs the local Neo4j from scripts/neo4j (Browser at :7474, the style sheet and guide served at :7475 and
played after login) and the Debian packages chromium and chromium-driver. Selenium drives the system
browser through /usr/bin/chromedriver, so Selenium Manager never downloads a browser or a driver.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from pathlib import Path

import pytest

from heritage.cli import EXIT_OK, main
from heritage.graph.store import family_hue, size_label

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_URL = "http://127.0.0.1:7474/browser/"
CONTENT_URL = "http://127.0.0.1:7475"  # scripts/neo4j serves cypher/browser/ here
WAIT_S = 30

# The guide's "A family's tree" slide: a :param block that picks the largest family, then the drawing query.
PARAM_BLOCK = ":param family =>"
TREE_BLOCK = "RETURN m, tree"


def _missing_browser() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return f"{' and '.join(missing)} missing (apt-get install chromium chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def chrome():
    """A headless Chromium driven through the system chromedriver, with a throw-away profile."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1600,1200"):
        options.add_argument(arg)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


def _family_in_db(graph, family_id: str, database: str) -> tuple[list[str], list[float]]:
    """The member names and the PARENT_OF confidences of one family, as stored."""
    records, _, _ = graph.driver.execute_query(
        "MATCH (m:Model)-[:BELONGS_TO]->(:Family {id: $family}) "
        "OPTIONAL MATCH (:Model)-[e:PARENT_OF]->(m) RETURN m.name AS name, e.confidence AS confidence",
        family=family_id, database_=database)
    return sorted(r["name"] for r in records), [r["confidence"] for r in records if r["confidence"] is not None]


def _connect(driver, settings) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(BROWSER_URL)
    wait = WebDriverWait(driver, WAIT_S)
    address = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=boltaddress]")))
    scheme, host_port = settings.uri.split("://", 1)
    Select(driver.find_element(By.CSS_SELECTOR, "[data-testid=bolt-scheme-select]")).select_by_value(f"{scheme}://")
    # The inputs are React-controlled: clear() does not reach React's state, select-all + delete does.
    for test_id, value in (("boltaddress", host_port), ("username", settings.user),
                           ("password", settings.password)):
        field = driver.find_element(By.CSS_SELECTOR, f"[data-testid={test_id}]")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(value)
    assert address.get_attribute("value") == host_port
    driver.find_element(By.CSS_SELECTOR, "[data-testid=connect]").click()


def _run_guide_block(driver, wait, text: str) -> None:
    """Click the guide's runnable block that contains ``text`` (it goes into the editor), then run the editor."""
    from selenium.webdriver.common.by import By

    def visible_block(d):
        for block in d.find_elements(By.CSS_SELECTOR, "pre.runnable"):
            if text in block.get_attribute("textContent") and block.is_displayed():
                return block
        # Not on this slide: page on (the guide's carousel has one next button).
        buttons = d.find_elements(By.CSS_SELECTOR, "[data-testid=nextSlide]")
        if buttons and buttons[0].is_enabled():
            buttons[0].click()
        return False

    wait.until(visible_block).click()
    editor = driver.find_element(By.CSS_SELECTOR, "[data-testid=activeEditor]")
    wait.until(lambda d: text in editor.text.replace("\n", " ") or text in editor.text)
    driver.find_element(By.CSS_SELECTOR, "[data-testid=editor-Run]").click()


def _settled_graph(frame):
    """The drawn node and relationship groups once the force layout stopped moving, else False."""
    from selenium.webdriver.common.by import By

    nodes = frame.find_elements(By.CSS_SELECTOR, "svg g.node")
    if not nodes:
        return False
    before = [n.get_attribute("transform") for n in nodes]
    frame.parent.execute_script("return new Promise(r => setTimeout(r, 400))")
    after = [n.get_attribute("transform") for n in frame.find_elements(By.CSS_SELECTOR, "svg g.node")]
    if before != after:
        return False
    return nodes, frame.find_elements(By.CSS_SELECTOR, "svg g.relationship")


def _grass_rules() -> dict[str, dict[str, str]]:
    """``label -> {property: value}`` for every ``node.<Label>`` rule of heritage.grass."""
    text = (Path(__file__).resolve().parents[2] / "cypher" / "browser" / "heritage.grass").read_text()
    return {label: dict(re.findall(r"([a-z-]+):\s*([^;]+);", body))
            for label, body in re.findall(r"node\.(\w+)\s*\{([^}]*)\}", text)}


def test_guide_draws_a_family_tree_with_names_and_confidences(
        chrome, store, graph_settings, trained_zoo, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    zoo_dir, _ = trained_zoo
    monkeypatch.setenv("NEO4J_URI", graph_settings.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", graph_settings.password)
    assert main(["scan", str(zoo_dir), "--json", str(tmp_path / "scan.json"), "--quiet", "--neo4j"]) == EXIT_OK
    # The guide's :param block picks the largest family, ties broken by id.
    records, _, _ = store.driver.execute_query(
        "MATCH (f:Family) RETURN f.id AS id, f.size AS size ORDER BY size DESC, id LIMIT 1",
        database_=graph_settings.database)
    family, size = records[0]["id"], records[0]["size"]
    names, confidences = _family_in_db(store, family, graph_settings.database)
    assert len(names) == size >= 2 and len(confidences) == size - 1

    driver = chrome
    wait = WebDriverWait(driver, WAIT_S)
    _connect(driver, graph_settings)
    # browser.post_connect_cmd (scripts/neo4j) styles the Browser and plays the guide after login.
    # A frame's text starts with its command; the style frame then lists the style sheet now in use.
    def frame_of(command):
        return lambda d: next((f for f in d.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")
                               if f.text.startswith(command)), False)

    style_frame = wait.until(frame_of(f":style {CONTENT_URL}/heritage.grass"))
    assert "node.Model" in style_frame.text and "relationship.PARENT_OF" in style_frame.text, style_frame.text
    wait.until(frame_of(f":play {CONTENT_URL}/guide.html"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "pre.runnable"))

    _run_guide_block(driver, wait, PARAM_BLOCK)
    wait.until(lambda d: family in d.find_element(By.CSS_SELECTOR, "[data-testid=frame]").text)
    _run_guide_block(driver, wait, TREE_BLOCK)

    def tree_frame(d):
        frame = d.find_element(By.CSS_SELECTOR, "[data-testid=frame]")  # the newest frame is on top
        return frame if TREE_BLOCK in frame.text.replace("\n", " ") else False

    frame = wait.until(tree_frame)
    nodes, relationships = wait.until(lambda d: _settled_graph(frame))
    screenshot = tmp_path / "family_tree.png"
    frame.screenshot(str(screenshot))
    print(f"\nscreenshot of the drawn family tree: {screenshot}")

    assert len(nodes) == size, f"drew {len(nodes)} nodes for a family of {size}"
    assert len(relationships) == size - 1, f"drew {len(relationships)} relationships for a family of {size}"
    node_captions = sorted(" ".join(t.text for t in n.find_elements(By.CSS_SELECTOR, "text")).strip() for n in nodes)
    assert node_captions == names
    # PARENT_OF is captioned with the confidence (shortened to fit the arrow: compare the leading digits).
    edge_captions = [" ".join(t.text for t in r.find_elements(By.CSS_SELECTOR, "text")).strip() for r in relationships]
    assert all(re.fullmatch(r"0\.\d+…?", c) for c in edge_captions), edge_captions
    assert sorted(c.rstrip("…")[:4] for c in edge_captions) == sorted(str(c)[:4] for c in confidences)
    # The style reached the drawing: every model wears its family's colour (Hue* label) and is sized by
    # its parameter count (Params* label), as heritage.grass says -- not the Browser's default grey.
    rules = _grass_rules()
    models = store.driver.execute_query("MATCH (m:Model)-[:BELONGS_TO]->(:Family {id: $f}) RETURN m.num_params AS n",
                                        f=family, database_=graph_settings.database).records
    expected_fill = rules[family_hue(family)]["color"].lower()
    expected_radius = {float(rules[size_label(r["n"])]["diameter"].rstrip("px")) / 2 for r in models}
    circles = [n.find_element(By.CSS_SELECTOR, "circle.b-outline") for n in nodes]
    assert {c.get_attribute("fill").lower() for c in circles} == {expected_fill}
    assert {float(c.get_attribute("r")) for c in circles} == expected_radius
