/* commentd moderation widget (moderation.js): the author's queue, on any page of the blog or
 * at /moderate. <div id="moderation" data-post-url="/posts/{slug}.html"></div> and this script.
 * The token lives in sessionStorage only (this tab, until closed or forgotten). Words:
 * window.commentdModerationStrings; colours: the same --commentd-* properties as embed.js.
 * Served after src/common.js (commentdCommon) and with widgets.css, as one script: see there. */
/* global commentdCommon */
(function () {
  "use strict";
  var STATUSES = ["pending", "approved", "spam", "rejected"];
  /* What each action does to a comment's status (delete: it is gone). */
  var ACTIONS = { approve: "approved", reject: "rejected", spam: "spam", "delete": null };
  var KEYS = { a: "approve", r: "reject", s: "spam", d: "delete", Delete: "delete" };

  var kit = commentdCommon("moderation.js", {
    tokenLabel: "Moderation token", signIn: "Open the queue",
    tokenHint: "Kept in this browser tab only, until you close it or forget it.",
    tokenRefused: "That token was not accepted.", forget: "Forget token", forgotten: "The token is forgotten.",
    tabs: "Comments by status", pending: "Pending", approved: "Approved", spam: "Spam", rejected: "Rejected",
    refresh: "Refresh", loading: "Loading…", loadMore: "Load more", loadFailed: "The queue could not be loaded.",
    empty_pending: "Nothing waits for you. The queue is clear.", empty_other: "No comments here.",
    selectAll: "Select all shown", selected: "{n} selected", select: "Select the comment by {name}",
    approve: "Approve", notSpam: "Not spam", reject: "Reject", spamAction: "Spam", "delete": "Delete",
    on: "on", inReplyTo: "reply to #{id}", notify: "wants reply notices", edited: "edited by its writer",
    signals: "Spam signals", score: "score {score}", noSignals: "No spam signals.",
    done_approve: "Approved {n}.", done_reject: "Rejected {n}.", done_spam: "Marked {n} as spam.", done_delete: "Deleted {n}.",
    comments_one: "1 comment", comments_other: "{n} comments", theCommentBy: "the comment by {name}",
    failed: "Could not {action} the comment by {name}: {reason} It is back in the list.",
    gone: "The comment by {name} no longer exists.", offline: "the server could not be reached.",
    confirmDelete: "Delete {what} for good? This removes the text and the email address; replies stay.",
    cancel: "Cancel", keys: "Keys: j / k move · x select · a approve · r reject · s spam · d delete"
  }, window.commentdModerationStrings);
  var base = kit.base, lang = kit.lang, t = kit.t, plural = kit.plural, h = kit.h, safeUrl = kit.safeUrl;
  function timeEl(iso) { return kit.timeEl(iso, 30, "short"); }
  /* The token: this tab only, under "commentd.moderationToken", until closed or forgotten. */
  var session = kit.storage("sessionStorage");

  function originOf(url) {
    try { return safeUrl(new URL(url, location.href).href) && new URL(url, location.href).origin; } catch { return null; }
  }

  function Queue(root) {
    this.root = root;
    this.pageSize = Math.min(100, parseInt(root.getAttribute("data-page-size"), 10) || 20);
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
    this.token = session.get("moderationToken");
    this.tab = "pending";
    this.counts = {};
    this.section = h("section", { "class": "commentd-mod" });
    this.status = h("p", { "class": "commentd-mod-status", role: "status", "aria-live": "polite" });
    root.replaceChildren(this.section);
    kit.fit(root, this.section);
    if (this.token) this.showQueue(); else this.showLogin();
  }

  /* A request to /api/moderation/<path> with the token: resolves {r, body} (kit.request). */
  Queue.prototype.api = function (method, path) {
    return kit.request(base + "/api/moderation/" + path, {
      method: method, cache: "no-store", headers: { Authorization: "Bearer " + this.token }
    });
  };

  Queue.prototype.say = function (text, bad) {
    this.status.textContent = text;
    this.status.className = "commentd-mod-status" + (bad ? " commentd-mod-bad" : "");
  };

  Queue.prototype.showLogin = function (message) {
    var self = this, input = h("input", { id: "commentd-mod-token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
    var error = h("p", { "class": "commentd-mod-err", role: "alert" }, message || "");
    var form = h("form", { "class": "commentd-mod-login", onsubmit: function (e) {
      e.preventDefault();
      self.token = input.value.trim();
      if (!self.token) return input.focus();
      self.api("GET", "counts").then(function (res) {
        if (res.r.ok) { session.set("moderationToken", self.token); self.say(""); return self.showQueue(); }
        error.textContent = res.r.status === 401 ? t("tokenRefused") : res.body.message || t("loadFailed");
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }, function () { error.textContent = t("loadFailed") + " " + t("offline"); });
    } }, h("label", { "for": "commentd-mod-token" }, t("tokenLabel")), input,
      h("button", { "class": "commentd-mod-btn commentd-mod-primary", type: "submit" }, t("signIn")));
    this.section.replaceChildren(form, error, h("p", { "class": "commentd-mod-hint", text: t("tokenHint") }), this.status);
    input.focus();
  };

  Queue.prototype.forget = function (message) {
    session.set("moderationToken", null);
    this.token = null;
    document.removeEventListener("keydown", this.onKey);
    this.showLogin(message);
    if (!message) this.say(t("forgotten"));
  };

  Queue.prototype.showQueue = function () {
    var self = this;
    this.tabs = {};
    var tablist = h("div", { "class": "commentd-mod-tabs", role: "tablist", "aria-label": t("tabs"), onkeydown: function (e) {
      var step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      var next = STATUSES[(STATUSES.indexOf(self.tab) + step + STATUSES.length) % STATUSES.length];
      self.switchTab(next);
      self.tabs[next].focus();
    } });
    STATUSES.forEach(function (status) {
      var count = h("span", { "class": "commentd-mod-count" }, "–");
      var tab = h("button", { "class": "commentd-mod-tab", type: "button", role: "tab", id: "commentd-mod-tab-" + status, "aria-controls": "commentd-mod-panel",
        onclick: function () { self.switchTab(status); } }, t(status), count);
      tab.count = count;
      self.tabs[status] = tab;
      tablist.append(tab);
    });
    this.selectAll = h("input", { type: "checkbox", id: "commentd-mod-all", onchange: function () {
      self.items().forEach(function (li) { self.setSelected(li, self.selectAll.checked); });
      self.updateBulk();
    } });
    this.selectedNote = h("span", { "class": "commentd-mod-hint", "aria-live": "polite" });
    this.bulkButtons = Object.keys(ACTIONS).map(function (action) {
      var b = h("button", { "class": "commentd-mod-btn" + (action === "delete" ? " commentd-mod-danger" : ""), type: "button", "data-action": action,
        onclick: function () { self.act(self.selectedItems(), action); } }, t(action === "spam" ? "spamAction" : action));
      return b;
    });
    this.list = h("ol", { "class": "commentd-mod-list", "aria-labelledby": "commentd-mod-panel-label" });
    this.empty = h("p", { "class": "commentd-mod-empty", hidden: true });
    this.more = h("button", { "class": "commentd-mod-btn commentd-mod-more", type: "button", hidden: true, onclick: function () { self.load(true); } }, t("loadMore"));
    this.dialog = this.buildDialog();
    this.section.replaceChildren(
      h("div", { "class": "commentd-mod-bar" }, tablist, h("div", { "class": "commentd-mod-tools" },
        h("button", { "class": "commentd-mod-btn", type: "button", onclick: function () { self.refresh(); } }, t("refresh")),
        h("button", { "class": "commentd-mod-btn", type: "button", onclick: function () { self.forget(); } }, t("forget")))),
      h("div", { id: "commentd-mod-panel", role: "tabpanel" },
        h("div", { "class": "commentd-mod-bulk" }, h("label", null, this.selectAll, t("selectAll")), this.selectedNote, this.bulkButtons),
        this.list, this.empty, this.more),
      this.status, h("p", { "class": "commentd-mod-keys", text: t("keys") }), this.dialog);
    this.onKey = this.onKey || function (e) { self.shortcut(e); };
    document.addEventListener("keydown", this.onKey);
    this.switchTab(this.tab);
  };

  Queue.prototype.buildDialog = function () {
    var self = this;
    this.dialogText = h("p");
    var dialog = h("dialog", { "class": "commentd-mod-dialog", "aria-labelledby": "commentd-mod-dialog-text" },
      h("form", { method: "dialog" }, this.dialogText,
        h("div", { "class": "commentd-mod-actions" },
          h("button", { "class": "commentd-mod-btn commentd-mod-danger commentd-mod-primary", value: "delete" }, t("delete")),
          h("button", { "class": "commentd-mod-btn", value: "cancel", autofocus: true }, t("cancel")))));
    this.dialogText.id = "commentd-mod-dialog-text";
    dialog.addEventListener("close", function () { if (self.dialogDone) self.dialogDone(dialog.returnValue === "delete"); });
    return dialog;
  };

  Queue.prototype.confirmDelete = function (what) {
    var self = this;
    this.dialogText.textContent = t("confirmDelete", { what: what });
    this.dialog.returnValue = "cancel";
    return new Promise(function (resolve) {
      self.dialogDone = function (yes) { self.dialogDone = null; resolve(yes); };
      self.dialog.showModal();
    });
  };

  Queue.prototype.switchTab = function (status) {
    this.tab = status;
    for (var s in this.tabs) {
      this.tabs[s].setAttribute("aria-selected", String(s === status));
      this.tabs[s].tabIndex = s === status ? 0 : -1;
    }
    this.section.querySelector("#commentd-mod-panel").setAttribute("aria-labelledby", "commentd-mod-tab-" + status);
    this.list.setAttribute("aria-labelledby", "commentd-mod-tab-" + status);
    this.bulkButtons.forEach(function (b) { b.hidden = ACTIONS[b.getAttribute("data-action")] === status; });
    this.refresh();
  };

  Queue.prototype.refresh = function () {
    this.cursor = null;
    this.list.replaceChildren();
    this.loadCounts();
    return this.load(false);
  };

  Queue.prototype.handleAuth = function (res) {
    if (res.r.status !== 401) return false;
    this.forget(t("tokenRefused"));
    return true;
  };

  Queue.prototype.loadCounts = function () {
    var self = this;
    return this.api("GET", "counts").then(function (res) {
      if (self.handleAuth(res) || !res.r.ok) return;
      self.counts = res.body;
      self.showCounts();
    }, function () { /* the list reports the failure */ });
  };

  Queue.prototype.showCounts = function () {
    for (var s in this.tabs) this.tabs[s].count.textContent = (this.counts[s] || 0).toLocaleString(lang);
  };

  Queue.prototype.load = function (more) {
    var self = this, tab = this.tab, seq = this.seq = (this.seq || 0) + 1;
    var query = "comments?status=" + tab + "&limit=" + this.pageSize + (more && this.cursor ? "&cursor=" + encodeURIComponent(this.cursor) : "");
    this.more.hidden = true;
    this.empty.hidden = false;
    this.empty.textContent = t("loading");
    return this.api("GET", query).then(function (res) {
      if (self.handleAuth(res) || seq !== self.seq) return; /* a newer load replaced this one */
      if (!res.r.ok) throw new Error(res.body.message);
      var first = self.items().length;
      res.body.comments.forEach(function (c) { self.list.append(self.renderItem(c)); });
      self.cursor = res.body.next_cursor;
      self.more.hidden = !self.cursor;
      self.afterChange();
      if (more && self.items()[first]) self.items()[first].focus();
    }).catch(function (e) {
      self.empty.textContent = t("loadFailed") + " " + (e.message && e.message !== "Failed to fetch" ? e.message : t("offline"));
    });
  };

  Queue.prototype.items = function () { return Array.prototype.slice.call(this.list.children); };
  Queue.prototype.selectedItems = function () {
    return this.items().filter(function (li) { return li.checkbox.checked; });
  };
  Queue.prototype.setSelected = function (li, on) {
    li.checkbox.checked = on;
    li.classList.toggle("commentd-mod-sel", on);
  };

  Queue.prototype.afterChange = function () {
    var n = this.items().length, chosen = this.selectedItems().length;
    this.empty.hidden = n > 0;
    this.empty.textContent = this.tab === "pending" ? t("empty_pending") : t("empty_other");
    this.updateBulk();
    this.selectAll.checked = n > 0 && chosen === n;
    this.selectAll.disabled = n === 0;
    /* Acting on a whole page empties it: fetch the next rather than claim the queue is clear. */
    if (!n && this.cursor && this.more.hidden === false) this.load(true);
  };

  Queue.prototype.updateBulk = function () {
    var n = this.selectedItems().length;
    this.selectedNote.textContent = n ? t("selected", { n: n }) : "";
    this.bulkButtons.forEach(function (b) { b.disabled = n === 0; });
  };

  Queue.prototype.postLink = function (c) {
    if (!this.postUrl) return null;
    var path = kit.slugPath(c.slug);
    var url = safeUrl(new URL(this.postUrl.replace("{slug}", path), location.href).href);
    if (url && this.postUrl === this.askedUrl && !this.linkAllowed(url)) url = null;
    return url && c.status === "approved" ? url + "#comment-" + c.id : url;
  };

  Queue.prototype.linkAllowed = function (url) { return this.linkOrigins.indexOf(originOf(url)) >= 0; };

  Queue.prototype.renderItem = function (c) {
    var self = this, author = c.author, website = author.website && safeUrl(author.website), link = this.postLink(c);
    var body = h("div", { "class": "commentd-mod-body" });
    body.innerHTML = c.body_html; /* sanitised by the service (nh3) */
    var checkbox = h("input", { type: "checkbox", "aria-label": t("select", { name: author.name }),
      onchange: function () { self.setSelected(li, checkbox.checked); self.afterChange(); } });
    var signals = c.reasons.length
      ? h("div", { "class": "commentd-mod-signals" }, t("signals") + " (" + t("score", { score: Math.round(c.spam_score * 100) + "%" }) + ")",
        h("ul", null, c.reasons.map(function (r) { return h("li", null, r); })))
      : h("div", { "class": "commentd-mod-signals commentd-mod-clean" }, t("noSignals"));
    var actions = Object.keys(ACTIONS).filter(function (a) { return ACTIONS[a] !== c.status; }).map(function (action) {
      var key = Object.keys(KEYS).filter(function (k) { return KEYS[k] === action; })[0];
      return h("button", { "class": "commentd-mod-btn" + (action === "approve" ? " commentd-mod-primary" : action === "delete" ? " commentd-mod-danger" : ""),
        type: "button", "aria-keyshortcuts": key, title: key, onclick: function () { self.act([li], action); } },
        t(action === "spam" ? "spamAction" : action === "approve" && c.status === "spam" ? "notSpam" : action));
    });
    var li = h("li", { "class": "commentd-mod-item", tabindex: "-1", "data-id": c.id, "aria-label": author.name },
      checkbox,
      h("img", { "class": "commentd-mod-avatar", src: author.avatar, alt: "", width: "40", height: "40", loading: "lazy" }),
      h("div", { "class": "commentd-mod-main" },
        h("div", { "class": "commentd-mod-who" },
          h("span", { "class": "commentd-mod-name" }, author.name),
          h("a", { href: "mailto:" + c.email }, c.email),
          website ? h("a", { href: website, rel: "nofollow ugc noopener noreferrer", target: "_blank" }, website) : null),
        h("div", { "class": "commentd-mod-meta" }, t("on") + " ",
          link ? h("a", { href: link }, c.slug) : h("span", null, c.slug), " · ", timeEl(c.created_at),
          c.parent_id ? " · " + t("inReplyTo", { id: c.parent_id }) : null,
          c.notify ? " · " + t("notify") : null,
          c.edited_at ? [" · ", h("span", { "class": "commentd-mod-edited" }, t("edited"), " ", timeEl(c.edited_at))] : null),
        body, signals, h("div", { "class": "commentd-mod-actions" }, actions)));
    li.checkbox = checkbox;
    li.comment = c;
    return li;
  };

  Queue.prototype.shortcut = function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || this.dialog.open || !this.section.isConnected) return;
    var target = e.target, tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "checkbox") || target.isContentEditable) return;
    var items = this.items(), current = target.closest && target.closest(".commentd-mod-item");
    var index = items.indexOf(current);
    if (e.key === "j" || e.key === "k") {
      var next = items[e.key === "j" ? index + 1 : Math.max(0, index - 1)] || items[e.key === "j" ? items.length - 1 : 0];
      if (next) next.focus();
    } else if (e.key === "x" && current) {
      this.setSelected(current, !current.checkbox.checked);
      this.afterChange();
    } else if (KEYS[e.key] && (current || this.selectedItems().length)) {
      var chosen = this.selectedItems();
      var action = KEYS[e.key];
      if (action !== "delete" && ACTIONS[action] === this.tab) return;
      this.act(chosen.length ? chosen : [current], action);
    } else return;
    e.preventDefault();
  };

  Queue.prototype.act = function (lis, action) {
    var self = this;
    if (!lis.length) return Promise.resolve();
    var ask = action === "delete"
      ? this.confirmDelete(lis.length === 1 ? t("theCommentBy", { name: lis[0].comment.author.name }) : plural("comments", lis.length))
      : Promise.resolve(true);
    return ask.then(function (yes) {
      if (!yes) { if (lis[0].isConnected) lis[0].focus(); return; }
      var from = self.tab, to = ACTIONS[action], items = self.items();
      var stay = function (li) { return lis.indexOf(li) < 0; }, remaining = items.filter(stay);
      var after = items.slice(items.indexOf(lis[0])).filter(stay)[0] || remaining[remaining.length - 1];
      /* Optimistic: the comments leave the list now; a failure puts each back where it was. */
      lis.forEach(function (li) { self.setSelected(li, false); li.remove(); });
      self.move(from, to, lis.length);
      self.afterChange();
      if (after) after.focus();
      var failures = [], gone = [];
      return Promise.all(lis.map(function (li) {
        /* "Not spam" approves and teaches the filter that it was a real comment. */
        var endpoint = action === "approve" && li.comment.status === "spam" ? "not-spam" : action;
        var path = "comments/" + li.comment.id + (action === "delete" ? "" : "/" + endpoint);
        return self.api(action === "delete" ? "DELETE" : "POST", path).then(function (res) {
          if (res.r.ok) return;
          if (res.r.status === 404) return gone.push(li);
          failures.push({ li: li, reason: res.body.message || String(res.r.status), auth: res.r.status === 401 });
        }, function () { failures.push({ li: li, reason: t("offline") }); });
      })).then(function () {
        if (self.tab === from) failures.forEach(function (f) { self.putBack(f.li); });
        self.move(from, to, -failures.length);
        self.afterChange();
        var done = lis.length - failures.length - gone.length, messages = [];
        if (done) messages.push(t("done_" + action, { n: plural("comments", done) }));
        gone.forEach(function (li) { messages.push(t("gone", { name: li.comment.author.name })); });
        failures.forEach(function (f) {
          messages.push(t("failed", { action: t(action === "spam" ? "spamAction" : action).toLowerCase(),
            name: f.li.comment.author.name, reason: /[.!?]$/.test(f.reason) ? f.reason : f.reason + "." }));
        });
        self.say(messages.join(" "), failures.length > 0);
        if (failures.some(function (f) { return f.auth; })) return self.forget(t("tokenRefused"));
        if (failures.length) failures[0].li.focus();
        self.loadCounts();
      });
    });
  };

  Queue.prototype.move = function (from, to, n) {
    this.counts[from] = Math.max(0, (this.counts[from] || 0) - n);
    if (to) this.counts[to] = Math.max(0, (this.counts[to] || 0) + n);
    this.showCounts();
  };

  Queue.prototype.putBack = function (li) {
    /* Newest first: it goes before the first comment older than it. */
    var id = li.comment.id, before = this.items().filter(function (o) { return o.comment.id < id; })[0] || null;
    this.list.insertBefore(li, before);
  };

  kit.start("commentd-moderation-style", function () {
    var root = document.getElementById("moderation");
    if (root) new Queue(root);
  });
})();
