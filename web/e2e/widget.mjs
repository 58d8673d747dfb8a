// Browser test of the chat widget on the demo shop page, in Debian's
// Chromium driven by playwright-core. Run by cmd/bottega's TestBrowserWidget,
// which starts the server and passes its URL:
//
//   node web/e2e/widget.mjs http://127.0.0.1:PORT [screenshot-dir]
//
// It prints one line per check and "N passed, N failed" at the end, and
// exits non-zero when a check fails.
import assert from "node:assert/strict";
import { join } from "node:path";
import { botLines, shopperLines, start, steps } from "./harness.mjs";

const { base, shots, browser } = await start("widget.mjs");
const { check, finish } = steps();

try {
  // A phone-sized screen, like most shoppers have.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "it-IT" });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(base + "/");

  await check("the launcher opens the chat by keyboard", async () => {
    await page.locator(".launcher").focus();
    await page.keyboard.press("Enter");
    await page.locator(".panel").waitFor({ state: "visible", timeout: 5000 });
    assert.equal(await page.locator(".launcher").getAttribute("aria-expanded"), "true");
    const box = await page.locator(".panel").boundingBox();
    assert.ok(box.width >= 380, `panel is ${box.width}px wide on a 390px screen, want full width`);
  });

  await check("a stock question gets an answer with buttons", async () => {
    await page.locator("input").fill("avete le trail runner nel 42 rosse?");
    await page.keyboard.press("Enter");
    // A first conversation opens with the service notice (stated, not
    // asked), then the answer.
    const answer = botLines(page).filter({ hasText: /42/ }).first();
    await answer.waitFor({ timeout: 15000 });
    const notice = await botLines(page).first().innerText();
    assert.match(notice, /privacy/i, `first bot line ${JSON.stringify(notice)} is not the service notice`);
    const buttons = await answer.locator("button, a").count();
    assert.ok(buttons > 0, "the answer has no buttons or quick replies");
    await page.screenshot({ path: join(shots, "answer.png") });
  });

  await check("the shopper's line is confirmed, not doubled", async () => {
    await page.waitForFunction(() => {
      const host = document.querySelector("#bottega-chat");
      return host && host.shadowRoot.querySelectorAll(".msg.shopper.pending").length === 0;
    }, null, { timeout: 10000 });
    assert.equal(await shopperLines(page).count(), 1);
  });

  await check("HTML in a message is shown as text and never run", async () => {
    const evil = "<img src=x onerror=\"window.__pwned=1\"><b>ciao</b>";
    const answered = await botLines(page).count();
    await page.locator("input").fill(evil);
    await page.keyboard.press("Enter");
    await page.waitForFunction((n) => {
      const host = document.querySelector("#bottega-chat");
      return host.shadowRoot.querySelectorAll(".msg.bot").length > n;
    }, answered, { timeout: 15000 });
    const last = shopperLines(page).last();
    assert.equal(await last.innerText(), evil);
    assert.equal(await last.locator("img, b").count(), 0, "the message's HTML was rendered");
    assert.equal(await page.evaluate(() => window.__pwned), undefined, "script in a message ran");
  });

  // Let the last answer settle: it may come as several lines.
  for (let last = -1, n = await botLines(page).count(); n !== last; ) {
    await page.waitForTimeout(400);
    last = n;
    n = await botLines(page).count();
  }
  const before = { shopper: await shopperLines(page).count(), bot: await botLines(page).count() };

  await check("the history comes back after a page reload", async () => {
    await page.reload();
    await page.locator(".launcher").click();
    await page.waitForFunction((n) => {
      const host = document.querySelector("#bottega-chat");
      return host && host.shadowRoot.querySelectorAll(".msg.bot").length >= n;
    }, before.bot, { timeout: 10000 });
    assert.equal(await shopperLines(page).count(), before.shopper, "shopper lines after reload");
    assert.equal(await botLines(page).count(), before.bot, "bot lines after reload");
    await page.screenshot({ path: join(shots, "reloaded.png") });
  });

  await check("the export link downloads the shopper's data, once", async () => {
    await page.locator("input").fill("esporta i miei dati");
    await page.keyboard.press("Enter");
    const link = page.locator('.msg.bot a[href*="/privacy/export/"]').last();
    await link.waitFor({ timeout: 15000 });
    const href = await link.getAttribute("href");
    const origin = new URL(page.url()).origin;
    assert.ok(href.startsWith(origin + "/privacy/export/"), `export link ${href} is not on the Bottega server ${origin}`);
    const res = await page.request.get(href);
    assert.equal(res.status(), 200, "export download");
    const body = await res.json();
    assert.equal(body.format, "bottega.export/v1");
    assert.ok(body.conversations.length > 0, "the export holds no conversation");
    const again = await page.request.get(href);
    assert.equal(again.status(), 410, "a used export link answered again");
  });

  await check("Escape closes the chat and focus returns to the launcher", async () => {
    await page.locator("input").focus();
    await page.keyboard.press("Escape");
    await page.locator(".panel").waitFor({ state: "hidden", timeout: 5000 });
    const focused = await page.evaluate(() => document.querySelector("#bottega-chat").shadowRoot.activeElement?.className);
    assert.equal(focused, "launcher");
  });

  await check("the widget adds one global and no page errors", async () => {
    assert.equal(typeof (await page.evaluate(() => window.BottegaChat)), "object");
    assert.deepEqual(pageErrors, []);
  });
  await context.close();
} finally {
  await browser.close();
}

finish(shots);
