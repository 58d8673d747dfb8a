// What the browser tests share: arguments, Debian's Chromium through
// playwright-core, steps that print "ok"/"FAIL" lines, and the widget's
// message lines.
//
//   node web/e2e/<script>.mjs http://127.0.0.1:PORT [screenshot-dir]
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// start reads the arguments and launches the browser.
export async function start(script) {
  const base = process.argv[2];
  const shots = process.argv[3] || mkdtempSync(join(tmpdir(), "bottega-shots-"));
  if (!base) {
    console.error(`usage: node ${script} BASE_URL [SCREENSHOT_DIR]`);
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return { base, shots, browser };
}

// steps returns check, which runs one named step, and finish, which
// prints the tally and exits non-zero if a step failed. With chained, a
// failed step fails the ones after it too (each builds on the page the
// previous one left).
export function steps({ chained = false } = {}) {
  let passed = 0, failed = 0, broken = "";
  async function check(name, fn) {
    if (broken) {
      failed++;
      console.log("FAIL " + name + ": not run, an earlier step failed (" + broken + ")");
      return;
    }
    try {
      await fn();
      passed++;
      console.log("ok   " + name);
    } catch (e) {
      failed++;
      if (chained) broken = name;
      console.log("FAIL " + name + ": " + (e && e.message ? e.message.split("\n")[0] : e));
    }
  }
  function finish(shots) {
    console.log(`screenshots in ${shots}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  }
  return { check, finish };
}

// The widget's lines, by who wrote them.
export const botLines = (page) => page.locator(".msg.bot");
export const shopperLines = (page) => page.locator(".msg.shopper");
