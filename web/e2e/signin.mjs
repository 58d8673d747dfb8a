// Browser test of the demo sign-in on the demo shop page, in Debian's
// Chromium driven by playwright-core: a visitor chats as a guest, signs in
// as the demo customer and keeps the conversation, then signs out and
// finds an empty chat. The server must run the demo with a customer key
// (web.Config.DemoCustomerKey), which shows "Sign in as Giulia (demo)".
//
//   node web/e2e/signin.mjs http://127.0.0.1:PORT [screenshot-dir]
//
// It prints one line per check and "N passed, N failed" at the end, and
// exits non-zero when a check fails.
import assert from "node:assert/strict";
import { join } from "node:path";
import { botLines, shopperLines, start, steps } from "./harness.mjs";

const { base, shots, browser } = await start("signin.mjs");
// A failed step fails the ones after it: each builds on the page the
// previous one left.
const { check, finish } = steps({ chained: true });

const texts = (loc) => loc.evaluateAll((els) => els.map((e) => e.textContent));

// settle waits until no new bot line has come for a while: an answer may
// come as several lines.
async function settle(page) {
  for (let last = -1, n = await botLines(page).count(); n !== last; ) {
    await page.waitForTimeout(500);
    last = n;
    n = await botLines(page).count();
  }
}

// ask sends a line and waits for it to be confirmed and answered.
async function ask(page, text) {
  const answered = await botLines(page).count();
  await page.locator("input").fill(text);
  await page.keyboard.press("Enter");
  await page.waitForFunction((n) => {
    const root = document.querySelector("#bottega-chat").shadowRoot;
    return root.querySelectorAll(".msg.shopper.pending").length === 0 &&
      root.querySelectorAll(".msg.bot").length > n;
  }, answered, { timeout: 15000 });
  await settle(page);
}

async function openChat(page) {
  await page.locator(".launcher").click();
  await page.locator(".panel").waitFor({ state: "visible", timeout: 5000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "it-IT" });
  // The chat socket passes through a route, so that one step can make the
  // server refuse the widget's token, as it does an expired one.
  let forgeHello = false;
  const sockets = [];
  await context.routeWebSocket(/\/chat\/socket$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push(ws);
    ws.onMessage((m) => {
      if (forgeHello && typeof m === "string" && JSON.parse(m).type === "hello") {
        forgeHello = false;
        m = JSON.stringify({ ...JSON.parse(m), token: "v2.forged.token" });
      }
      server.send(m);
    });
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(base + "/");

  const guest = { shopper: [], bot: [] };
  const first = "avete le trail runner nel 42 rosse?";
  const second = "e nel 43?";

  await check("the demo page offers the demo sign-in", async () => {
    const signin = page.locator("#demo-signin");
    assert.equal(await signin.count(), 1,
      "no \"Sign in as Giulia (demo)\" on the page: the server must run the demo with a customer key");
    assert.match(await signin.innerText(), /Giulia/);
    assert.equal(await page.locator("script[data-customer-id]").count(), 0, "a guest's page carries a customer claim");
  });

  await check("a guest asks a question and gets an answer", async () => {
    await openChat(page);
    await ask(page, first);
    guest.shopper = await texts(shopperLines(page));
    guest.bot = await texts(botLines(page));
    assert.deepEqual(guest.shopper, [first]);
    assert.ok(guest.bot.length > 0, "no answer");
  });

  await check("signing in by keyboard reloads the page as Giulia", async () => {
    await page.locator("#demo-signin").focus();
    await Promise.all([page.waitForURL(/signin=demo/, { timeout: 10000 }), page.keyboard.press("Enter")]);
    await page.locator("#demo-signout").waitFor({ timeout: 5000 });
    assert.equal(await page.locator("script[data-customer-id]").getAttribute("data-customer-id"), "demo-giulia");
    assert.match(await page.locator("script[data-customer-id]").getAttribute("data-customer-signature"), /^[0-9a-f]{64}$/);
    await page.screenshot({ path: join(shots, "signed-in-page.png") });
  });

  await check("the guest's conversation is still there after signing in", async () => {
    await openChat(page);
    await page.waitForFunction((n) => {
      const root = document.querySelector("#bottega-chat").shadowRoot;
      return root.querySelectorAll(".msg.bot").length >= n;
    }, guest.bot.length, { timeout: 10000 });
    await settle(page);
    assert.deepEqual(await texts(shopperLines(page)), guest.shopper, "shopper lines after sign-in");
    assert.deepEqual(await texts(botLines(page)), guest.bot, "bot lines after sign-in");
    assert.equal(await page.locator(".note, .error").count(), 0,
      `notes after sign-in: ${JSON.stringify(await texts(page.locator(".note, .error")))}`);
  });

  await check("signed in, the conversation goes on", async () => {
    await ask(page, second);
    assert.deepEqual(await texts(shopperLines(page)), [first, second]);
    await page.screenshot({ path: join(shots, "signed-in.png") });
  });

  await check("a refused session clears the chat in place, without a reload", async () => {
    forgeHello = true;
    await sockets[sockets.length - 1].close(); // the widget reconnects with hello
    await page.locator(".note").filter({ hasText: /nuova conversazione|new conversation/i }).waitFor({ timeout: 10000 });
    assert.equal(forgeHello, false, "the widget did not say hello again");
    assert.equal(await page.locator(".msg").count(), 0,
      `lines after a new session: ${JSON.stringify(await texts(page.locator(".msg")))}`);
    await ask(page, "ci sono ancora?");
    assert.deepEqual(await texts(shopperLines(page)), ["ci sono ancora?"]);
  });

  await check("after signing out the chat is empty, with nothing of Giulia's", async () => {
    // On a phone the open chat covers the page: close it first.
    await page.locator(".x").click();
    await page.locator(".panel").waitFor({ state: "hidden", timeout: 5000 });
    await Promise.all([page.waitForURL((u) => !u.search.includes("signin"), { timeout: 10000 }),
      page.locator("#demo-signout").click()]);
    await page.locator("#demo-signin").waitFor({ timeout: 5000 });
    await openChat(page);
    // The server's welcome says this is a new conversation; wait for it,
    // then give a replay time to (wrongly) arrive.
    await page.locator(".note").filter({ hasText: /nuova conversazione|new conversation/i }).waitFor({ timeout: 10000 });
    await page.waitForTimeout(1500);
    assert.equal(await page.locator(".msg").count(), 0,
      `lines after sign-out: ${JSON.stringify(await texts(page.locator(".msg")))}`);
    const shown = await page.locator(".log").innerText();
    for (const t of [first, second, ...guest.bot]) {
      assert.ok(!shown.includes(t), `after sign-out the chat shows ${JSON.stringify(t)}`);
    }
    await page.screenshot({ path: join(shots, "signed-out.png") });
  });

  await check("the next visitor chats in a conversation of their own", async () => {
    await ask(page, "ciao");
    assert.deepEqual(await texts(shopperLines(page)), ["ciao"]);
    await page.reload();
    await openChat(page);
    await page.waitForFunction(() => {
      const root = document.querySelector("#bottega-chat").shadowRoot;
      return root.querySelectorAll(".msg.bot").length > 0;
    }, null, { timeout: 10000 });
    await settle(page);
    assert.deepEqual(await texts(shopperLines(page)), ["ciao"], "the guest's history after a reload");
  });

  await check("no page errors", async () => {
    assert.deepEqual(pageErrors, []);
  });
  await context.close();
} finally {
  await browser.close();
}

finish(shots);
