"""Screenshots of the playground for docs/playground.md (headless Chromium via Playwright).

    .venv/bin/python docs/make_playground_screenshots.py [--out docs/gallery]
"""
import argparse
import os
import shutil
import time

from playwright.sync_api import sync_playwright

from autograd_lab.playground import Session, start

HERE = os.path.dirname(os.path.abspath(__file__))


def click_point(page, subset, index):
    xy = page.evaluate(f"snap.points['{subset}'].xy[{index}]")
    domain = page.evaluate("snap.domain")
    box = page.locator("#boundary").bounding_box()
    page.mouse.click(box["x"] + (xy[0] + domain) / (2 * domain) * box["width"],
                     box["y"] + (domain - xy[1]) / (2 * domain) * box["height"])
    page.wait_for_selector("#trace:not([hidden])")


def train_until(page, test_loss, seconds=60):
    page.click("#play")
    page.wait_for_function(f"() => Number(document.getElementById('test-loss').textContent) < {test_loss}",
                           timeout=seconds * 1000)
    page.click("#play")
    page.wait_for_function("() => document.getElementById('play').textContent.includes('Play')")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(HERE, "gallery"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    server = start(session=Session())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url + "&data=spiral&layers=8,8&act=tanh&features=x1,x2,sin1,sin2&opt=adam&lr=0.03&batch=10")
        page.wait_for_selector("body[data-ready='1']")
        train_until(page, 0.1)
        page.screenshot(path=os.path.join(args.out, "playground_spiral.png"))

        click_point(page, "train", 3)
        page.click("#trace-prev")
        page.click("#trace-prev")                       # backward through the output layer
        page.check("#view-backward")
        top = page.locator("main").bounding_box()["y"]
        bottom = page.locator("#trace").bounding_box()
        page.set_viewport_size({"width": 1400, "height": int(bottom["y"] + bottom["height"] + 10)})
        page.screenshot(path=os.path.join(args.out, "playground_point_backward.png"),
                        clip={"x": 0, "y": top, "width": 1400, "height": bottom["y"] + bottom["height"] - top})

        page.check("#view-forward")
        page.select_option("#land-a", "32")             # two weights of the second layer
        page.select_option("#land-b", "40")
        page.click("#land-go")
        page.wait_for_function("() => document.getElementById('land-note').textContent.includes('Training loss')")
        box = page.locator("#landscape").bounding_box()                 # in viewport coordinates
        top = box["y"] + page.evaluate("window.scrollY")
        page.screenshot(path=os.path.join(args.out, "playground_landscape.png"),
                        clip={"x": box["x"], "y": top, "width": 760, "height": box["height"]}, full_page=True)

        page.goto(server.url + "&data=gauss&classes=4&noise=10&layers=6&act=relu&features=x1,x2&opt=momentum&lr=0.03")
        page.wait_for_selector("body[data-ready='1']")
        page.click("#play")
        time.sleep(3)
        page.click("#play")
        page.wait_for_function("() => document.getElementById('play').textContent.includes('Play')")
        page.set_viewport_size({"width": 1400, "height": 700})
        page.screenshot(path=os.path.join(args.out, "playground_four_classes.png"))
        browser.close()
    server.shutdown()
    for name in ("spiral", "point_backward", "landscape", "four_classes"):
        print("wrote", os.path.join(args.out, f"playground_{name}.png"))


if __name__ == "__main__":
    main()
