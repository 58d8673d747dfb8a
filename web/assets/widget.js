/* Bottega web chat widget.
 *
 * Embed with one tag:  <script src="https://your-bottega/widget.js" async></script>
 * Optional attributes: data-lang="it|en" (default: the page's or browser's language),
 *                      data-server="https://your-bottega" (default: where the script came from),
 *                      data-open="true" (start open).
 * A signed-in shopper:  data-customer-id, data-customer-expires (unix seconds) and
 *                       data-customer-signature, computed by the shop's backend (see
 *                       the README, "Signed-in shoppers"). They go to the server with
 *                       hello; the chat then belongs to that customer, and a page
 *                       without them (signed out) or with another customer starts a
 *                       fresh chat.
 *
 * It lives in a shadow root so it cannot break the host page, defines one global
 * (window.BottegaChat), and renders every text with textContent.
 */
(function () {
  "use strict";
  if (window.BottegaChat) return;

  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var server = (script && script.getAttribute("data-server")) || (script ? new URL(script.src, location.href).origin : location.origin);
  var lang = ((script && script.getAttribute("data-lang")) || document.documentElement.lang || navigator.language || "it").slice(0, 2).toLowerCase();
  if (lang !== "it" && lang !== "en") lang = "en";
  var STORE = "bottega.chat.v1";
  var customer = null;
  if (script && script.getAttribute("data-customer-id") && script.getAttribute("data-customer-expires") &&
      script.getAttribute("data-customer-signature")) {
    customer = {
      id: script.getAttribute("data-customer-id"),
      expires: script.getAttribute("data-customer-expires"),
      signature: script.getAttribute("data-customer-signature")
    };
  }

  var T = {
    it: {
      open: "Apri la chat", close: "Chiudi la chat", title: "Bottega", subtitle: "Ti rispondiamo subito",
      placeholder: "Scrivi un messaggio…", send: "Invia", typing: "Sta scrivendo…",
      offline: "Connessione persa, riprovo…", sending: "invio…", failed: "non inviato",
      too_long: "Il messaggio è troppo lungo: resta sotto i 4.000 caratteri.",
      invalid_utf8: "Il messaggio contiene caratteri non validi.",
      empty: "Il messaggio è vuoto.",
      rate_limited: "Stai scrivendo molto in fretta: aspetta un attimo e riprova.",
      unavailable: "Qualcosa non va dalla nostra parte. Riprova tra poco.",
      bad_frame: "Messaggio non valido.",
      new_session: "Inizia una nuova conversazione.",
      bad_customer: "Non riusciamo a riconoscere il tuo account: continui come ospite.",
      you: "Tu", bot: "Bottega", agent: "Operatore"
    },
    en: {
      open: "Open chat", close: "Close chat", title: "Bottega", subtitle: "We reply right away",
      placeholder: "Write a message…", send: "Send", typing: "Typing…",
      offline: "Connection lost, retrying…", sending: "sending…", failed: "not sent",
      too_long: "That message is too long: please keep it under 4,000 characters.",
      invalid_utf8: "That message has characters we can't read.",
      empty: "That message is empty.",
      rate_limited: "You're writing very fast: please wait a moment and try again.",
      unavailable: "Something is wrong on our side. Please try again shortly.",
      bad_frame: "That message could not be read.",
      new_session: "A new conversation starts here.",
      bad_customer: "We couldn't confirm your shop account, so you're chatting as a guest.",
      you: "You", bot: "Bottega", agent: "Agent"
    }
  }[lang];

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;background:#7a2e1d;color:#fff;font-size:28px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".launcher:focus-visible,button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid #f2b705;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 120px);background:#fff;color:#1d1d1d;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000}",
    ".panel[hidden]{display:none}",
    "header{background:#7a2e1d;color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between}",
    "header h2{margin:0;font-size:16px}header p{margin:2px 0 0;font-size:12px;opacity:.85}",
    ".x{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;min-width:44px;min-height:44px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#faf7f2}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;font-size:14px;line-height:1.35;white-space:pre-wrap;word-wrap:break-word}",
    ".shopper{align-self:flex-end;background:#7a2e1d;color:#fff;border-bottom-right-radius:3px}",
    ".bot,.agent{align-self:flex-start;background:#fff;border:1px solid #e6ded3;border-bottom-left-radius:3px}",
    ".pending{opacity:.6}.failed{outline:2px solid #c0392b}",
    ".note{align-self:center;font-size:12px;color:#6b6b6b;text-align:center}",
    ".error{align-self:center;font-size:13px;color:#8a1c1c;background:#fde8e8;padding:6px 10px;border-radius:8px}",
    ".qr{display:flex;flex-wrap:wrap;gap:6px;margin-top:2px}",
    ".qr button,.card button,.card a,.btns button,.btns a{border:1px solid #7a2e1d;background:#fff;color:#7a2e1d;border-radius:16px;padding:6px 12px;font-size:13px;cursor:pointer;text-decoration:none;min-height:32px}",
    ".cards{display:flex;gap:8px;overflow-x:auto;max-width:100%;padding-bottom:4px}",
    ".card{min-width:200px;max-width:220px;background:#fff;border:1px solid #e6ded3;border-radius:10px;overflow:hidden;display:flex;flex-direction:column}",
    ".card img{width:100%;height:120px;object-fit:cover;background:#eee}",
    ".card .body{padding:8px 10px;display:flex;flex-direction:column;gap:4px;font-size:13px}",
    ".card .t{font-weight:600}.card .p{color:#7a2e1d;font-weight:600}.card .s{color:#555}",
    ".btns{display:flex;flex-wrap:wrap;gap:6px;padding:0 10px 10px}",
    ".typing{font-size:12px;color:#6b6b6b;padding:0 14px 6px;min-height:18px;background:#faf7f2}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #eee;background:#fff}",
    "input{flex:1;border:1px solid #ccc;border-radius:20px;padding:10px 14px;font-size:15px;min-width:0}",
    "form button{border:0;background:#7a2e1d;color:#fff;border-radius:20px;padding:0 16px;font-size:14px;cursor:pointer;min-height:44px}",
    ".status{font-size:12px;color:#8a1c1c;padding:4px 12px;background:#fff4e5}",
    ".status[hidden]{display:none}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}.launcher{right:14px;bottom:14px}}"
  ].join("\n");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  var host = el("div");
  host.id = "bottega-chat";
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = CSS;
  root.appendChild(style);

  var launcher = el("button", "launcher", "💬");
  launcher.type = "button";
  launcher.setAttribute("aria-label", T.open);
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "bottega-panel");

  var panel = el("section", "panel");
  panel.id = "bottega-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", T.title);
  var header = el("header");
  var titles = el("div");
  titles.appendChild(el("h2", null, T.title));
  titles.appendChild(el("p", null, T.subtitle));
  var closeBtn = el("button", "x", "×");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", T.close);
  header.appendChild(titles);
  header.appendChild(closeBtn);
  var status = el("div", "status", T.offline);
  status.hidden = true;
  status.setAttribute("role", "status");
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.tabIndex = 0;
  var typing = el("div", "typing");
  typing.setAttribute("aria-live", "polite");
  var form = el("form");
  var input = el("input");
  input.type = "text";
  input.maxLength = 4000;
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.placeholder);
  input.autocomplete = "off";
  var sendBtn = el("button", null, T.send);
  sendBtn.type = "submit";
  form.appendChild(input);
  form.appendChild(sendBtn);
  panel.appendChild(header);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  // --- state -----------------------------------------------------------
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(STORE) || "{}") || {}; } catch (e) { saved = {}; }
  var token = saved.token || "";
  var lastSeq = 0;            // highest entry seq shown: resume point after a reconnect
  var shown = {};             // seq -> true, so a replay never doubles a line
  var pending = [];           // {id, text, payload, node}: sent or queued, not yet in the log
  var ws = null, backoff = 500, pingTimer = null, typingTimer = null, everConnected = false;
  var toldBadCustomer = false; // the refused-account note is shown once per page

  function save() {
    try { localStorage.setItem(STORE, JSON.stringify({ token: token })); } catch (e) { /* private mode */ }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "m" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function note(text, cls) { log.appendChild(el("div", cls || "note", text)); scroll(); }

  // safeURL resolves a link against the Bottega server (an export link is
  // "/privacy/export/…" on the server, not on the shop's page) and keeps
  // only http and https links.
  function safeURL(u) {
    try {
      var r = new URL(u, server);
      return r.protocol === "http:" || r.protocol === "https:" ? r.href : "";
    } catch (e) { return ""; }
  }

  function renderButtons(container, buttons) {
    (buttons || []).forEach(function (b) {
      if (b.url) {
        var href = safeURL(b.url);
        if (!href) return;
        var a = el("a", null, b.title);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        container.appendChild(a);
      } else {
        var btn = el("button", null, b.title);
        btn.type = "button";
        btn.addEventListener("click", function () { send(b.title, b.payload); });
        container.appendChild(btn);
      }
    });
  }

  function renderEntry(e) {
    if (shown[e.seq]) return;
    shown[e.seq] = true;
    if (e.seq > lastSeq) lastSeq = e.seq;
    if (e.from === "shopper") {
      for (var i = 0; i < pending.length; i++) {
        if (pending[i].id === e.message_id) {
          pending[i].node.classList.remove("pending", "failed");
          pending[i].node.removeAttribute("title");
          pending[i].node.setAttribute("data-seq", e.seq);
          pending.splice(i, 1);
          return;
        }
      }
      var own = el("div", "msg shopper", e.text || "");
      own.setAttribute("data-seq", e.seq);
      log.appendChild(own);
      scroll();
      return;
    }
    var r = e.reply || {};
    var wrap = el("div", "msg " + (e.from === "agent" ? "agent" : "bot"));
    wrap.setAttribute("data-seq", e.seq);
    if (r.text) wrap.appendChild(el("div", null, r.text));
    if (r.cards && r.cards.length) {
      var cards = el("div", "cards");
      r.cards.forEach(function (c) {
        var card = el("div", "card");
        if (c.image_url && safeURL(c.image_url)) {
          var img = el("img");
          img.src = safeURL(c.image_url);
          img.alt = c.title || "";
          img.loading = "lazy";
          img.addEventListener("error", function () { img.remove(); });
          card.appendChild(img);
        }
        var body = el("div", "body");
        body.appendChild(el("div", "t", c.title || ""));
        if (c.subtitle) body.appendChild(el("div", "s", c.subtitle));
        if (c.price) body.appendChild(el("div", "p", c.price));
        card.appendChild(body);
        var btns = el("div", "btns");
        var buttons = (c.buttons || []).slice();
        if (c.url && !buttons.some(function (b) { return b.url === c.url; })) buttons.push({ title: "↗", url: c.url });
        renderButtons(btns, buttons);
        card.appendChild(btns);
        cards.appendChild(card);
      });
      wrap.appendChild(cards);
    }
    if (r.buttons && r.buttons.length) {
      var bs = el("div", "qr");
      renderButtons(bs, r.buttons);
      wrap.appendChild(bs);
    }
    if (r.quick_replies && r.quick_replies.length) {
      var qr = el("div", "qr");
      r.quick_replies.forEach(function (q) {
        var b = el("button", null, q.title);
        b.type = "button";
        b.addEventListener("click", function () { send(q.title, q.payload); });
        qr.appendChild(b);
      });
      wrap.appendChild(qr);
    }
    log.appendChild(wrap);
    scroll();
  }

  function setTyping(on) {
    typing.textContent = on ? T.typing : "";
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.textContent = ""; }, 30000);
  }

  function frame(obj) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function send(text, payload) {
    text = (text || "").trim();
    if (!text && !payload) return;
    var m = { id: uuid(), text: text, payload: payload || "" };
    m.node = el("div", "msg shopper pending", text);
    m.node.title = T.sending;
    log.appendChild(m.node);
    scroll();
    pending.push(m);
    frame({ type: "message", client_msg_id: m.id, text: m.text, payload: m.payload, locale: lang });
  }

  function connect() {
    var url = server.replace(/^http/, "ws") + "/chat/socket";
    try { ws = new WebSocket(url); } catch (e) { retry(); return; }
    ws.onopen = function () {
      backoff = 500;
      var hello = { type: "hello", token: token, last_seq: lastSeq, locale: lang };
      if (customer) hello.customer = customer;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      // A batch is several frames in one message, in order.
      (f.type === "batch" ? f.frames || [] : [f]).forEach(handle);
    };
    function handle(f) {
      switch (f.type) {
        case "welcome":
          status.hidden = true;
          if (f.new_session) {
            // Another conversation (an expired one, or another person's on
            // this computer): nothing of the old one stays on screen. Lines
            // typed on this page and not yet sent are the same visitor's.
            while (log.firstChild) log.removeChild(log.firstChild);
            lastSeq = 0;
            shown = {};
            note(T.new_session);
            pending.forEach(function (m) { log.appendChild(m.node); });
          }
          token = f.token;
          save();
          everConnected = true;
          // Resend what was not acknowledged: the same client_msg_id makes it idempotent.
          pending.forEach(function (m) {
            frame({ type: "message", client_msg_id: m.id, text: m.text, payload: m.payload, locale: lang });
          });
          clearInterval(pingTimer);
          pingTimer = setInterval(function () { frame({ type: "ping" }); }, 25000);
          break;
        case "entry":
          if (f.entry) renderEntry(f.entry);
          break;
        case "typing":
          setTyping(!!f.typing);
          break;
        case "ack":
          break;
        case "error":
          setTyping(false);
          if (f.client_msg_id) {
            pending = pending.filter(function (m) {
              if (m.id !== f.client_msg_id) return true;
              m.node.classList.remove("pending");
              m.node.classList.add("failed");
              m.node.title = T.failed;
              return false;
            });
          }
          if (f.code === "bad_customer") {
            if (!toldBadCustomer) note(T.bad_customer);
            toldBadCustomer = true;
            break;
          }
          note(T[f.code] || T.unavailable, "error");
          break;
      }
    }
    ws.onclose = function () {
      clearInterval(pingTimer);
      setTyping(false);
      if (everConnected) status.hidden = false;
      retry();
    };
  }

  function retry() {
    var wait = Math.min(backoff, 15000) * (0.5 + Math.random());
    backoff = Math.min(backoff * 2, 15000);
    setTimeout(connect, wait);
  }

  function open(yes) {
    panel.hidden = !yes;
    launcher.setAttribute("aria-expanded", yes ? "true" : "false");
    launcher.setAttribute("aria-label", yes ? T.close : T.open);
    launcher.textContent = yes ? "×" : "💬";
    if (yes) { input.focus(); scroll(); } else { launcher.focus(); }
  }

  launcher.addEventListener("click", function () { open(panel.hidden); });
  closeBtn.addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var v = input.value;
    input.value = "";
    send(v);
  });

  function start() {
    document.body.appendChild(host);
    connect();
    if (script && script.getAttribute("data-open") === "true") open(true);
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);

  window.BottegaChat = {
    open: function () { open(true); },
    close: function () { open(false); },
    send: function (text) { send(text); },
    reset: function () { try { localStorage.removeItem(STORE); } catch (e) {} token = ""; }
  };
})();
