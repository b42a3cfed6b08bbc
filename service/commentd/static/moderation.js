/* commentd moderation console (moderation.js): the author's queue, posts, rules, tokens, a
 * glance at the last 30 days and moving comments in and out, on any page of the blog or at
 * /moderate. <div id="moderation" data-post-url="/posts/{slug}.html"></div> and this script.
 *
 * Sign-in: embedded on the blog (another origin), the token lives in sessionStorage only (this
 * tab, until closed or forgotten). On the hosted page (data-session="cookie", /moderate) the
 * token is traded for an HttpOnly session cookie (POST /api/moderation/session), so a new tab
 * is signed in and no script can read the token; unsafe requests carry X-Commentd-CSRF. A
 * service without sessions falls back to sessionStorage.
 *
 * Every action (one comment or many) shows at once and is sent after data-undo-seconds
 * (default 5) unless Undo is pressed; leaving the page sends what waits (fetch keepalive).
 * A feature whose endpoint the service does not have (404/405) is hidden.
 * Words: window.commentdModerationStrings (English only); colours: the --commentd-* properties.
 * Served after src/common.js (commentdCommon) and with widgets.css, as one script: see there. */
/* global commentdCommon */
(function () {
  "use strict";
  var STATUSES = ["pending", "approved", "spam", "rejected", "all"];
  /* What each action does to a comment's status (delete: it is gone). */
  var ACTIONS = { approve: "approved", reject: "rejected", spam: "spam", "not-spam": "approved", "delete": null };
  var KEYS = { a: "approve", r: "reject", s: "spam", d: "delete", Delete: "delete" };
  var VIEWS = ["queue", "posts", "settings", "glance", "tokens", "moving"];
  var FORMATS = { disqus: "Disqus (XML)", wordpress: "WordPress (WXR)", isso: "Isso (SQLite)", remark42: "Remark42 backup",
    commento: "Commento / Comentario (JSON)", artalk: "Artalk, Waline, Twikoo (Artrans JSON)", json: "commentd (JSON)" };
  var HISTORY_WORDS = { submitted: "Submitted", imported: "Imported", approved: "Approved", rejected: "Rejected", spam: "Marked as spam",
    not_spam: "Marked as not spam", edited: "Edited", pinned: "Pinned", unpinned: "Unpinned", moved: "Moved to another post",
    replied: "The author replied", review_requested: "Sent back for review" };
  /* Every code of a reason the service writes (the reason filter's, comments/search.py
   * REASON_PATTERNS), in words: tests/unit/test_reason_codes.py fails on a code without. */
  var REASONS = { honeypot: "Honeypot filled (a bot)", disallowed_keyword: "A spam word matched", keyword: "A hold word matched",
    duplicate: "Same text as another comment", duplicate_spam: "Same text as a spam comment", form_token: "Form token missing, forged or expired",
    too_fast: "Sent too soon after the form opened", links: "Too many links", filter: "The learning filter’s score",
    pow_missing: "No proof of work (not sent by the comment widget)", pow_invalid: "Proof of work wrong or forged",
    pow_expired: "Proof of work expired (over an hour old)", pow_replayed: "Proof of work used before",
    review_requested: "Its writer asked you to review it", imported: "Imported from another comment system" };
  /* The rules of GET /api/moderation/settings, each with its effect in words; a rule the
   * service adds later still shows, with a control for its type. */
  var RULES = {
    moderation: { label: "Which comments wait for you", kind: "choice", choices: {
      all: "Every new comment waits for your approval.",
      known: "A returning commenter (proven by their browser, with an earlier approved comment) is published at once; others wait.",
      none: "Comments are published at once, except what the spam defences hold or catch." } },
    hold_links: { label: "Hold comments with this many links", kind: "whole", min: 0, max: 1000,
      effect: function (v) { return v ? "A comment with " + v + " link" + (v === 1 ? "" : "s") + " or more waits for you, whatever the mode." : "Off: links alone never hold a comment."; } },
    moderation_keywords: { label: "Words that hold a comment", kind: "words",
      effect: function (v) { return v.length ? "A comment containing one of these " + v.length + " words or phrases (in its text, name, email or website) waits for you." : "Empty: no word holds a comment."; } },
    disallowed_keywords: { label: "Words that mark a comment as spam", kind: "words",
      effect: function (v) { return v.length ? "A comment containing one of these " + v.length + " words or phrases goes straight to the spam folder." : "Empty: no word sends a comment to spam."; } },
    duplicate_window_seconds: { label: "Duplicate window (seconds)", kind: "whole", min: 0, max: 31622400,
      effect: function (v) { return v ? "The same text posted again within " + duration(v) + " waits for you (and is spam if the first one was)." : "Off: repeated text is not checked."; } },
    spam_threshold: { label: "Spam score threshold", kind: "fraction",
      effect: function (v) { return "The learning filter sends a comment scoring " + v + " or more (of 1) to spam. Lower catches more, and more real comments by mistake."; } },
    hold_threshold: { label: "Hold score threshold", kind: "fraction",
      effect: function (v) { return "A comment scoring " + v + " or more (up to the spam threshold) waits for you, whatever the mode. It cannot be above the spam threshold."; } },
    spam_digest: { label: "Spam digest mail", kind: "choice", choices: {
      daily: "Once a day, if anything was caught, a mail lists the spam still in the folder, each with a Not spam link (to rescue a real comment).",
      weekly: "The same list, once a week.",
      off: "No digest: look in the Spam tab yourself. (Always off while the server has no COMMENTD_NOTIFY_EMAIL.)" } }
  };

  var kit = commentdCommon("moderation.js", {
    tokenLabel: "Moderation token", signIn: "Open the queue",
    tokenHint: "Kept in this browser tab only, until you close it or forget it. No token yet? `commentd token` on the server prints one.",
    tokenHintCookie: "This browser (every tab) stays signed in until you sign out; the token itself is not kept. No token yet? `commentd token` on the server prints one.",
    tokenRefused: "That token was not accepted.", forget: "Forget token", signOut: "Sign out", forgotten: "The token is forgotten.",
    tabs: "Comments by status", pending: "Pending", approved: "Approved", spam: "Spam", rejected: "Rejected", all: "All",
    refresh: "Refresh", loading: "Loading…", loadMore: "Load more", loadFailed: "The queue could not be loaded.",
    empty_pending: "Nothing waits for you. The queue is clear.", empty_other: "No comments here.", empty_search: "No comment matches this search.",
    selectAll: "Select all shown", selected: "{n} selected", select: "Select the comment by {name}",
    approve: "Approve", notSpam: "Not spam", reject: "Reject", spamAction: "Spam", "delete": "Delete",
    on: "on", inReplyTo: "reply to #{id}", notify: "wants reply notices", edited: "edited",
    signals: "Spam signals", pastSignals: "Spam signals when it came in", score: "score {score}", noSignals: "No spam signals.",
    done_approve: "Approved {n}.", done_reject: "Rejected {n}.", done_spam: "Marked {n} as spam.", done_delete: "Deleted {n}.",
    "done_not-spam": "Restored {n} from spam.",
    comments_one: "1 comment", comments_other: "{n} comments", theCommentBy: "the comment by {name}",
    failed: "Could not {action} the comment by {name}: {reason} It is back in the list.",
    gone: "The comment by {name} no longer exists.", offline: "the server could not be reached.",
    confirmDelete: "Delete {what} for good? This removes the text and the email address; replies stay.",
    cancel: "Cancel", undo: "Undo", undone: "Undone: {what} back in the list.",
    keys: "Press ? for the keys."
  }, window.commentdModerationStrings);
  var base = kit.base, lang = kit.lang, t = kit.t, plural = kit.plural, h = kit.h, safeUrl = kit.safeUrl;
  function timeEl(iso) { return kit.timeEl(iso, 30, "short"); }
  /* The token: this tab only, under "commentd.moderationToken", until closed or forgotten. */
  var session = kit.storage("sessionStorage");
  var uid = 0;
  function nextId(prefix) { uid += 1; return "commentd-mod-" + prefix + "-" + uid; }
  /* Answers come back in any order. Of the requests that fill one thing (`what` of `holder`:
     the queue's list or counts, a table, an element), only the newest may fill it: an older
     answer arriving late would put back what a newer one replaced. newest(holder, what)
     numbers a request and returns a test of whether it is still the newest. */
  function newest(holder, what) {
    var key = "commentdNewest_" + what, n = holder[key] = (holder[key] || 0) + 1;
    return function () { return holder[key] === n; };
  }
  function count(n) { return Number(n || 0).toLocaleString(lang); }
  function duration(s) {
    if (s % 86400 === 0) return s / 86400 === 1 ? "a day" : s / 86400 + " days";
    if (s % 3600 === 0) return s / 3600 === 1 ? "an hour" : s / 3600 + " hours";
    if (s % 60 === 0) return s / 60 === 1 ? "a minute" : s / 60 + " minutes";
    return s + " seconds";
  }
  /* A stored reason as the author reads it: most are words with their details ("matched keyword
   * 'x'", "2 links, limit 2") and stay so; one that is or carries a code ("review_requested",
   * "… (pow_missing: …)") shows the code's words. Quoted words (a keyword) are not codes. */
  function reasonText(reason) {
    reason = String(reason);
    var codes = reason.replace(/'[^']*'/g, "").match(/[a-z]+(?:_[a-z]+)+/g) || [];
    for (var i = 0; i < codes.length; i++) if (REASONS[codes[i]]) return REASONS[codes[i]];
    return codes.length ? reason.replace(/_/g, " ") : reason;
  }
  function sentence(text) { text = String(text || ""); return /[.!?]$/.test(text) ? text : text + "."; }
  function btn(label, onclick, extra) {
    return h("button", Object.assign({ "class": "commentd-mod-btn", type: "button", onclick: onclick }, extra || {}), label);
  }
  function missing(res) { return res.r.status === 404 || res.r.status === 405; }
  function errorText(res) {
    var e = res.body.error;
    return sentence((e && typeof e === "object" ? e.message : res.body.message) || "The service answered " + res.r.status);
  }
  function fieldErrors(res) {
    var e = res.body.error;
    return (e && typeof e === "object" && e.fields) || res.body.fields || {};
  }

  /* The page's link colour is the console's accent (kit.fit); where it reads badly on the page's
   * background (a theme whose links are too dark in dark mode), it is mixed towards the text
   * colour until it reaches WCAG AA (4.5:1), and the text on accent buttons follows. */
  function rgb(color) {
    var m = String(color).match(/[\d.]+/g);
    if (!m || m.length < 3 || (m.length > 3 && Number(m[3]) === 0)) return null;
    var scale = /^color\(/.test(color) ? 255 : 1;
    return m.slice(0, 3).map(function (v) { return Number(v) * scale; });
  }
  function lum(c) {
    c = c.map(function (v) { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function backdrop(el) {
    for (; el && el.nodeType === 1; el = el.parentNode) {
      var c = rgb(getComputedStyle(el).backgroundColor);
      if (c) return c;
    }
    return matchMedia && matchMedia("(prefers-color-scheme: dark)").matches && getComputedStyle(document.documentElement).colorScheme.indexOf("dark") >= 0 ? [18, 18, 18] : [255, 255, 255];
  }
  function readable(section) {
    var style = getComputedStyle(section), link = rgb(style.getPropertyValue("--_link")), text = rgb(style.color), bg = backdrop(section);
    if (!link || !text || style.getPropertyValue("--commentd-accent").trim()) return;
    for (var w = 1; w >= 0; w -= 0.1) {
      var c = link.map(function (v, i) { return Math.round(v * w + text[i] * (1 - w)); });
      if (contrast(c, bg) >= 4.5 || w < 0.05) {
        if (w < 1) {
          section.style.setProperty("--_link", "rgb(" + c.join(" ") + ")");
          section.style.setProperty("--_on-auto", contrast(c, [255, 255, 255]) >= contrast(c, [17, 17, 17]) ? "#fff" : "#111");
        }
        return;
      }
    }
  }

  function originOf(url) {
    try { return safeUrl(new URL(url, location.href).href) && new URL(url, location.href).origin; } catch { return null; }
  }

  function Console(root) {
    this.root = root;
    this.pageSize = Math.min(100, parseInt(root.getAttribute("data-page-size"), 10) || 20);
    var undo = parseFloat(root.getAttribute("data-undo-seconds"));
    this.undoMs = (isNaN(undo) ? 5 : Math.max(0, Math.min(30, undo))) * 1000;
    /* ?post_url= can come from anyone's link: it counts only while every link it makes stays on
     * this page's origin or one of data-link-origins (the hosted page lists the blog's). */
    this.linkOrigins = [location.origin].concat((root.getAttribute("data-link-origins") || "").split(/\s+/).filter(Boolean))
      .map(originOf).filter(Boolean);
    var asked = new URLSearchParams(location.search).get("post_url");
    this.askedUrl = asked && /\{slug\}/.test(asked) && this.linkAllowed(asked.replace("{slug}", "x")) ? asked : null;
    if (asked && !this.askedUrl) console.warn("commentd: post_url ignored: it must lead to " + this.linkOrigins.join(" or "));
    /* Embedded on the blog, a slug is a path of the blog; on the service's own page we cannot guess. */
    this.postUrl = this.askedUrl || root.getAttribute("data-post-url") ||
      (location.origin !== new URL(base).origin ? "/{slug}" : null);
    /* The cookie session only on the service's own origin (SameSite=Strict, never CORS). */
    this.cookieAllowed = root.getAttribute("data-session") === "cookie" && location.origin === new URL(base).origin;
    this.token = session.get("moderationToken");
    this.csrf = null;
    this.mode = null; /* "bearer" or "cookie" once signed in */
    this.tab = "pending";
    this.view = "queue";
    this.counts = {};
    this.filters = {};
    this.features = {};
    this.pending = []; /* actions shown done, not yet sent */
    this.section = h("section", { "class": "commentd-mod", "aria-label": "Comment moderation", "data-unsent": "0" });
    this.status = h("p", { "class": "commentd-mod-status", role: "status", "aria-live": "polite" });
    root.replaceChildren(this.section);
    kit.fit(root, this.section);
    readable(this.section);
    var self = this;
    if (window.matchMedia) matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () { readable(self.section); });
    window.addEventListener("pagehide", function () { self.flush(true); });
    this.start();
  }

  Console.prototype.start = function () {
    var self = this;
    if (this.cookieAllowed) {
      this.section.replaceChildren(h("p", { "class": "commentd-mod-hint" }, t("loading")));
      return this.sessionRequest("GET").then(function (res) {
        if (res.r.ok && res.body.csrf) { self.signedIn("cookie", res.body.csrf); return; }
        if (missing(res)) self.cookieAllowed = false;
        if (self.token) self.signedIn("bearer"); else self.showLogin();
      }, function () { if (self.token) self.signedIn("bearer"); else self.showLogin(); });
    }
    if (this.token) this.signedIn("bearer"); else this.showLogin();
  };

  Console.prototype.sessionRequest = function (method, body) {
    var headers = { "Content-Type": "application/json" };
    if (method === "DELETE" && this.csrf) headers["X-Commentd-CSRF"] = this.csrf;
    return kit.request(base + "/api/moderation/session", { method: method, cache: "no-store", credentials: "same-origin",
      headers: headers, body: body ? JSON.stringify(body) : undefined });
  };

  Console.prototype.signedIn = function (mode, csrf) {
    this.mode = mode;
    this.csrf = csrf || null;
    this.probe();
    this.showConsole();
  };

  /* A request to /api/moderation/<path>: resolves {r, body} (kit.request). */
  Console.prototype.api = function (method, path, body, extra) {
    var headers = {};
    if (this.mode === "cookie") { if (!/^(GET|HEAD)$/.test(method)) headers["X-Commentd-CSRF"] = this.csrf; } else headers.Authorization = "Bearer " + this.token;
    var init = Object.assign({ method: method, cache: "no-store", headers: headers, credentials: this.mode === "cookie" ? "same-origin" : "omit" }, extra || {});
    if (body !== undefined && !(body instanceof Blob)) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); } else if (body) init.body = body;
    return kit.request(base + "/api/moderation/" + path, init);
  };

  /* Which additions the service has: each feature's view or controls show only if it does. */
  Console.prototype.probe = function () {
    var self = this;
    function has(name, path) {
      self.features[name] = self.api("GET", path).then(function (res) {
        return res.r.ok ? res.body : null;
      }, function () { return null; });
    }
    has("stats", "stats?days=30");
    has("posts", "posts?limit=1");
    has("tokens", "tokens");
    this.features.stats.then(function (ok) {
      self.searchable = !!ok;
      if (self.searchBox) self.searchBox.hidden = !ok;
      if (self.tabs && self.tabs.all) self.tabs.all.hidden = !ok;
      if (ok && self.view === "queue") self.loadCounts();
    });
  };

  Console.prototype.say = function (text, bad) {
    this.status.textContent = text;
    this.status.className = "commentd-mod-status" + (bad ? " commentd-mod-bad" : "");
  };

  Console.prototype.showLogin = function (message) {
    var self = this, input = h("input", { id: "commentd-mod-token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
    var error = h("p", { "class": "commentd-mod-err", role: "alert" }, message || "");
    var form = h("form", { "class": "commentd-mod-login", onsubmit: function (e) {
      e.preventDefault();
      var token = input.value.trim();
      if (!token) return input.focus();
      var refused = function (res) {
        error.textContent = res.r.status === 401 ? t("tokenRefused") : errorText(res);
        input.setAttribute("aria-invalid", "true");
        input.focus();
      };
      var bearer = function () {
        self.token = token;
        self.mode = "bearer";
        return self.api("GET", "counts").then(function (res) {
          if (!res.r.ok) { self.token = null; return refused(res); }
          session.set("moderationToken", token);
          self.say("");
          self.signedIn("bearer");
        });
      };
      var tried = self.cookieAllowed ? self.sessionRequest("POST", { token: token }).then(function (res) {
        if (res.r.ok && res.body.csrf) { self.say(""); return self.signedIn("cookie", res.body.csrf); }
        if (missing(res)) { self.cookieAllowed = false; return bearer(); }
        refused(res);
      }) : bearer();
      tried.catch(function () { error.textContent = t("loadFailed") + " " + t("offline"); });
    } }, h("label", { "for": "commentd-mod-token" }, t("tokenLabel")), input,
      h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, t("signIn")));
    this.section.replaceChildren(form, error, h("p", { "class": "commentd-mod-hint", text: t(this.cookieAllowed ? "tokenHintCookie" : "tokenHint") }), this.status);
    input.focus();
  };

  Console.prototype.forget = function (message) {
    var self = this;
    this.flush(false);
    if (this.mode === "cookie") this.sessionRequest("DELETE").catch(function () { /* gone anyway on this page */ });
    session.set("moderationToken", null);
    this.token = null;
    this.mode = null;
    document.removeEventListener("keydown", this.onKey);
    this.showLogin(message);
    if (!message) this.say(t("forgotten"));
    return self;
  };

  Console.prototype.handleAuth = function (res) {
    if (res.r.status !== 401) return false;
    this.forget(t("tokenRefused"));
    return true;
  };

  /* ---------- The frame: views, the key help, the confirmation dialog ---------- */

  Console.prototype.showConsole = function () {
    var self = this;
    var names = { queue: "Comments", posts: "Posts", settings: "Rules", glance: "Glance", tokens: "Tokens", moving: "Import & export" };
    this.nav = {};
    var nav = h("nav", { "class": "commentd-mod-nav", "aria-label": "Console" });
    VIEWS.forEach(function (view, i) {
      var b = h("button", { "class": "commentd-mod-navbtn", type: "button", "aria-keyshortcuts": String(i + 1),
        onclick: function () { self.showView(view, true); } }, names[view]);
      self.nav[view] = b;
      nav.append(b);
    });
    this.features.tokens.then(function (ok) { if (!ok && self.nav.tokens) self.nav.tokens.hidden = true; });
    this.viewBox = h("div", { "class": "commentd-mod-view" });
    this.undoButton = h("button", { "class": "commentd-mod-btn commentd-mod-undo", type: "button", hidden: true, "aria-keyshortcuts": "u",
      onclick: function () { self.undo(); } }, t("undo"));
    this.dialog = this.buildDialog();
    this.help = this.buildHelp();
    this.section.replaceChildren(
      h("div", { "class": "commentd-mod-top" }, nav, h("div", { "class": "commentd-mod-tools" },
        btn("Keys", function () { self.help.showModal(); }, { "aria-keyshortcuts": "?" }),
        btn(t(this.mode === "cookie" ? "signOut" : "forget"), function () { self.forget(); }))),
      h("div", { "class": "commentd-mod-toast" }, this.status, this.undoButton),
      this.viewBox, h("p", { "class": "commentd-mod-keys", text: t("keys") }), this.dialog, this.help);
    this.onKey = this.onKey || function (e) { self.shortcut(e); };
    document.addEventListener("keydown", this.onKey);
    this.showView(this.view, false);
  };

  Console.prototype.showView = function (view, focus) {
    this.view = view;
    for (var v in this.nav) {
      if (v === view) this.nav[v].setAttribute("aria-current", "page"); else this.nav[v].removeAttribute("aria-current");
    }
    var heading = h("h2", { "class": "commentd-mod-h", tabindex: "-1" });
    this.viewBox.replaceChildren(heading);
    this["view_" + view](heading);
    if (focus) heading.focus();
  };

  Console.prototype.buildDialog = function () {
    var self = this;
    this.dialogText = h("p", { id: nextId("dialog") });
    this.dialogYes = h("button", { "class": "commentd-mod-btn commentd-mod-danger commentd-mod-primary", value: "yes" }, t("delete"));
    var dialog = h("dialog", { "class": "commentd-mod-dialog", "aria-labelledby": this.dialogText.id },
      h("form", { method: "dialog" }, this.dialogText,
        h("div", { "class": "commentd-mod-actions" }, this.dialogYes,
          h("button", { "class": "commentd-mod-btn", value: "cancel", autofocus: true }, t("cancel")))));
    dialog.addEventListener("close", function () { if (self.dialogDone) self.dialogDone(dialog.returnValue === "yes"); });
    return dialog;
  };

  Console.prototype.confirm = function (text, yes) {
    var self = this;
    this.dialogText.textContent = text;
    this.dialogYes.textContent = yes || t("delete");
    this.dialog.returnValue = "cancel";
    return new Promise(function (resolve) {
      self.dialogDone = function (ok) { self.dialogDone = null; resolve(ok); };
      self.dialog.showModal();
    });
  };

  var KEY_HELP = [
    ["?", "Show these keys"], ["1 – 6", "Comments, Posts, Rules, Glance, Tokens, Import & export"],
    ["/", "Search comments"], ["j / k", "Next / previous comment"], ["x", "Select the comment (Shift+x: a range)"],
    ["*", "Select all shown, or none"], ["a", "Approve (on the Spam tab: not spam)"], ["r", "Reject"], ["s", "Spam"],
    ["d or Delete", "Delete (asks first)"], ["u or Ctrl+Z", "Undo the last action"], ["e", "Edit the comment"],
    ["Shift+r", "Reply as the author"], ["p", "Pin or unpin"], ["h", "History"], ["o", "Open the comment's post"],
    ["← / →", "The status tabs, when one has focus"], ["Escape", "Close a dialog or an open form"]
  ];

  /* "u or Ctrl+Z" as <kbd>u</kbd> or <kbd>Ctrl+Z</kbd>: each key its own kbd, the words between plain. */
  function keyCell(keys) {
    return keys.split(/( or | \/ | – )/).map(function (part, i) { return i % 2 ? part : h("kbd", null, part); });
  }

  Console.prototype.buildHelp = function () {
    var id = nextId("help");
    return h("dialog", { "class": "commentd-mod-dialog commentd-mod-help", "aria-labelledby": id },
      h("h2", { id: id }, "Keys"),
      h("table", null, h("thead", null, h("tr", null, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "What it does"))),
        h("tbody", null, KEY_HELP.map(function (row) { return h("tr", null, h("td", null, keyCell(row[0])), h("td", null, row[1])); }))),
      h("p", { "class": "commentd-mod-hint" }, "An action applies to the selected comments, else to the focused one. It shows done at once and is sent a few seconds later, unless you undo it."),
      h("form", { method: "dialog" }, h("button", { "class": "commentd-mod-btn", autofocus: true }, "Close")));
  };

  /* ---------- The queue: search, filters, tabs, the list, bulk and undo ---------- */

  Console.prototype.view_queue = function (heading) {
    var self = this;
    heading.textContent = "Comments";
    this.tabs = {};
    var tablist = h("div", { "class": "commentd-mod-tabs", role: "tablist", "aria-label": t("tabs"), onkeydown: function (e) {
      var step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      var shown = STATUSES.filter(function (s) { return !self.tabs[s].hidden; });
      var next = shown[(shown.indexOf(self.tab) + step + shown.length) % shown.length];
      self.switchTab(next);
      self.tabs[next].focus();
    } });
    STATUSES.forEach(function (status) {
      var c = h("span", { "class": "commentd-mod-count" }, "–");
      var tab = h("button", { "class": "commentd-mod-tab", type: "button", role: "tab", id: "commentd-mod-tab-" + status, "aria-controls": "commentd-mod-panel",
        onclick: function () { self.switchTab(status); } }, t(status), c);
      tab.count = c;
      tab.hidden = status === "all" && !self.searchable;
      self.tabs[status] = tab;
      tablist.append(tab);
    });
    this.searchBox = this.buildSearch();
    this.searchBox.hidden = !this.searchable;
    this.selectAll = h("input", { type: "checkbox", id: "commentd-mod-all", onchange: function () {
      self.items().forEach(function (li) { self.setSelected(li, self.selectAll.checked); });
      self.matchAll = false;
      self.afterChange();
    } });
    this.selectedNote = h("span", { "class": "commentd-mod-hint", "aria-live": "polite" });
    this.matchButton = btn("", function () { self.matchAll = !self.matchAll; self.updateBulk(); }, { "class": "commentd-mod-btn commentd-mod-link", hidden: true });
    this.bulkButtons = Object.keys(ACTIONS).map(function (action) {
      return h("button", { "class": "commentd-mod-btn" + (action === "delete" ? " commentd-mod-danger" : ""), type: "button", "data-action": action,
        onclick: function () { self.bulk(action); } }, t(action === "spam" ? "spamAction" : action === "not-spam" ? "notSpam" : action));
    });
    this.list = h("ol", { "class": "commentd-mod-list" });
    this.empty = h("p", { "class": "commentd-mod-empty", hidden: true });
    this.more = h("button", { "class": "commentd-mod-btn commentd-mod-more", type: "button", hidden: true, onclick: function () { self.load(true); } }, t("loadMore"));
    this.viewBox.append(this.searchBox,
      h("div", { "class": "commentd-mod-bar" }, tablist, btn(t("refresh"), function () { self.refresh(); })),
      h("div", { id: "commentd-mod-panel", role: "tabpanel" },
        h("div", { "class": "commentd-mod-bulk" }, h("label", null, this.selectAll, t("selectAll")), this.selectedNote, this.matchButton,
          h("div", { "class": "commentd-mod-actions" }, this.bulkButtons)),
        this.list, this.empty, this.more));
    this.switchTab(this.tab);
  };

  Console.prototype.buildSearch = function () {
    var self = this, f = this.filters;
    var q = h("input", { type: "search", id: "commentd-mod-q", name: "q", maxlength: "200", value: f.q || "", "aria-keyshortcuts": "/" });
    var slug = h("input", { type: "text", id: "commentd-mod-slug", name: "slug", maxlength: "255", value: f.slug || "", list: "commentd-mod-slugs" });
    /* A ticked box or a picked reason applies at once (nothing moved until Search was pressed). */
    function apply() { form.requestSubmit(); }
    var reason = h("select", { id: "commentd-mod-reason", name: "reason", onchange: apply }, h("option", { value: "" }, "Any"), Object.keys(REASONS).map(function (code) {
      return h("option", { value: code, selected: f.reason === code }, REASONS[code]);
    }));
    var boxes = [["links", "Has links"], ["first", "First comment from this commenter"], ["edited", "Edited"]].map(function (pair) {
      var box = h("input", { type: "checkbox", name: pair[0], checked: !!f[pair[0]], onchange: apply });
      return h("label", { "class": "commentd-mod-check" }, box, pair[1]);
    });
    var form = h("form", { "class": "commentd-mod-search", role: "search", "aria-label": "Search comments", onsubmit: function (e) {
      e.preventDefault();
      var data = new FormData(form), next = {};
      ["q", "slug", "reason"].forEach(function (k) { var v = String(data.get(k) || "").trim(); if (v) next[k] = v; });
      ["links", "first", "edited"].forEach(function (k) { if (data.get(k)) next[k] = "1"; });
      self.filters = next;
      self.say(Object.keys(next).length ? "Searching…" : "Search cleared.");
      self.refresh();
    } },
    h("div", { "class": "commentd-mod-row" },
      h("label", { "for": "commentd-mod-q", "class": "commentd-mod-visually-hidden" }, "Search words in text, name, email or website"), q,
      h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, "Search"),
      btn("Clear", function () { form.reset(); q.value = ""; slug.value = ""; reason.selectedIndex = 0; boxes.forEach(function (l) { l.firstChild.checked = false; }); form.requestSubmit(); })),
    h("details", { "class": "commentd-mod-filters", open: Object.keys(f).some(function (k) { return k !== "q"; }) || null },
      h("summary", null, "Filters"),
      h("div", { "class": "commentd-mod-row" },
        h("label", { "for": "commentd-mod-slug" }, "Post (slug)"), slug,
        h("label", { "for": "commentd-mod-reason" }, "Spam reason"), reason),
      h("div", { "class": "commentd-mod-row" }, boxes)));
    return form;
  };

  Console.prototype.query = function (status) {
    var params = new URLSearchParams();
    if (status) params.set("status", status);
    for (var k in this.filters) params.set(k, this.filters[k]);
    return params.toString();
  };

  Console.prototype.switchTab = function (status) {
    this.flush(false);
    this.tab = status;
    for (var s in this.tabs) {
      this.tabs[s].setAttribute("aria-selected", String(s === status));
      this.tabs[s].tabIndex = s === status ? 0 : -1;
    }
    this.viewBox.querySelector("#commentd-mod-panel").setAttribute("aria-labelledby", "commentd-mod-tab-" + status);
    this.list.setAttribute("aria-labelledby", "commentd-mod-tab-" + status);
    this.bulkButtons.forEach(function (b) {
      var a = b.getAttribute("data-action");
      b.hidden = a === "not-spam" ? status !== "spam" : a === "approve" ? status === "approved" || status === "spam" : ACTIONS[a] === status;
    });
    this.refresh();
  };

  Console.prototype.refresh = function () {
    this.cursor = null;
    this.matchAll = false;
    this.lastClicked = null;
    this.list.replaceChildren();
    var self = this, searched = Object.keys(this.filters).length;
    return Promise.all([this.loadCounts(), this.load(false)]).then(function () {
      if (searched && self.view === "queue") self.say(plural("comments", self.counts[self.tab] || 0) + " match this search.");
    });
  };

  Console.prototype.loadCounts = function () {
    var self = this, current = newest(this, "counts");
    var filtered = this.searchable && Object.keys(this.filters).length;
    return this.api("GET", "counts" + (filtered ? "?" + this.query() : "")).then(function (res) {
      /* A newer count replaced this one: an answer from before a search came back after the
         search's own, and put the whole queue's counts beside the search's results. */
      if (self.handleAuth(res) || !res.r.ok || !current()) return;
      self.counts = res.body;
      self.pending.forEach(function (p) { self.move(p.from, ACTIONS[p.action], p.n, true, p); });
      self.showCounts();
    }, function () { /* the list reports the failure */ });
  };

  Console.prototype.showCounts = function () {
    if (!this.tabs) return;
    var sum = 0;
    for (var s in this.counts) if (STATUSES.indexOf(s) >= 0 && s !== "all") sum += this.counts[s] || 0;
    this.counts.all = sum;
    for (var k in this.tabs) this.tabs[k].count.textContent = count(this.counts[k]);
    this.updateBulk();
  };

  Console.prototype.load = function (more) {
    var self = this, current = newest(this, "list");
    var query = "comments?" + this.query(this.tab) + "&limit=" + this.pageSize + (more && this.cursor ? "&cursor=" + encodeURIComponent(this.cursor) : "");
    this.more.hidden = true;
    this.empty.hidden = false;
    this.empty.textContent = t("loading");
    return this.api("GET", query).then(function (res) {
      if (self.handleAuth(res) || !current()) return; /* a newer load replaced this one */
      if (!res.r.ok) throw new Error(errorText(res));
      var first = self.items().length, waiting = self.waitingIds();
      res.body.comments.forEach(function (c) { if (!waiting[c.id]) self.list.append(self.renderItem(c)); });
      self.cursor = res.body.next_cursor;
      self.more.hidden = !self.cursor;
      self.afterChange();
      if (more && self.items()[first]) self.items()[first].focus();
    }).catch(function (e) {
      self.empty.textContent = t("loadFailed") + " " + (e.message && e.message !== "Failed to fetch" ? e.message : t("offline"));
    });
  };

  Console.prototype.waitingIds = function () {
    var ids = {};
    this.pending.forEach(function (p) { p.lis.forEach(function (li) { ids[li.comment.id] = true; }); });
    return ids;
  };

  Console.prototype.items = function () { return this.list ? Array.prototype.slice.call(this.list.children) : []; };
  Console.prototype.selectedItems = function () {
    return this.items().filter(function (li) { return li.checkbox.checked; });
  };
  Console.prototype.setSelected = function (li, on) {
    li.checkbox.checked = on;
    li.classList.toggle("commentd-mod-sel", on);
  };

  Console.prototype.afterChange = function () {
    var n = this.items().length, chosen = this.selectedItems().length;
    this.empty.hidden = n > 0;
    this.empty.textContent = Object.keys(this.filters).length ? t("empty_search") : this.tab === "pending" ? t("empty_pending") : t("empty_other");
    if (chosen < n) this.matchAll = false;
    this.updateBulk();
    this.selectAll.checked = n > 0 && chosen === n;
    this.selectAll.disabled = n === 0;
    /* Acting on a whole page empties it: fetch the next rather than claim the queue is clear. */
    if (!n && this.cursor && this.more.hidden === false) this.load(true);
  };

  Console.prototype.updateBulk = function () {
    if (!this.selectedNote) return;
    var n = this.selectedItems().length, shown = this.items().length, total = this.counts[this.tab] || 0;
    var canMatch = this.features.bulk !== false && this.searchable && n === shown && n > 0 && total > shown;
    this.matchButton.hidden = !canMatch;
    if (!canMatch) this.matchAll = false;
    this.matchButton.textContent = this.matchAll ? "Select only the " + count(shown) + " shown" : "Select all " + count(total) + " that match this search";
    this.selectedNote.textContent = this.matchAll ? "All " + count(total) + " selected" : n ? t("selected", { n: count(n) }) : "";
    this.bulkButtons.forEach(function (b) { b.disabled = n === 0; });
  };

  Console.prototype.postLink = function (c) {
    if (!this.postUrl) return null;
    var path = kit.slugPath(c.slug);
    var url = safeUrl(new URL(this.postUrl.replace("{slug}", path), location.href).href);
    if (url && this.postUrl === this.askedUrl && !this.linkAllowed(url)) url = null;
    return url && c.status === "approved" ? url + "#comment-" + c.id : url;
  };

  Console.prototype.linkAllowed = function (url) { return this.linkOrigins.indexOf(originOf(url)) >= 0; };

  Console.prototype.actionsFor = function (c) {
    return Object.keys(ACTIONS).filter(function (a) {
      if (a === "not-spam") return c.status === "spam";
      if (a === "approve") return c.status !== "approved" && c.status !== "spam";
      return ACTIONS[a] !== c.status;
    });
  };

  Console.prototype.renderItem = function (c) {
    var self = this, author = c.author, website = author.website && safeUrl(author.website), link = this.postLink(c);
    var body = h("div", { "class": "commentd-mod-body" });
    body.innerHTML = c.body_html; /* sanitised by the service (nh3) */
    var checkbox = h("input", { type: "checkbox", "aria-label": t("select", { name: author.name }),
      onclick: function (e) { self.clickSelect(li, e.shiftKey); } });
    /* A warning (red) while the comment waits or sits in spam; once decided, history: neutral and folded. */
    var score = " (" + t("score", { score: Math.round(c.spam_score * 100) + "%" }) + ")";
    var reasons = c.reasons && c.reasons.length ? h("ul", null, c.reasons.map(function (r) { return h("li", null, reasonText(r)); })) : null;
    var signals = !reasons ? h("div", { "class": "commentd-mod-signals commentd-mod-clean" }, t("noSignals"))
      : c.status === "pending" || c.status === "spam" ? h("div", { "class": "commentd-mod-signals" }, t("signals") + score, reasons)
        : h("details", { "class": "commentd-mod-signals commentd-mod-past" }, h("summary", null, t("pastSignals") + score), reasons);
    var actions = this.actionsFor(c).map(function (action) {
      var key = action === "not-spam" ? "a" : Object.keys(KEYS).filter(function (k) { return KEYS[k] === action; })[0];
      return h("button", { "class": "commentd-mod-btn" + (action === "approve" || action === "not-spam" ? " commentd-mod-primary" : action === "delete" ? " commentd-mod-danger" : ""),
        type: "button", "aria-keyshortcuts": key, title: key, onclick: function () { self.act([li], action); } },
        t(action === "spam" ? "spamAction" : action === "not-spam" ? "notSpam" : action));
    });
    var authoring = "pinned" in c; /* the service has the author's tools */
    var extra = h("div", { "class": "commentd-mod-extra" });
    if (authoring) {
      actions.push(btn(c.status === "pending" ? "Approve and reply" : "Reply", function () { self.openReply(li); }, { "aria-keyshortcuts": "Shift+R", "aria-expanded": "false", "data-tool": "reply" }));
      actions.push(btn("Edit", function () { self.openEdit(li); }, { "aria-keyshortcuts": "e", "aria-expanded": "false", "data-tool": "edit" }));
      if (!c.parent_id) actions.push(btn(c.pinned ? "Unpin" : "Pin", function () { self.pin(li); }, { "aria-keyshortcuts": "p", "data-tool": "pin" }));
      actions.push(btn("History", function () { self.toggleHistory(li); }, { "aria-keyshortcuts": "h", "aria-expanded": "false", "data-tool": "history" }));
    }
    var context = null;
    if (c.parent) {
      context = h("blockquote", { "class": "commentd-mod-context" }, h("span", { "class": "commentd-mod-hint" }, "In reply to " + c.parent.name + " (#" + c.parent.id + "):"), " ",
        c.parent.excerpt);
    }
    var where = c.post_title || c.slug;
    var li = h("li", { "class": "commentd-mod-item", tabindex: "-1", "data-id": c.id, "aria-label": author.name + (c.post_title ? ", on " + c.post_title : "") },
      checkbox,
      h("img", { "class": "commentd-mod-avatar", src: author.avatar, alt: "", width: "40", height: "40", loading: "lazy" }),
      h("div", { "class": "commentd-mod-main" },
        h("div", { "class": "commentd-mod-who" },
          h("span", { "class": "commentd-mod-name" }, author.name),
          author.is_owner ? h("span", { "class": "commentd-mod-badge" }, "Author") : null,
          c.pinned ? h("span", { "class": "commentd-mod-badge" }, "Pinned") : null,
          this.tab === "all" ? h("span", { "class": "commentd-mod-badge commentd-mod-st-" + c.status }, t(c.status)) : null,
          c.email ? h("a", { href: "mailto:" + c.email }, c.email) : null,
          website ? h("a", { href: website, rel: "nofollow ugc noopener noreferrer", target: "_blank" }, website) : null),
        h("div", { "class": "commentd-mod-meta" }, t("on") + " ",
          link ? h("a", { href: link, title: c.post_title ? c.slug : null }, where) : h("span", { title: c.post_title ? c.slug : null }, where), " · ", timeEl(c.created_at),
          c.parent_id && !c.parent ? " · " + t("inReplyTo", { id: c.parent_id }) : null,
          c.notify ? " · " + t("notify") : null,
          c.edited_at ? [" · ", h("span", { "class": "commentd-mod-edited" }, t("edited"), " ", timeEl(c.edited_at))] : null),
        context, body, signals, h("div", { "class": "commentd-mod-actions" }, actions), extra));
    li.checkbox = checkbox;
    li.comment = c;
    li.extra = extra;
    return li;
  };

  Console.prototype.clickSelect = function (li, range) {
    var items = this.items(), on = li.checkbox.checked;
    if (range && this.lastClicked && this.lastClicked.isConnected) {
      var a = items.indexOf(this.lastClicked), b = items.indexOf(li);
      var self = this;
      items.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (o) { self.setSelected(o, on); });
    } else this.setSelected(li, on);
    this.lastClicked = li;
    this.afterChange();
  };

  /* ---------- Acting, with undo ---------- */

  Console.prototype.bulk = function (action) {
    var lis = this.selectedItems();
    if (!lis.length) return;
    if (this.matchAll) return this.act(lis, action, { match: Object.assign({ status: this.tab }, this.filters), n: this.counts[this.tab] || lis.length });
    return this.act(lis, action);
  };

  Console.prototype.act = function (lis, action, all) {
    var self = this;
    if (!lis.length) return Promise.resolve();
    var n = all ? all.n : lis.length;
    var ask = action === "delete"
      ? this.confirm(t("confirmDelete", { what: n === 1 ? t("theCommentBy", { name: lis[0].comment.author.name }) : plural("comments", n) }))
      : Promise.resolve(true);
    return ask.then(function (yes) {
      if (!yes) { if (lis[0].isConnected) lis[0].focus(); return; }
      self.flush(false); /* the one before is sent now: Undo applies to this one */
      var from = self.tab, items = self.items();
      var stay = function (li) { return lis.indexOf(li) < 0; }, remaining = items.filter(stay);
      var after = items.slice(items.indexOf(lis[0])).filter(stay)[0] || remaining[remaining.length - 1];
      var positions = lis.map(function (li) { return { li: li, next: li.nextElementSibling }; });
      lis.forEach(function (li) { self.setSelected(li, false); li.remove(); });
      var p = { lis: lis, action: action, from: from, n: n, match: all && all.match, positions: positions, tab: from };
      p.byStatus = {};
      lis.forEach(function (li) { p.byStatus[li.comment.status] = (p.byStatus[li.comment.status] || 0) + 1; });
      self.move(p.from, ACTIONS[action], n, false, p);
      self.afterChange();
      if (after) after.focus();
      self.pending.push(p);
      self.unsent(1);
      self.say(t("done_" + action, { n: plural("comments", n) }));
      self.undoButton.hidden = false;
      p.timer = setTimeout(function () { self.commit(p); }, self.undoMs);
    });
  };

  /* Counts move with an action: from its tab (or, on "all", the comments' own statuses). */
  Console.prototype.move = function (from, to, n, quiet, p) {
    var c = this.counts, sign = n < 0 ? -1 : 1;
    if (from === "all" && p) {
      for (var s in p.byStatus) c[s] = Math.max(0, (c[s] || 0) - sign * p.byStatus[s]);
    } else if (from !== "all") c[from] = Math.max(0, (c[from] || 0) - n);
    if (to) c[to] = Math.max(0, (c[to] || 0) + n);
    if (!quiet) this.showCounts();
  };

  Console.prototype.undo = function () {
    var p = this.pending.pop();
    if (!p) return;
    clearTimeout(p.timer);
    this.unsent(-1);
    this.undoButton.hidden = this.pending.length === 0;
    this.move(p.from, ACTIONS[p.action], -p.n, false, p);
    if (this.list && this.list.isConnected && this.tab === p.tab) {
      var self = this;
      p.positions.slice().reverse().forEach(function (pos) {
        if (pos.next && pos.next.parentNode === self.list) self.list.insertBefore(pos.li, pos.next); else self.putBack(pos.li);
      });
      this.afterChange();
      p.lis[0].focus();
    }
    this.say(t("undone", { what: plural("comments", p.n) }));
  };

  /* How many actions are shown done but not yet answered by the service: data-unsent. */
  Console.prototype.unsent = function (n) {
    this.waiting = (this.waiting || 0) + n;
    this.section.setAttribute("data-unsent", String(this.waiting));
  };

  /* Send every action still waiting: now (keepalive when the page goes away). */
  Console.prototype.flush = function (leaving) {
    var self = this;
    this.pending.slice().forEach(function (p) { clearTimeout(p.timer); self.commit(p, leaving); });
  };

  Console.prototype.commit = function (p, leaving) {
    var self = this, i = this.pending.indexOf(p);
    if (i < 0) return Promise.resolve();
    this.pending.splice(i, 1);
    if (this.undoButton) this.undoButton.hidden = this.pending.length === 0;
    var keep = leaving ? { keepalive: true } : undefined;
    var failures = [], gone = [];
    function one(li) {
      var action = p.action === "approve" && li.comment.status === "spam" ? "not-spam" : p.action;
      var path = "comments/" + li.comment.id + (action === "delete" ? "" : "/" + action);
      return self.api(action === "delete" ? "DELETE" : "POST", path, undefined, keep).then(function (res) {
        if (res.r.ok) return;
        if (res.r.status === 404) return gone.push(li);
        failures.push({ li: li, reason: errorText(res), auth: res.r.status === 401 });
      }, function () { failures.push({ li: li, reason: t("offline") }); });
    }
    var sent;
    var useBulk = this.features.bulk !== false && (p.match || p.lis.length > 1);
    if (useBulk) {
      var body = p.match ? { action: p.action, match: p.match } : { action: p.action, ids: p.lis.map(function (li) { return li.comment.id; }) };
      sent = this.api("POST", "comments/bulk", body, keep).then(function (res) {
        if (missing(res) && !p.match) { self.features.bulk = false; return Promise.all(p.lis.map(one)); }
        if (!res.r.ok) { p.lis.forEach(function (li) { failures.push({ li: li, reason: errorText(res), auth: res.r.status === 401 }); }); return; }
        self.features.bulk = true;
        var lost = {};
        (res.body.missing || []).forEach(function (id) { lost[id] = true; });
        p.lis.forEach(function (li) { if (lost[li.comment.id]) gone.push(li); });
        if (p.match) p.n = (res.body.done || []).length;
      }, function () {
        /* Cross-origin, a route the service lacks fails its preflight: try one by one. */
        if (self.features.bulk !== true && !p.match) { self.features.bulk = false; return Promise.all(p.lis.map(one)); }
        p.lis.forEach(function (li) { failures.push({ li: li, reason: t("offline") }); });
      });
    } else sent = Promise.all(p.lis.map(one));
    if (leaving) return sent;
    return sent.then(function () {
      self.unsent(-1);
      var back = self.list && self.list.isConnected && self.tab === p.tab;
      if (back) failures.forEach(function (f) { self.putBack(f.li); });
      var byStatus = {};
      failures.forEach(function (f) { byStatus[f.li.comment.status] = (byStatus[f.li.comment.status] || 0) + 1; });
      self.move(p.from, ACTIONS[p.action], -failures.length, false, { byStatus: byStatus });
      if (back) self.afterChange();
      var done = p.n - failures.length - gone.length, messages = [];
      if (done > 0 && (failures.length || gone.length)) messages.push(t("done_" + p.action, { n: plural("comments", done) }));
      gone.forEach(function (li) { messages.push(t("gone", { name: li.comment.author.name })); });
      failures.forEach(function (f) {
        messages.push(t("failed", { action: t(p.action === "spam" ? "spamAction" : p.action === "not-spam" ? "notSpam" : p.action).toLowerCase(),
          name: f.li.comment.author.name, reason: sentence(f.reason) }));
      });
      if (messages.length) self.say(messages.join(" "), failures.length > 0);
      if (failures.some(function (f) { return f.auth; })) return self.forget(t("tokenRefused"));
      if (failures.length && back) failures[0].li.focus();
      if (self.view === "queue") self.loadCounts();
    });
  };

  Console.prototype.putBack = function (li) {
    /* Newest first: it goes before the first comment older than it. */
    var id = li.comment.id, before = this.items().filter(function (o) { return o.comment.id < id; })[0] || null;
    this.list.insertBefore(li, before);
  };

  /* ---------- The author's tools on one comment: reply, edit, pin, history ---------- */

  Console.prototype.closeTools = function (li) {
    li.extra.replaceChildren();
    li.querySelectorAll("[data-tool]").forEach(function (b) { if (b.hasAttribute("aria-expanded")) b.setAttribute("aria-expanded", "false"); });
  };

  Console.prototype.toolForm = function (li, tool, fields, submitLabel, send) {
    var self = this, error = h("p", { "class": "commentd-mod-err", role: "alert" });
    var form = h("form", { "class": "commentd-mod-form", onsubmit: function (e) {
      e.preventDefault();
      var submit = form.querySelector("[type=submit]");
      submit.disabled = true;
      send(form).then(function (res) {
        submit.disabled = false;
        if (self.handleAuth(res)) return;
        if (!res.r.ok) {
          var fields = fieldErrors(res);
          error.textContent = errorText(res) + Object.keys(fields).map(function (k) { return " " + k + ": " + fields[k] + "."; }).join("");
          return;
        }
        self.closeTools(li);
        li.focus();
      }, function () { submit.disabled = false; error.textContent = t("offline"); });
    }, onkeydown: function (e) { if (e.key === "Escape") { e.stopPropagation(); self.closeTools(li); li.focus(); } } },
    fields, error, h("div", { "class": "commentd-mod-actions" },
      h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, submitLabel),
      btn(t("cancel"), function () { self.closeTools(li); li.focus(); })));
    this.closeTools(li);
    li.extra.append(form);
    var opener = li.querySelector("[data-tool=" + tool + "]");
    if (opener) opener.setAttribute("aria-expanded", "true");
    var first = form.querySelector("textarea") || form.querySelector("input"); /* the text: what is edited most */
    if (first) first.focus();
    return form;
  };

  Console.prototype.replace = function (li, c) {
    var fresh = this.renderItem(c);
    if (li.checkbox.checked) this.setSelected(fresh, true);
    li.replaceWith(fresh);
    fresh.focus();
    return fresh;
  };

  Console.prototype.openReply = function (li) {
    var self = this, c = li.comment, id = nextId("reply");
    var approveParent = c.status === "pending";
    this.toolForm(li, "reply", [h("label", { "for": id }, approveParent ? "Your reply (the comment is approved with it)" : "Your reply, published at once as the author"),
      h("textarea", { id: id, name: "body", rows: "4", maxlength: "5000", required: true })], approveParent ? "Approve and reply" : "Reply",
    function (form) {
      return self.api("POST", "comments/" + c.id + "/reply", { body: form.elements.body.value, approve_parent: approveParent }).then(function (res) {
        if (res.r.ok) {
          self.say("Your reply is published." + (approveParent ? " The comment by " + c.author.name + " is approved." : ""));
          if (approveParent && self.tab === "pending") { li.remove(); self.move("pending", "approved", 1); self.afterChange(); } else {
            if (approveParent) self.refreshOne(li);
            self.showReply(li, res.body);
          }
          self.loadCounts();
        }
        return res;
      });
    });
  };

  /* The author's reply (approved) joins the list at once, under the comment it answers, where
   * the tab shows approved comments; a search other than the post's might not find it: not then. */
  Console.prototype.showReply = function (li, reply) {
    var f = this.filters, searched = Object.keys(f).some(function (k) { return k !== "slug"; });
    if (!li.isConnected || searched || (this.tab !== "approved" && this.tab !== "all")) return;
    li.after(this.renderItem(reply));
    this.afterChange();
  };

  Console.prototype.refreshOne = function (li) {
    var self = this;
    return this.api("GET", "comments/" + li.comment.id).then(function (res) { if (res.r.ok && li.isConnected) self.replace(li, res.body); });
  };

  Console.prototype.openEdit = function (li) {
    var self = this, c = li.comment, ids = [nextId("name"), nextId("site"), nextId("body")];
    this.toolForm(li, "edit", [
      h("label", { "for": ids[0] }, "Name"), h("input", { id: ids[0], name: "name", maxlength: "80", required: true, value: c.author.name }),
      h("label", { "for": ids[1] }, "Website"), h("input", { id: ids[1], name: "website", type: "url", maxlength: "300", value: c.author.website || "" }),
      h("label", { "for": ids[2] }, "Text (Markdown)"), h("textarea", { id: ids[2], name: "body", rows: "6", maxlength: "5000", required: true, text: c.body || "" })
    ], "Save", function (form) {
      var e = form.elements, change = {};
      if (e.name.value.trim() !== c.author.name) change.name = e.name.value;
      if (e.website.value.trim() !== (c.author.website || "")) change.website = e.website.value.trim();
      if (e.body.value !== (c.body || "")) change.body = e.body.value;
      if (!Object.keys(change).length) return Promise.resolve({ r: { ok: true }, body: {} });
      return self.api("PATCH", "comments/" + c.id, change).then(function (res) {
        if (res.r.ok) { self.replace(li, res.body); self.say("The comment by " + res.body.author.name + " is saved."); }
        return res;
      });
    });
  };

  Console.prototype.pin = function (li) {
    var self = this, c = li.comment, action = c.pinned ? "unpin" : "pin";
    return this.api("POST", "comments/" + c.id + "/" + action).then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) return self.say(errorText(res), true);
      self.replace(li, res.body);
      self.say(action === "pin" ? "Pinned to the top of its post." : "Unpinned.");
    }, function () { self.say(t("offline"), true); });
  };

  Console.prototype.toggleHistory = function (li) {
    var self = this, c = li.comment, opener = li.querySelector("[data-tool=history]");
    if (li.extra.querySelector(".commentd-mod-history")) { this.closeTools(li); return; }
    this.closeTools(li);
    var box = h("div", { "class": "commentd-mod-history", tabindex: "-1", "aria-label": "History of the comment by " + c.author.name }, t("loading"));
    li.extra.append(box);
    opener.setAttribute("aria-expanded", "true");
    this.api("GET", "comments/" + c.id + "/history").then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) { box.textContent = errorText(res); return; }
      var events = res.body.events || [];
      box.replaceChildren(h("h3", null, "History"), events.length ? h("ol", null, events.map(function (ev, i) { return h("li", null, self.historyLine(ev, events[i - 1])); }))
        : h("p", null, "Nothing recorded yet."));
      box.focus();
    }, function () { box.textContent = t("offline"); });
  };

  /* One event in words. The service sends the spam rules' score and reasons with every event (as
     they stood then); they are shown where they were decided and again only when they changed,
     so an edit or an approval does not read as if it were scored. */
  Console.prototype.historyLine = function (ev, prev) {
    var what = HISTORY_WORDS[ev.action] || String(ev.action).replace(/_/g, " ");
    var parts = [timeEl(ev.at), " — ", h("strong", null, what)];
    var actors = { rules: "the spam rules", reader: "its writer", "import": "an import", "email link": "a link in your email", "admin token": "the admin token" };
    var actor = ev.actor ? actors[ev.actor] || ev.actor : null;
    if (ev.action === "submitted" && ev.to) {
      /* The commenter submitted it; the actor is who set its first status. */
      parts.push(actor ? "; " + actor + " set it to " + t(ev.to) : " (" + t(ev.to) + ")");
      actor = null;
    } else if (ev.from && ev.to && ev.from !== ev.to) parts.push(" (" + t(ev.from) + " → " + t(ev.to) + ")");
    if (actor) parts.push(" by " + actor);
    var said = function (e) { return e ? JSON.stringify([e.score, e.reasons || []]) : null; };
    if (!prev || said(prev) !== said(ev)) {
      if (ev.score != null) parts.push(", score " + Math.round(ev.score * 100) + "%");
      if (ev.reasons && ev.reasons.length) parts.push(": " + ev.reasons.map(reasonText).join("; "));
    }
    return parts;
  };

  /* ---------- Keys ---------- */

  Console.prototype.shortcut = function (e) {
    if (e.ctrlKey && e.key === "z" && this.pending.length && !isField(e.target)) { this.undo(); e.preventDefault(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || !this.section.isConnected) return;
    if (this.dialog.open || this.help.open) return;
    var target = e.target;
    if (isField(target)) return;
    if (e.key === "?") { this.help.showModal(); e.preventDefault(); return; }
    if (/^[1-6]$/.test(e.key) && !this.nav[VIEWS[e.key - 1]].hidden) { this.showView(VIEWS[e.key - 1], true); e.preventDefault(); return; }
    if (e.key === "u" && this.pending.length) { this.undo(); e.preventDefault(); return; }
    if (this.view !== "queue") return;
    var items = this.items(), current = target.closest && target.closest(".commentd-mod-item");
    var index = items.indexOf(current);
    if (e.key === "/" && !this.searchBox.hidden) {
      this.searchBox.querySelector("input").focus();
    } else if (e.key === "j" || e.key === "k") {
      var next = items[e.key === "j" ? index + 1 : Math.max(0, index - 1)] || items[e.key === "j" ? items.length - 1 : 0];
      if (next) next.focus();
    } else if ((e.key === "x" || e.key === "X") && current) {
      current.checkbox.checked = !current.checkbox.checked;
      this.clickSelect(current, e.shiftKey);
    } else if (e.key === "*") {
      this.selectAll.checked = !this.selectAll.checked;
      this.selectAll.dispatchEvent(new Event("change"));
    } else if (current && "eRpho".indexOf(e.key) >= 0) {
      var tool = { e: "edit", R: "reply", p: "pin", h: "history" }[e.key];
      var button = tool ? current.querySelector("[data-tool=" + tool + "]") : current.querySelector(".commentd-mod-meta a");
      if (!button) return;
      button.click();
    } else if (KEYS[e.key] && (current || this.selectedItems().length)) {
      var chosen = this.selectedItems(), action = KEYS[e.key];
      var lis = chosen.length ? chosen : [current];
      if (action === "approve" && this.tab === "spam") action = "not-spam";
      if (action !== "delete" && ACTIONS[action] === this.tab && action !== "not-spam") return;
      if (chosen.length && this.matchAll) this.bulk(action); else this.act(lis, action);
    } else return;
    e.preventDefault();
  };

  function isField(el) {
    var tag = el && el.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && el.type !== "checkbox") || (el && el.isContentEditable);
  }

  /* ---------- Posts ---------- */

  Console.prototype.view_posts = function (heading) {
    var self = this;
    heading.textContent = "Posts";
    var box = h("div", null, t("loading"));
    this.viewBox.append(box);
    this.features.posts.then(function (ok) {
      if (!ok) return self.postsFallback(box);
      self.postsList(box, "", null);
    });
  };

  Console.prototype.postsFallback = function (box) {
    var self = this, id = nextId("slug");
    var input = h("input", { id: id, name: "slug", required: true, maxlength: "255" });
    function set(closed) {
      if (!input.value.trim()) return input.focus();
      self.api("PUT", "posts/" + kit.slugPath(input.value.trim()), { closed: closed }).then(function (res) {
        if (self.handleAuth(res)) return;
        self.say(res.r.ok ? (closed ? "Closed: " : "Open: ") + res.body.slug + (closed ? " takes no new comments." : " takes comments again.") : errorText(res), !res.r.ok);
      }, function () { self.say(t("offline"), true); });
    }
    box.replaceChildren(h("p", null, "Close a post to new comments, or open it again, by its slug."),
      h("div", { "class": "commentd-mod-row" }, h("label", { "for": id }, "Slug"), input, btn("Close", function () { set(true); }), btn("Open", function () { set(false); })));
  };

  Console.prototype.postsList = function (box, q, cursor) {
    var self = this, id = nextId("posts-q");
    var search = h("input", { id: id, type: "search", maxlength: "200", value: q });
    var table = h("tbody");
    var more = btn(t("loadMore"), function () { load(true); }, { hidden: true });
    var next = cursor;
    function load(again) {
      var params = new URLSearchParams({ limit: "50" }), current = newest(table, "rows");
      if (search.value.trim()) params.set("q", search.value.trim());
      if (again && next) params.set("cursor", next);
      if (!again) table.replaceChildren();
      return self.api("GET", "posts?" + params).then(function (res) {
        /* A newer search replaced this one: its rows would be mixed into the newer's. */
        if (self.handleAuth(res) || !current()) return;
        if (!res.r.ok) return self.say(errorText(res), true);
        res.body.posts.forEach(function (p) { table.append(self.postRow(p)); });
        next = res.body.next_cursor;
        more.hidden = !next;
        if (!res.body.posts.length && !again) table.append(h("tr", null, h("td", { colspan: "4" }, "No posts found.")));
      }, function () { self.say(t("offline"), true); });
    }
    box.replaceChildren(
      h("form", { "class": "commentd-mod-row", role: "search", "aria-label": "Search posts", onsubmit: function (e) { e.preventDefault(); load(false); } },
        h("label", { "for": id }, "Find a post (slug or title)"), search, h("button", { "class": "commentd-mod-btn", type: "submit" }, "Find")),
      h("div", { "class": "commentd-mod-scroll" }, h("table", { "class": "commentd-mod-table" },
        h("thead", null, h("tr", null, ["Post", "Comments", "Last comment", "Actions"].map(function (x) { return h("th", { scope: "col" }, x); }))), table)),
      more);
    load(false);
  };

  Console.prototype.postRow = function (p) {
    var self = this, c = p.counts || {};
    var row = h("tr");
    var actions = h("div", { "class": "commentd-mod-actions" });
    function redraw(next) { row.replaceWith(self.postRow(next)); }
    actions.append(
      btn(p.closed ? "Open" : "Close", function () {
        self.api("PUT", "posts/" + kit.slugPath(p.slug), { closed: !p.closed }).then(function (res) {
          if (self.handleAuth(res)) return;
          if (!res.r.ok) return self.say(errorText(res), true);
          redraw(Object.assign({}, p, { closed: !p.closed }));
          self.say((p.closed ? "Opened " : "Closed ") + (p.title || p.slug) + ".");
        });
      }, { "aria-label": (p.closed ? "Open " : "Close ") + (p.title || p.slug) }),
      btn("Set title", function () { self.postTitleForm(row, p, redraw); }, { "aria-label": "Set the title of " + (p.title || p.slug) }),
      btn("Move", function () { self.postMoveForm(row, p); }, { "aria-label": "Move the comments of " + (p.title || p.slug) }),
      btn("Comments", function () { self.filters = { slug: p.slug }; self.tab = "all"; self.showView("queue", true); }, { "aria-label": "Show the comments on " + (p.title || p.slug), hidden: !self.searchable }));
    row.append(
      h("th", { scope: "row" }, h("span", { "class": "commentd-mod-name" }, p.title || p.slug), p.title ? h("div", { "class": "commentd-mod-hint" }, p.slug) : null,
        p.closed ? h("span", { "class": "commentd-mod-badge" }, "Closed") : null),
      h("td", null, ["approved", "pending", "spam", "rejected"].map(function (s) { return h("div", null, count(c[s]) + " " + t(s).toLowerCase()); })),
      h("td", null, p.last_comment_at ? timeEl(p.last_comment_at) : "—"),
      h("td", null, actions));
    return row;
  };

  Console.prototype.postForm = function (row, fields, label, send) {
    var self = this, error = h("p", { "class": "commentd-mod-err", role: "alert" });
    var cell = h("td", { colspan: "4" });
    var formRow = h("tr", { "class": "commentd-mod-formrow" }, cell);
    var form = h("form", { "class": "commentd-mod-form", onsubmit: function (e) {
      e.preventDefault();
      send(form, error).then(function (done) { if (done) formRow.remove(); }, function () { error.textContent = t("offline"); });
    }, onkeydown: function (e) { if (e.key === "Escape") { e.stopPropagation(); formRow.remove(); } } },
    fields, error, h("div", { "class": "commentd-mod-actions" }, h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, label),
      btn(t("cancel"), function () { formRow.remove(); })));
    cell.append(form);
    if (row.nextElementSibling && row.nextElementSibling.classList.contains("commentd-mod-formrow")) row.nextElementSibling.remove();
    row.after(formRow);
    form.querySelector("input").focus();
    return self;
  };

  Console.prototype.postTitleForm = function (row, p, redraw) {
    var self = this, id = nextId("title");
    this.postForm(row, [h("label", { "for": id }, "Title of " + p.slug + " (empty: none)"), h("input", { id: id, name: "title", maxlength: "300", value: p.title || "" })], "Save title",
      function (form, error) {
        var title = form.elements.title.value.trim() || null;
        return self.api("PUT", "posts/" + kit.slugPath(p.slug), { title: title }).then(function (res) {
          if (!res.r.ok) { error.textContent = errorText(res); return false; }
          redraw(Object.assign({}, p, { title: title }));
          self.say("The title is saved.");
          return true;
        });
      });
  };

  Console.prototype.postMoveForm = function (row, p) {
    var self = this, id = nextId("to");
    this.postForm(row, [h("label", { "for": id }, "Move every comment of " + p.slug + " to the slug"), h("input", { id: id, name: "to", maxlength: "255", required: true })], "Move",
      function (form, error) {
        var to = form.elements.to.value.trim().replace(/^\/+|\/+$/g, "");
        if (!to) return Promise.resolve(false);
        /* Does the target have comments already? Then the move merges: say so first. */
        return self.api("GET", "posts?" + new URLSearchParams({ q: to, limit: "100" })).then(function (found) {
          var target = found.r.ok && found.body.posts.filter(function (x) { return x.slug === to; })[0];
          var n = 0;
          if (target) for (var s in target.counts) n += target.counts[s];
          var text = n ? "“" + to + "” has " + plural("comments", n) + " already: the comments of “" + p.slug + "” will be merged with them. Move?"
            : "Move every comment of “" + p.slug + "” to “" + to + "”?";
          return self.confirm(text, n ? "Merge" : "Move");
        }).then(function (yes) {
          if (!yes) return false;
          return self.api("POST", "posts/" + kit.slugPath(p.slug) + "/move", { to: to }).then(function (res) {
            if (!res.r.ok) { error.textContent = errorText(res); return false; }
            self.say("Moved " + plural("comments", res.body.moved) + " from " + res.body.from + " to " + res.body.to + (res.body.merged ? ", merged with those already there" : "") +
              (res.body.title_taken ? ". " + res.body.to + " takes the title “" + res.body.title + "” (it had none)." : "."));
            self.showView("posts", false);
            return true;
          });
        });
      });
  };

  /* ---------- Rules (settings) ---------- */

  Console.prototype.view_settings = function (heading) {
    var self = this;
    heading.textContent = "Rules for new comments";
    var box = h("div", null, t("loading"));
    this.viewBox.append(box);
    this.api("GET", "settings").then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) { box.textContent = errorText(res); return; }
      self.settingsForm(box, res.body);
    }, function () { box.textContent = t("offline"); });
  };

  Console.prototype.settingsForm = function (box, data) {
    var self = this, rules = data.rules || {}, changed = data.changed || [];
    var controls = {}, error = h("p", { "class": "commentd-mod-err", role: "alert" });
    var fieldsets = Object.keys(rules).map(function (name) {
      var spec = RULES[name] || guess(rules[name]), value = rules[name], id = "commentd-mod-rule-" + name, effect = h("p", { "class": "commentd-mod-hint", id: id + "-effect" });
      var problem = h("p", { "class": "commentd-mod-err", id: id + "-err" });
      var control;
      if (spec.kind === "choice") {
        control = h("div", { role: "radiogroup", "aria-labelledby": id + "-label" }, Object.keys(spec.choices).concat(spec.choices[value] || value == null ? [] : [String(value)]).map(function (choice) {
          return h("label", { "class": "commentd-mod-check" }, h("input", { type: "radio", name: name, value: choice, checked: choice === value }),
            h("span", null, h("strong", null, choice), " — ", spec.choices[choice] || ""));
        }));
        control.read = function () { var c = control.querySelector("input:checked"); return c ? c.value : value; };
      } else if (spec.kind === "words") {
        control = h("textarea", { id: id, rows: "4", "aria-describedby": id + "-effect " + id + "-err", text: (value || []).join("\n") });
        control.read = function () { return control.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean); };
      } else if (spec.kind === "bool") {
        control = h("input", { id: id, type: "checkbox", checked: !!value, "aria-describedby": id + "-effect " + id + "-err" });
        control.read = function () { return control.checked; };
      } else if (spec.kind === "text") {
        control = h("input", { id: id, type: "text", value: value == null ? "" : String(value), "aria-describedby": id + "-effect " + id + "-err" });
        control.read = function () { return control.value; };
      } else {
        var fraction = spec.kind === "fraction";
        control = h("input", { id: id, type: "number", inputmode: fraction ? "decimal" : "numeric", min: String(spec.min || 0), max: fraction ? "1" : spec.max != null ? String(spec.max) : null,
          step: fraction ? "0.01" : "1", value: String(value), required: true, "aria-describedby": id + "-effect " + id + "-err" });
        control.read = function () { return Number(control.value); };
      }
      function explain() {
        var v = control.read();
        effect.textContent = spec.effect ? spec.effect(v) : "";
      }
      control.addEventListener("input", explain);
      control.addEventListener("change", explain);
      explain();
      controls[name] = { control: control, value: value, problem: problem };
      var reset = changed.indexOf(name) >= 0 ? btn("Back to the default", function () { self.saveRules(box, makeNull(name), error, controls); }, { "aria-label": "Set " + (spec.label || name) + " back to the server's default" }) : null;
      var legendLabel = spec.kind === "choice" ? h("legend", { id: id + "-label" }, spec.label || name) : h("legend", null, h("label", { "for": id }, spec.label || name));
      return h("fieldset", { "class": "commentd-mod-rule" }, legendLabel, control, effect, problem,
        h("p", { "class": "commentd-mod-hint" }, changed.indexOf(name) >= 0 ? "Changed here (over the server's environment). " : "The server's default. ", reset));
    });
    var form = h("form", { "class": "commentd-mod-settings", onsubmit: function (e) {
      e.preventDefault();
      var change = {};
      for (var name in controls) {
        var v = controls[name].control.read();
        if (JSON.stringify(v) !== JSON.stringify(controls[name].value)) change[name] = v;
      }
      if (!Object.keys(change).length) { self.say("Nothing to save: no rule changed."); return; }
      self.saveRules(box, change, error, controls);
    } }, h("p", { "class": "commentd-mod-hint" }, "They apply from the next comment on, on every server process. Comments already in are not checked again."),
    fieldsets, error, h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, "Save the rules"));
    box.replaceChildren(form);
  };

  function makeNull(name) { var o = {}; o[name] = null; return o; }
  function guess(value) {
    if (typeof value === "boolean") return { kind: "bool" };
    if (Array.isArray(value)) return { kind: "words" };
    if (typeof value === "number") return { kind: value % 1 === 0 && value > 1 ? "whole" : "fraction" };
    return { kind: "text" };
  }

  Console.prototype.saveRules = function (box, change, error, controls) {
    var self = this;
    for (var n in controls) controls[n].problem.textContent = "";
    error.textContent = "";
    return this.api("PUT", "settings", change).then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) {
        var fields = fieldErrors(res);
        error.textContent = errorText(res);
        for (var name in fields) if (controls[name]) { controls[name].problem.textContent = (RULES[name] ? RULES[name].label : name) + ": " + sentence(fields[name]); }
        var first = Object.keys(fields).filter(function (k) { return controls[k]; })[0];
        if (first) { var c = controls[first].control; (c.querySelector ? c.querySelector("input") || c : c).focus(); }
        return;
      }
      self.settingsForm(box, res.body);
      self.say("The rules are saved: " + Object.keys(change).map(function (k) { return RULES[k] ? RULES[k].label.toLowerCase() : k; }).join(", ") + ".");
    }, function () { self.say(t("offline"), true); });
  };

  /* ---------- Glance: 30 days and the outbox ---------- */

  Console.prototype.view_glance = function (heading) {
    var self = this;
    heading.textContent = "At a glance";
    var chart = h("div", { "class": "commentd-mod-glance" });
    var outbox = h("div", { "class": "commentd-mod-outbox" }, t("loading"));
    this.viewBox.append(chart, outbox);
    this.api("GET", "stats?days=30").then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) { chart.hidden = true; return; }
      self.drawChart(chart, res.body.days || []);
    }, function () { chart.hidden = true; });
    this.drawOutbox(outbox);
  };

  Console.prototype.drawChart = function (box, days) {
    var NS = "http://www.w3.org/2000/svg", max = 1, totals = { comments: 0, spam: 0 };
    days.forEach(function (d) { max = Math.max(max, d.comments + d.spam); totals.comments += d.comments; totals.spam += d.spam; });
    function svg(tag, attrs) { var el = document.createElementNS(NS, tag); for (var k in attrs) el.setAttribute(k, attrs[k]); return el; }
    var w = 300, hgt = 100, bw = w / Math.max(1, days.length);
    var chart = svg("svg", { viewBox: "0 0 " + w + " " + (hgt + 2), "class": "commentd-mod-chart", role: "img", "aria-labelledby": "commentd-mod-chart-title", preserveAspectRatio: "none" });
    var title = svg("title", { id: "commentd-mod-chart-title" });
    title.textContent = "Comments and spam per day, last " + days.length + " days: " + count(totals.comments) + " comments, " + count(totals.spam) + " spam.";
    chart.append(title);
    days.forEach(function (d, i) {
      var hc = d.comments / max * hgt, hs = d.spam / max * hgt;
      if (d.comments) chart.append(svg("rect", { x: i * bw + 1, y: hgt - hc, width: Math.max(1, bw - 2), height: hc, "class": "commentd-mod-bar-c" }));
      if (d.spam) chart.append(svg("rect", { x: i * bw + 1, y: hgt - hc - hs, width: Math.max(1, bw - 2), height: hs, "class": "commentd-mod-bar-s" }));
    });
    chart.append(svg("line", { x1: 0, x2: w, y1: hgt + 1, y2: hgt + 1, "class": "commentd-mod-axis" }));
    var table = h("table", { "class": "commentd-mod-table" }, h("caption", null, "Per day (UTC)"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Comments"), h("th", { scope: "col" }, "Spam"))),
      h("tbody", null, days.slice().reverse().map(function (d) { return h("tr", null, h("th", { scope: "row" }, d.date), h("td", null, count(d.comments)), h("td", null, count(d.spam))); })));
    box.replaceChildren(h("h3", null, "Last " + days.length + " days"),
      h("p", null, count(totals.comments) + " comments and " + count(totals.spam) + " caught as spam."),
      h("figure", null, chart, h("figcaption", { "class": "commentd-mod-legend" },
        h("span", { "class": "commentd-mod-key commentd-mod-key-c" }), " comments ", h("span", { "class": "commentd-mod-key commentd-mod-key-s" }), " spam")),
      h("details", null, h("summary", null, "The numbers as a table"), h("div", { "class": "commentd-mod-scroll" }, table)));
  };

  Console.prototype.drawOutbox = function (box) {
    var self = this, current = newest(box, "outbox");
    this.api("GET", "outbox").then(function (res) {
      if (self.handleAuth(res) || !current()) return; /* a retry's newer counts came first */
      if (!res.r.ok) { box.hidden = true; return; }
      var c = res.body.counts || {}, failing = res.body.failing || [];
      var retry = btn("Retry the failing ones", function () {
        retry.disabled = true;
        self.api("POST", "outbox/retry").then(function (r2) {
          if (self.handleAuth(r2)) return;
          self.say(r2.r.ok ? "Retrying " + count(r2.body.retried) + " failed notice" + (r2.body.retried === 1 ? "" : "s") + "." : errorText(r2), !r2.r.ok);
          self.drawOutbox(box);
        }, function () { retry.disabled = false; self.say(t("offline"), true); });
      }, { hidden: !c.failed });
      box.replaceChildren(h("h3", null, "Emails and webhooks"),
        h("dl", { "class": "commentd-mod-stats" },
          h("div", null, h("dt", null, "Sent"), h("dd", null, count(c.sent))),
          h("div", null, h("dt", null, "Waiting"), h("dd", null, count(c.pending))),
          h("div", null, h("dt", null, "Failing"), h("dd", { "class": c.failed ? "commentd-mod-bad" : null }, count(c.failed))),
          h("div", null, h("dt", null, "Skipped"), h("dd", null, count(c.skipped)))),
        res.body.oldest_pending_at ? h("p", { "class": "commentd-mod-hint" }, "The oldest waiting since ", timeEl(res.body.oldest_pending_at), ".") : "",  // replaceChildren, unlike h(), writes null as "null"
        failing.length ? h("ul", { "class": "commentd-mod-failing" }, failing.slice(0, 10).map(function (f) {
          return h("li", null, h("strong", null, f.kind), f.target ? " to " + f.target : "", " — " + f.attempts + " attempt" + (f.attempts === 1 ? "" : "s") + (f.last_error ? ": " + f.last_error : ""));
        })) : h("p", null, c.failed ? "" : "Nothing is failing."),
        retry);
    }, function () { box.textContent = t("offline"); });
  };

  /* ---------- Tokens ---------- */

  Console.prototype.view_tokens = function (heading) {
    var self = this;
    heading.textContent = "Moderation tokens";
    var list = h("div", null, t("loading")), id = nextId("label");
    var shown = h("div", { "class": "commentd-mod-newtoken", "aria-live": "polite" });
    var label = h("input", { id: id, name: "label", maxlength: "100", required: true, placeholder: "e.g. laptop" });
    var form = h("form", { "class": "commentd-mod-row", onsubmit: function (e) {
      e.preventDefault();
      self.api("POST", "tokens", { label: label.value.trim() }).then(function (res) {
        if (self.handleAuth(res)) return;
        if (!res.r.ok) return self.say(errorText(res), true);
        var out = h("input", { id: "commentd-mod-token-new", readonly: true, value: res.body.token, "class": "commentd-mod-code" });
        var copy = btn("Copy", function () {
          out.select();
          (navigator.clipboard ? navigator.clipboard.writeText(res.body.token) : Promise.reject()).then(function () { self.say("The token is copied."); },
            function () { self.say("Select the token and copy it (Ctrl+C)."); });
        });
        shown.replaceChildren(h("p", null, h("strong", null, "The new token for “" + res.body.label + "”. "), "It is shown this once: keep it now."),
          h("div", { "class": "commentd-mod-row" }, h("label", { "for": "commentd-mod-token-new" }, "Token"), out, copy));
        label.value = "";
        out.focus();
        out.select();
        self.tokenList(list);
      }, function () { self.say(t("offline"), true); });
    } }, h("label", { "for": id }, "Label of the new token"), label, h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, "Create a token"));
    this.viewBox.append(h("p", { "class": "commentd-mod-hint" }, "One token per device: revoke one and it stops working at once, everywhere."), form, shown, list);
    this.tokenList(list);
  };

  Console.prototype.tokenList = function (box) {
    var self = this, current = newest(box, "tokens");
    this.api("GET", "tokens").then(function (res) {
      /* A newer list came first (a token made or revoked since): this one would undo it. */
      if (self.handleAuth(res) || !current()) return;
      if (!res.r.ok) { box.textContent = errorText(res); return; }
      var rows = res.body.tokens.map(function (tk) {
        var name = tk.label || "token #" + tk.id;
        return h("tr", null, h("th", { scope: "row" }, name, tk.current ? h("span", { "class": "commentd-mod-badge" }, "this session") : null),
          h("td", null, timeEl(tk.created_at)),
          h("td", null, btn("Revoke", function () {
            self.confirm("Revoke “" + name + "”? Every browser and script using it is signed out at once." + (tk.current ? " That includes this one." : ""), "Revoke").then(function (yes) {
              if (!yes) return;
              self.api("DELETE", "tokens/" + tk.id).then(function (r2) {
                if (self.handleAuth(r2)) return;
                if (!r2.r.ok) return self.say(errorText(r2), true);
                self.say("“" + name + "” is revoked.");
                if (tk.current) return self.forget("That token is revoked.");
                self.tokenList(box);
              });
            });
          }, { "class": "commentd-mod-btn commentd-mod-danger", "aria-label": "Revoke " + name })));
      });
      box.replaceChildren(
        res.body.admin_token ? h("p", { "class": "commentd-mod-hint" }, "COMMENTD_ADMIN_TOKEN is set as well; it is changed in the server's environment, not here.") :"",
        rows.length ? h("div", { "class": "commentd-mod-scroll" }, h("table", { "class": "commentd-mod-table" },
          h("thead", null, h("tr", null, h("th", { scope: "col" }, "Label"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, h("span", { "class": "commentd-mod-visually-hidden" }, "Actions")))),
          h("tbody", null, rows))) : h("p", null, "No token made with commentd token yet."));
    }, function () { box.textContent = t("offline"); });
  };

  /* ---------- Import and export ---------- */

  Console.prototype.view_moving = function (heading) {
    var self = this, fid = nextId("format"), file = nextId("file");
    heading.textContent = "Import and export";
    var format = h("select", { id: fid, name: "format" }, Object.keys(FORMATS).map(function (k) { return h("option", { value: k }, FORMATS[k]); }));
    var input = h("input", { id: file, type: "file", name: "file", required: true });
    var progress = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Upload" });
    var result = h("div", { "class": "commentd-mod-import", "aria-live": "polite" });
    var form = h("form", { "class": "commentd-mod-form", onsubmit: function (e) {
      e.preventDefault();
      if (!input.files[0]) return input.focus();
      self.upload(format.value, input.files[0], progress, result);
    } },
    h("h3", null, "Import comments"),
    h("div", { "class": "commentd-mod-row" }, h("label", { "for": fid }, "From"), format),
    h("div", { "class": "commentd-mod-row" }, h("label", { "for": file }, "Export file"), input),
    h("p", { "class": "commentd-mod-hint" }, "The file is checked first (nothing stored) and you see what it holds; then you import it. Importing the same file twice stores nothing new."),
    h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, "Upload and check"), progress, result);
    var exports = h("div", null, h("h3", null, "Export every comment"),
      h("div", { "class": "commentd-mod-actions" },
        btn("Download commentd JSON", function () { self.download("json"); }),
        btn("Download WordPress (WXR)", function () { self.download("wordpress"); })),
      h("p", { "class": "commentd-mod-hint" }, "The JSON export holds everything, email addresses included: keep it private."));
    this.viewBox.append(form, exports);
  };

  Console.prototype.upload = function (format, blob, progress, result) {
    var self = this;
    result.textContent = "Uploading…";
    progress.hidden = false;
    progress.value = 0;
    return this.api("POST", "imports", { format: format, size: blob.size }).then(function (res) {
      if (self.handleAuth(res)) return;
      if (!res.r.ok) throw new Error(errorText(res));
      var up = res.body, n = 0;
      function part(i) {
        if (i >= up.parts) return Promise.resolve();
        return self.api("PUT", "imports/" + up.id + "/parts/" + i, blob.slice(i * up.part_bytes, (i + 1) * up.part_bytes)).then(function (r) {
          if (!r.r.ok) throw new Error(errorText(r));
          n += 1;
          progress.value = n / up.parts;
          return part(i + 1);
        });
      }
      return part(0).then(function () {
        result.textContent = "Checking…";
        return self.api("POST", "imports/" + up.id + "/run", { dry_run: true });
      }).then(function (r) {
        if (!r.r.ok) {
          /* The upload is of no more use; and the usual slip is a file of another kind than "From" says. */
          self.api("DELETE", "imports/" + up.id);
          throw new Error(errorText(r) + (r.body.error && r.body.error.place ? " (" + r.body.error.place + ")" : "") +
            " It was read as " + FORMATS[format] + ": if it is another kind of export, pick that under “From” and upload it again.");
        }
        var s = r.body, total = 0;
        for (var k in s.imported) total += s.imported[k];
        if (!total) {
          /* Nothing to store: no "Import 0 comments" button, and the upload is deleted. */
          self.api("DELETE", "imports/" + up.id);
          result.replaceChildren(h("p", null, h("strong", null, "Checked: nothing new to import.")), self.summary(s));
          return;
        }
        var go = btn("Import " + plural("comments", total), function () {
          go.disabled = true;
          result.textContent = "Importing…";
          self.api("POST", "imports/" + up.id + "/run", { dry_run: false }).then(function (r3) {
            if (!r3.r.ok) throw new Error(errorText(r3));
            result.replaceChildren(h("p", null, h("strong", null, "Imported."), " "), self.summary(r3.body));
            self.say("The import is done.");
          }).catch(function (e) { result.textContent = e.message || t("offline"); });
        }, { "class": "commentd-mod-btn commentd-mod-primary" });
        var cancel = btn(t("cancel"), function () {
          self.api("DELETE", "imports/" + up.id);
          result.textContent = "The upload is deleted; nothing was imported.";
        });
        result.replaceChildren(h("p", null, h("strong", null, "Checked: nothing is stored yet.")), self.summary(s), h("div", { "class": "commentd-mod-actions" }, go, cancel));
        go.focus();
      });
    }).catch(function (e) {
      result.textContent = (e && e.message && e.message !== "Failed to fetch" ? e.message : t("offline"));
    }).then(function () { progress.hidden = true; });
  };

  Console.prototype.summary = function (s) {
    var lines = ["Read " + count(s.read) + " comments (" + s.format + ")."];
    var parts = [];
    for (var k in s.imported) if (s.imported[k]) parts.push(count(s.imported[k]) + " " + k);
    if (parts.length) lines.push((s.dry_run ? "Would import " : "Imported ") + parts.join(", ") + " on " + count(s.posts) + (s.posts === 1 ? " post." : " posts."));
    /* Imported before, or (a commentd export of this very service) never gone: either way, here. */
    if (s.already_imported) lines.push(count(s.already_imported) + (s.already_imported === 1 ? " is" : " are") + " already here.");
    var skipped = [];
    for (var r in s.skipped) if (s.skipped[r]) skipped.push(count(s.skipped[r]) + " " + r.replace(/_/g, " "));
    if (skipped.length) lines.push("Skipped: " + skipped.join(", ") + ".");
    if (s.orphans) lines.push(count(s.orphans) + " replies whose parent is missing become top-level comments.");
    return h("ul", null, lines.map(function (l) { return h("li", null, l); }));
  };

  Console.prototype.download = function (format) {
    var self = this;
    self.say("Preparing the export…");
    /* kit.request reads JSON; an export is a file: fetch it as a blob instead. */
    var headers = this.mode === "cookie" ? {} : { Authorization: "Bearer " + this.token };
    fetch(base + "/api/moderation/export/" + format, { cache: "no-store", headers: headers, credentials: this.mode === "cookie" ? "same-origin" : "omit" }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (body) { throw new Error(errorText({ r: r, body: body })); });
      return r.blob().then(function (blob) {
        var a = h("a", { href: URL.createObjectURL(blob), download: "commentd-export." + (format === "json" ? "json" : "wxr.xml"), hidden: true });
        self.section.append(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
        self.say("The export is downloaded.");
      });
    }).catch(function (e) { self.say(e.message && e.message !== "Failed to fetch" ? e.message : t("offline"), true); });
  };

  kit.start("commentd-moderation-style", function () {
    var root = document.getElementById("moderation");
    if (root) new Console(root);
  });
})();
