#!/usr/bin/python3
"""The live Raft view in a real browser: headless Chromium, driven through chromedriver, against
a 3-member `etcd lab` of real processes.

What it proves, through the page's own buttons:
  1. the page shows three members and exactly one leader;
  2. after the leader is killed (kill -9) from the page, another member leads within twice the
     election timeout (a randomized timeout is at most that) plus a margin for the page;
  3. the killed member restarts from the page and catches up; the member serving the page,
     paused (SIGSTOP) from the page, is shown stopped while the page goes on from another;
  4. a follower cut off from the others falls behind while keys are written from the page,
     and once healed its log tail converges with the others'.
Before the browser, the view's switches over plain HTTP: off without --enable-raft-view (404),
read-only without the lab (its controls answer 403).

Screenshots of each state go to $RAFT_LAB_SCREENSHOTS (default: a new directory, printed).
Usage: Tests/Browser/raft-lab.py  (ETCD_BIN names the binary; default .build/debug/etcd)
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ETCD = os.environ.get("ETCD_BIN") or os.path.join(ROOT, ".build/debug/etcd")
ELECTION_TIMEOUT = 1.0
WORK = tempfile.mkdtemp(prefix="raft-lab-test.")
SHOTS = os.environ.get("RAFT_LAB_SCREENSHOTS") or os.path.join(WORK, "screenshots")
os.makedirs(SHOTS, exist_ok=True)
checks = 0


def ok(condition, what):
    global checks
    checks += 1
    if not condition:
        raise AssertionError(what)
    print(f"ok {checks} - {what}", flush=True)


def free_base(span):
    """A port p with p .. p+span all free on loopback."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - span)
        try:
            sockets = []
            for port in range(base, base + span + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            for s in sockets:
                s.close()
            return base
        except OSError:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def http(method, url, timeout=3):
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # the page or a member is between states: ask again
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def single_member_switches():
    """Off by default (404); on but read-only outside the lab (the cut control answers 403)."""
    for flags, expect_page in (([], False), (["--enable-raft-view"], True)):
        base = free_base(2)
        data = tempfile.mkdtemp(dir=WORK)
        member = subprocess.Popen(
            [ETCD, "--data-dir", data, "--listen-client-urls", f"http://127.0.0.1:{base}", "--advertise-client-urls",
             f"http://127.0.0.1:{base}", "--listen-peer-urls", f"http://127.0.0.1:{base + 1}", "--initial-advertise-peer-urls",
             f"http://127.0.0.1:{base + 1}", "--initial-cluster", f"default=http://127.0.0.1:{base + 1}", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: http("GET", f"http://127.0.0.1:{base}/health")[0] == 200, 20, "a member to serve")
            status, body = http("GET", f"http://127.0.0.1:{base}/debug/raft")
            if not expect_page:
                ok(status == 404, "without --enable-raft-view, /debug/raft is not served (404)")
                continue
            ok(status == 200 and "<title>Raft, live</title>" in body, "with --enable-raft-view, /debug/raft serves the page")
            status, body = http("GET", f"http://127.0.0.1:{base}/debug/raft/state")
            view = json.loads(body)
            ok(status == 200 and [m["role"] for m in view["members"]] == ["leader"], "/debug/raft/state shows the one member leading")
            status, body = http("POST", f"http://127.0.0.1:{base}/debug/raft/cut?from=x")
            ok(status == 403 and "not started by etcd lab" in json.loads(body)["error"], "outside the lab, the cut control refuses (403)")
        finally:
            member.send_signal(signal.SIGTERM)
            member.wait(timeout=15)


def members(driver):
    return driver.execute_script("return [...document.querySelectorAll('.member')].map(e => ({...e.dataset}))")


def leaders(driver):
    return [m["name"] for m in members(driver) if m["role"] == "leader"]


def click(driver, action, member, peer=None):
    """Clicks a member's button; found again if the page redrew it between finding and clicking."""
    selector = f'button[data-action="{action}"][data-member="{member}"]' + (f'[data-peer="{peer}"]' if peer else "")
    for attempt in range(5):
        try:
            return driver.find_element(By.CSS_SELECTOR, selector).click()
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"the button {selector} kept being redrawn")


def shot(driver, name):
    path = os.path.join(SHOTS, name)
    driver.save_screenshot(path)
    print(f"# screenshot {path}", flush=True)


def converged(driver):
    shown = members(driver)
    tails = {(m["lastIndex"], m["lastTerm"], m["commit"]) for m in shown}
    return len(shown) == 3 and all(m["role"] in ("leader", "follower") for m in shown) and len(tails) == 1


def lab_test():
    base, control = free_base(7), None
    control = base + 6
    lab = subprocess.Popen([ETCD, "lab", "--base-port", str(base), "--control-port", str(control), "--data-dir", os.path.join(WORK, "lab")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver = None
    try:
        wait_until(lambda: len(json.loads(http("GET", f"http://127.0.0.1:{base}/debug/raft/state")[1])["members"]) == 3, 30,
                   "the lab's three members")
        options = Options()
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1300",
                         f"--user-data-dir={os.path.join(WORK, 'chromium')}"):
            options.add_argument(argument)
        options.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        # Bounded, so a stuck page or script fails the test instead of waiting forever.
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(10)
        driver.get(f"http://127.0.0.1:{base}/debug/raft")

        # 1. Three members, one leader.
        wait_until(lambda: len(members(driver)) == 3 and len(leaders(driver)) == 1, 20, "three members and one leader on the page")
        ok(True, "the page shows three members and exactly one leader")
        ok(not driver.find_element(By.ID, "lab").get_attribute("hidden"), "the lab's controls are shown")
        shot(driver, "1-elected.png")

        # 2. Kill the leader from the page; another takes over.
        old = leaders(driver)[0]
        started = time.monotonic()
        click(driver, "kill", old)
        new = wait_until(lambda: [name for name in leaders(driver) if name != old], 2 * ELECTION_TIMEOUT + 3, "a new leader")
        took = time.monotonic() - started
        ok(True, f"after {old} was killed from the page, {new[0]} leads ({took:.1f} s)")
        wait_until(lambda: {m["name"]: m["role"] for m in members(driver)}.get(old) == "killed", 5, "the killed member shown killed")
        ok(True, f"{old} is shown killed")
        shot(driver, "2-new-leader.png")

        # 3. Restart it from the page: it rejoins and catches up.
        click(driver, "restart", old)
        wait_until(lambda: converged(driver), 30, "the restarted member to catch up")
        ok(True, f"{old}, restarted from the page, caught up with the others")

        # 3b. Pause the member serving the page (SIGSTOP): its stream goes quiet without
        # breaking; the page moves to another member and shows it stopped; continue it.
        connection = lambda: driver.find_element(By.ID, "connection").text
        wait_until(lambda: connection().startswith("live from http"), 10, "the page live from a member")
        served = connection()[len("live from "):]
        serving = next(m["name"] for m in json.loads(http("GET", served + "/debug/raft/state")[1])["members"] if m["clientURL"] == served)
        click(driver, "stop", serving)
        wait_until(lambda: connection().startswith("live from http") and served not in connection(), 15, "the page moving to another member")
        wait_until(lambda: {m["name"]: m["role"] for m in members(driver)}.get(serving) == "stopped", 10, f"{serving} shown stopped")
        ok(True, f"with {serving} (serving the page) stopped, the page goes on from {connection()[len('live from '):]}")
        shot(driver, "3-member-stopped.png")
        click(driver, "continue", serving)
        wait_until(lambda: converged(driver), 30, f"{serving} to catch up once continued")
        ok(True, f"{serving}, continued from the page, caught up")

        # 4. Cut a follower off, write, see it fall behind; heal, see the tails converge.
        follower = next(m["name"] for m in members(driver) if m["role"] == "follower")
        click(driver, "isolate", follower)
        wait_until(lambda: follower in driver.find_element(By.CSS_SELECTOR, f'.member[data-name="{follower}"]').text and
                   "cut off from" in driver.find_element(By.CSS_SELECTOR, f'.member[data-name="{follower}"]').text, 10,
                   "the cut shown on the follower")
        ok(True, f"{follower} is shown cut off")
        for i in range(3):
            key = driver.find_element(By.ID, "key")
            key.clear()
            key.send_keys(f"lab/k{i}")
            driver.find_element(By.ID, "write").click()
            wait_until(lambda: "wrote through" in driver.find_element(By.ID, "lab-result").text and
                       f'"key":"/lab/k{i}"' in driver.find_element(By.ID, "lab-result").text, 10, f"the answer to writing lab/k{i}")

        def behind():
            shown = {m["name"]: m for m in members(driver)}
            leader = next(m for m in shown.values() if m["role"] == "leader" and m["name"] != follower)
            return int(leader["lastIndex"]) >= int(shown[follower]["lastIndex"]) + 3
        wait_until(behind, 10, "the cut-off follower to fall behind")
        ok(True, f"{follower}'s log falls behind while cut off")
        shot(driver, "4-partitioned.png")
        click(driver, "heal", follower)
        wait_until(lambda: converged(driver), 20, "the tails to converge after healing")
        ok(True, "after healing, every member's log tail and commit index agree")
        shot(driver, "5-healed.png")
        tails = driver.execute_script(
            "return [...document.querySelectorAll('#logs td[data-index]')].filter(td => td.textContent.includes('lab/k2')).length")
        ok(tails == 3, "the last key written shows in all three log tails")

        # 5. One link only: the follower and the leader cut apart, the third member still
        # reaching both; the follower's card shows that one cut, and reconnecting clears it.
        leader = leaders(driver)[0]
        click(driver, "link", follower, leader)
        card = lambda: driver.find_element(By.CSS_SELECTOR, f'.member[data-name="{follower}"]').text
        wait_until(lambda: f"cut off from {leader}" in card() and "," not in card().split("cut off from")[1].split("\n")[0], 10,
                   "one link cut")
        ok(True, f"the link between {follower} and {leader} alone is cut from the page")
        shot(driver, "6-one-link-cut.png")
        click(driver, "link", follower, leader)
        wait_until(lambda: "cut off from" not in card(), 10, "the link reconnected")
        ok(True, "reconnecting the link from the page clears the cut")
    finally:
        if driver:
            driver.quit()
        lab.send_signal(signal.SIGINT)
        try:
            output, _ = lab.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            output, _ = lab.communicate()
        if sys.exc_info()[0]:
            print(output)


single_member_switches()
lab_test()
print(f"1..{checks}\nscreenshots in {SHOTS}")
