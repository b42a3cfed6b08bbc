/* commentd comment widget (embed.js): the comments of one post and the form to add one.
 * A page includes <div id="comments" data-slug="…"></div> and this script; nothing else.
 * Words: the page's language (<html lang>, or data-lang on the root; docs/languages.md), and
 * window.commentdStrings = {submit: "Envoyer", …} before this script for any of them. Colours: the
 * --commentd-* CSS custom properties. Everything a commenter typed is inserted as text;
 * only body_html, which the service sanitised, is inserted as HTML.
 * Served after src/common.js (commentdCommon) and with widgets.css, as one script: see there. */
/* global commentdCommon, WIDGET_I18N */
(function () {
  "use strict";
  /* English, built in (WIDGET_I18N.en is i18n/catalogues/en.json); other languages on demand. */
  var kit = commentdCommon("embed.js", WIDGET_I18N.en, window.commentdStrings, { data: WIDGET_I18N, rootId: "comments" });
  var base = kit.base, S = kit.strings, t = kit.t, plural = kit.plural, h = kit.h;
  var safeUrl = kit.safeUrl, slugPath = kit.slugPath, request = kit.request;
  function timeEl(iso) { return kit.timeEl(iso, 7, "long"); }

  /* What the widget keeps in the page's localStorage, as JSON under "commentd.<key>". */
  var local = kit.storage("localStorage");
  var store = {
    get: function (key) {
      try { return JSON.parse(local.get(key)); } catch { return null; }
    },
    set: function (key, value) { local.set(key, value == null ? null : JSON.stringify(value)); }
  };

  /* A post's one slug, however its URL is spelled: the service's rule (validation.normalize_slug
   * in the service) on this side too. Percent-escapes decoded until none is left (a path
   * encoded twice on its way, %25E8…, is the same post; one that is not UTF-8 stays as written,
   * in capitals), Unicode NFC, runs of "/" made one, no "/" at either end. So the page
   * /blog/%E8%AF%BB/, the same with %e8%af%bb, /blog//%25E8%25AF%25BB/ and data-slug="blog/读"
   * are one post. */
  function decodeEscapes(text) {
    return text.replace(/(?:%[0-9a-f]{2})+/gi, function (run) {
      var out = "", i = 0;
      while (i < run.length) {
        for (var n = Math.min(4, (run.length - i) / 3); n > 0; n--) {
          try { out += decodeURIComponent(run.substr(i, n * 3)); i += n * 3; break; } catch { /* shorter */ }
        }
        if (!n) { out += run.substr(i, 3).toUpperCase(); i += 3; }
      }
      return out;
    });
  }
  function canonicalSlug(raw) {
    var text = String(raw || ""), decoded;
    while ((decoded = decodeEscapes(text)) !== text) text = decoded;
    return text.normalize("NFC").replace(/\/{2,}/g, "/").replace(/^\/+|\/+$/g, "");
  }
  function countSlug(el) { return canonicalSlug(el.getAttribute("data-commentd-count")); }

  /* The post's title, sent with each comment (kept while the post has none, for the author's
   * console): data-title on the widget's element, else the page's og:title, else its title. */
  function pageTitle(root) {
    var og = document.querySelector('meta[property="og:title"]');
    var title = root.getAttribute("data-title") || (og && og.getAttribute("content")) || document.title || "";
    return title.trim().slice(0, 300);
  }

  /* ---- proof of work -------------------------------------------------------------------- */
  /* The service's challenges last an hour (CHALLENGE_LIFETIME in spam/proof.py); one older
   * than this is fetched again rather than solved. */
  var POW_LIFETIME = 55 * 60 * 1000;

  /* An ALTCHA challenge ({algorithm, challenge, maxnumber, salt, signature}) solved: the number
   * n <= maxnumber whose SHA-256(salt + n) is the challenge, tried in batches of digests (Web
   * Crypto hashes off the main thread; the page stays responsive between batches). Resolves to
   * the base64 payload ALTCHA defines, {algorithm, challenge, number, salt, signature}, or to
   * null when there is no Web Crypto (a page not served over https) or no answer. */
  function solvePow(c) {
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle || !window.TextEncoder || c.algorithm !== "SHA-256" || !/^[0-9a-f]{64}$/.test(c.challenge) ||
      !Number.isInteger(c.maxnumber) || c.maxnumber < 0 || typeof c.salt !== "string") return Promise.resolve(null);
    var encoder = new TextEncoder(), want = new Uint8Array(32), max = Math.min(c.maxnumber, 1e7);
    for (var i = 0; i < 32; i++) want[i] = parseInt(c.challenge.substr(i * 2, 2), 16);
    function same(buffer) {
      var got = new Uint8Array(buffer);
      for (var k = 0; k < 32; k++) if (got[k] !== want[k]) return false;
      return true;
    }
    function batch(start) {
      if (start > max) return null;
      var end = Math.min(start + 500, max + 1), digests = [];
      for (var n = start; n < end; n++) digests.push(subtle.digest("SHA-256", encoder.encode(c.salt + n)));
      return Promise.all(digests).then(function (hashes) {
        for (var j = 0; j < hashes.length; j++) if (same(hashes[j])) return start + j;
        return batch(end);
      });
    }
    return batch(0).then(function (number) {
      return number == null ? null : btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge,
        number: number, salt: c.salt, signature: c.signature }));
    }).catch(function () { return null; });
  }

  /* ---- the comment section ---------------------------------------------------------- */

  function CommentSection(root) {
    this.root = root;
    var thread = root.querySelector("section.commentd-thread"), adopted = thread && readThread(thread);
    var given = root.getAttribute("data-slug") || (adopted && adopted.slug) || location.pathname;
    this.slug = canonicalSlug(given);
    this.maxDepth = Math.max(1, parseInt(root.getAttribute("data-max-depth"), 10) || 4);
    this.pendingKey = "pending." + this.slug;
    /* Kept under the slug as written before slugs were canonical: carry it over. */
    if (given !== this.slug && store.get("pending." + given)) {
      store.set(this.pendingKey, (store.get(this.pendingKey) || []).concat(store.get("pending." + given)));
      store.set("pending." + given, null);
    }
    this.approved = [];
    this.pinned = [];
    this.replyTo = null;
    this.formToken = null;
    this.pow = null;
    if (adopted && adopted.slug && canonicalSlug(adopted.slug) !== this.slug) {
      console.warn("commentd: the page's thread is of " + adopted.slug + ", not " + this.slug + "; loading " + this.slug);
      adopted = null;
    }
    this.build();
    if (adopted) this.adopt(adopted);
    else this.load();
    this.fetchFormToken();
  }

  /* ---- the thread the page already holds ---------------------------------------------- */

  /* <section class="commentd-thread"> (docs/embedding.md: `commentd export static`, or
   * GET /api/posts/<slug>/comments.html), read back into what the JSON would say: {slug,
   * version, closed, pinned: [ids, as shown], comments: [{id, parent_id, author: {name, website,
   * avatar, is_owner}, body_html, created_at, pinned}], typed: what the reader already typed
   * into its no-script form}. body_html is the markup the service sanitised, as the page
   * parsed it. */
  function readThread(thread) {
    function own(li, selector) { return li.querySelector(":scope > article " + selector); }
    var comments = [], pinned = [];
    thread.querySelectorAll("li.commentd-comment[data-commentd-id]").forEach(function (li) {
      var id = parseInt(li.getAttribute("data-commentd-id"), 10), parent = parseInt(li.getAttribute("data-commentd-parent"), 10);
      var name = own(li, ".commentd-name"), avatar = own(li, "img.commentd-avatar"), time = own(li, "time[datetime]");
      var body = own(li, ".commentd-body");
      if (!(id > 0) || !name || !time || !body) return;
      var isPinned = li.getAttribute("data-commentd-pinned") === "true";
      if (isPinned) pinned.push(id);
      comments.push({
        id: id, parent_id: parent > 0 ? parent : null,
        author: { name: name.textContent.trim(), website: name.tagName === "A" ? name.getAttribute("href") : null,
          avatar: avatar ? avatar.getAttribute("src") : null, is_owner: li.getAttribute("data-commentd-owner") === "true" },
        body_html: body.innerHTML, created_at: time.getAttribute("datetime"), pinned: isPinned
      });
    });
    var typed = {}, form = thread.querySelector("form.commentd-form-noscript");
    ["name", "email", "website", "body"].forEach(function (k) {
      var input = form && form.elements[k];
      if (input && input.value && input.value.trim()) typed[k] = input.value;
    });
    return { slug: thread.getAttribute("data-commentd-slug"), version: thread.getAttribute("data-commentd-version") || "",
      closed: thread.getAttribute("data-commentd-closed") === "true", comments: comments, pinned: pinned, typed: typed };
  }

  /* Shows the page's thread as the widget (one render, no request first), then asks the
   * service whether it is still current: a 304 while it is, else the live list. */
  CommentSection.prototype.adopt = function (adopted) {
    var inputs = this.inputs;
    this.approved = adopted.comments;
    this.pinned = adopted.pinned;
    this.loaded = true;
    this.setClosed(adopted.closed);
    this.keepOwn(this.ownPending());
    this.render();
    Object.keys(adopted.typed).forEach(function (k) { inputs[k].value = adopted.typed[k]; });
    /* Back from the no-script form (API.md: 303 to #commentd-pending): say what became of it. */
    if (location.hash === "#commentd-pending") this.say(t("thanksPending"));
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && this.section.contains(target)) target.scrollIntoView();
    this.load(adopted.version);
  };

  CommentSection.prototype.build = function () {
    var self = this;
    this.level = Math.min(5, Math.max(1, parseInt(this.root.getAttribute("data-heading-level"), 10) || 2));
    this.heading = h("h" + this.level, { "class": "commentd-h commentd-heading", id: "commentd-heading" }, t("heading_zero"));
    this.list = h("ol", { "class": "commentd-list" });
    this.info = h("p", { "class": "commentd-empty", text: t("loading") });
    this.section = h("section", { "class": "commentd", "aria-labelledby": "commentd-heading" },
      this.heading, this.info, this.list);
    this.form = this.buildForm();
    this.closedNote = h("p", { "class": "commentd-closed", hidden: true, text: t("closed") });
    this.section.append(this.form, this.closedNote, this.buildDataLink());
    this.root.replaceChildren(this.section);
    kit.fit(this.root, this.section);
    window.addEventListener("storage", function (e) {
      if (e.key === "commentd." + self.pendingKey) self.render();
    });
  };

  CommentSection.prototype.field = function (name, type, required, attrs) {
    var id = "commentd-" + name, errId = id + "-error";
    var input = h(type === "textarea" ? "textarea" : "input", Object.assign({
      id: id, name: name, type: type === "textarea" ? null : type, required: required,
      "aria-describedby": errId + (name === "body" ? " commentd-body-hint" : "")
    }, attrs));
    var label = h("label", { "for": id }, t(name), required ? h("span", { "aria-hidden": "true" }, " *") : null);
    this.inputs[name] = input;
    this.errors[name] = h("p", { "class": "commentd-err", id: errId });
    return h("div", { "class": "commentd-field" }, label, input, this.errors[name]);
  };

  CommentSection.prototype.buildForm = function () {
    var self = this, saved = store.get("author") || {};
    this.inputs = {};
    this.errors = {};
    this.formHeading = h("h" + (this.level + 1), { "class": "commentd-h", id: "commentd-form-heading" }, t("formHeading"));
    this.status = h("p", { "class": "commentd-status", role: "status", "aria-live": "polite" });
    this.submitButton = h("button", { "class": "commentd-btn", type: "submit" }, t("submit"));
    this.cancelButton = h("button", { "class": "commentd-btn commentd-quiet", type: "button", hidden: true,
      onclick: function () { self.closeReply(true); } }, t("cancel"));
    this.notify = h("input", { type: "checkbox", id: "commentd-notify", name: "notify" });
    this.remember = h("input", { type: "checkbox", id: "commentd-remember", checked: !!saved.name });
    var form = h("form", { "class": "commentd-form", novalidate: true, "aria-labelledby": "commentd-form-heading",
      onsubmit: function (e) { e.preventDefault(); self.submit(); },
      onfocusin: function () { self.proofOfWork(false); },
      onkeydown: function (e) { if (e.key === "Escape" && self.replyTo) self.closeReply(true); } },
      this.formHeading,
      h("p", { "class": "commentd-note", text: t("note") }),
      h("div", { "class": "commentd-row" },
        this.field("name", "text", true, { autocomplete: "name", maxlength: 80 }),
        this.field("email", "email", true, { autocomplete: "email", maxlength: 254 }),
        this.field("website", "url", false, { autocomplete: "url", maxlength: 300, placeholder: "https://" })),
      this.field("body", "textarea", true, { rows: 5, maxlength: 5000 }),
      h("p", { "class": "commentd-hint", id: "commentd-body-hint", text: t("bodyHint") }),
      /* The bot trap: off screen, out of the tab order, hidden from assistive technology. */
      h("div", { "class": "commentd-hp", "aria-hidden": "true" },
        h("label", null, t("honeypot"), h("input", { name: "url2", type: "text", tabindex: "-1", autocomplete: "off" }))),
      h("div", { "class": "commentd-check" }, this.notify, h("label", { "for": "commentd-notify", text: t("notify") })),
      this.notifyApprovedCheck(),
      h("div", { "class": "commentd-check" }, this.remember, h("label", { "for": "commentd-remember", text: t("remember") })),
      h("div", { "class": "commentd-actions" }, this.submitButton, this.cancelButton),
      this.status);
    this.honeypot = form.querySelector("[name=url2]");
    ["name", "email", "website"].forEach(function (k) { if (saved[k]) self.inputs[k].value = saved[k]; });
    return form;
  };

  CommentSection.prototype.fetchFormToken = function () {
    var self = this;
    return request(base + "/api/form-token", { cache: "no-store" })
      .then(function (res) {
        var d = res.body;
        if (res.r.ok && d.form_token) self.formToken = { value: d.form_token, until: Date.now() + (d.expires_in - 60) * 1000 };
        /* The proof-of-work challenge that came with it (null: the site has it off). */
        if (res.r.ok) self.pow = d.pow ? { challenge: d.pow, until: Date.now() + POW_LIFETIME, work: null } : null;
      })
      .catch(function () { /* posting still works without one; the service only grows wary */ });
  };

  /* The proof of work to post (spam/proof.py in the service; docs/spam.md): the ALTCHA payload
   * of the current challenge, solving it unless begun already (the form's first focus begins
   * it, so posting rarely waits). A stale challenge is fetched anew. Resolves to null when the
   * site has it off or this browser cannot solve: the comment is then held, not refused. */
  CommentSection.prototype.proofOfWork = function (fetchIfStale) {
    var self = this, token = this.formToken;
    if (this.pow && Date.now() >= this.pow.until) {
      if (!fetchIfStale) return Promise.resolve(null);
      this.pow = null;
      return this.fetchFormToken().then(function () {
        /* The form token still valid stays: it dates the form, which a fresh one would not. */
        if (token && Date.now() < token.until) self.formToken = token;
        return self.proofOfWork(false);
      });
    }
    if (!this.pow) return Promise.resolve(null);
    if (!this.pow.work) this.pow.work = solvePow(this.pow.challenge);
    return this.pow.work;
  };

  /* The reader's own comments that the public list does not show (yet): kept in this browser,
   * each with the commenter_token that posted it, until the service says what became of it. */
  CommentSection.prototype.ownPending = function () {
    var listed = {};
    this.approved.forEach(function (c) { listed[c.id] = true; });
    return (store.get(this.pendingKey) || []).filter(function (p) { return !listed[p.comment.id]; });
  };

  CommentSection.prototype.keepOwn = function (own) { store.set(this.pendingKey, own.length ? own : null); };

  /* Asks the service about the reader's own waiting comments (GET …/comments/mine, with their
   * token): still waiting, published, or gone (rejected, spam, deleted), which stop showing.
   * Without an answer, each stays as it was. */
  CommentSection.prototype.checkOwn = function () {
    var self = this, lastToken = store.get("token"), asks = [];
    var tokenOf = function (p) { return p.token || lastToken; };
    var byToken = {};
    this.ownPending().forEach(function (p) {
      if (tokenOf(p)) (byToken[tokenOf(p)] = byToken[tokenOf(p)] || []).push(p.comment.id);
    });
    Object.keys(byToken).forEach(function (token) {
      for (var i = 0; i < byToken[token].length; i += 50) asks.push({ token: token, ids: byToken[token].slice(i, i + 50) });
    });
    if (!asks.length) return Promise.resolve();
    var answered = {}, status = {};
    return Promise.all(asks.map(function (ask) {
      var query = ask.ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
      return request(base + "/api/posts/" + slugPath(self.slug) + "/comments/mine?" + query,
        { cache: "no-store", headers: { Authorization: "Commenter " + ask.token } })
        .then(function (res) {
          /* 401: the service knows no such token, so none of these comments is there. */
          var found = res.r.status === 401 ? [] : res.r.status === 200 ? res.body.comments : null;
          if (!Array.isArray(found)) return;
          ask.ids.forEach(function (id) { answered[ask.token + " " + id] = true; });
          found.forEach(function (c) { status[ask.token + " " + c.id] = c.status; });
        })
        .catch(function () { /* unknown for now: keep showing them */ });
    })).then(function () {
      self.keepOwn(self.ownPending().filter(function (p) {
        var key = tokenOf(p) + " " + p.comment.id;
        if (!answered[key]) return true;
        p.status = status[key];
        return !!p.status;
      }));
      self.render();
    });
  };

  /* version: that of the list the widget shows (adopted from the page), to be kept on a 304. */
  CommentSection.prototype.load = function (version) {
    var self = this, waiting = this.ownPending().length > 0;
    /* A reader waiting for their comment revalidates instead of trusting the short HTTP cache. */
    var init = { cache: waiting ? "no-cache" : "default" };
    if (version) init.headers = { "If-None-Match": '"' + version + '"' };
    return request(base + "/api/posts/" + slugPath(this.slug) + "/comments", init)
      .then(function (res) {
        var data = res.body;
        if (version && res.r.status === 304) return waiting ? self.checkOwn() : null;
        if (!res.r.ok || !Array.isArray(data.comments)) throw new Error(res.r.status);
        self.approved = data.comments;
        self.pinned = data.pinned || [];
        self.loaded = true;
        self.setClosed(!!data.closed);
        self.keepOwn(self.ownPending());
        self.render();
        var target = !version && location.hash && document.getElementById(location.hash.slice(1));
        if (target) target.scrollIntoView();
        if (waiting) self.checkOwn();
      })
      .catch(function () {
        if (version) return; /* the page's thread stays; posting still works */
        self.info.replaceChildren(t("loadFailed") + " ",
          h("button", { "class": "commentd-link", type: "button", onclick: function () { self.load(); } }, t("retry")));
        self.render(true);
      });
  };

  CommentSection.prototype.render = function (keepInfo) {
    var self = this, all = [], children = {}, byId = {};
    this.approved.forEach(function (c) { all.push({ c: c }); });
    this.ownPending().forEach(function (p) { all.push({ c: p.comment, pending: p.status !== "approved" }); });
    /* One order for everything, the reader's own comments among the others: by date. */
    all.sort(function (a, b) { return Date.parse(a.c.created_at) - Date.parse(b.c.created_at) || a.c.id - b.c.id; });
    all.forEach(function (e) { byId[e.c.id] = e; });
    all.forEach(function (e) {
      var parent = e.c.parent_id != null && byId[e.c.parent_id] ? e.c.parent_id : "top";
      (children[parent] = children[parent] || []).push(e);
    });
    /* Pinned top-level comments first, in the service's order (the newest pin first). */
    var rank = {}, pins = this.pinned;
    pins.forEach(function (id, i) { rank[id] = i; });
    function pinRank(e) { return e.c.pinned && e.c.parent_id == null ? (e.c.id in rank ? rank[e.c.id] : pins.length) : Infinity; }
    if (children.top) children.top = children.top.map(function (e, i) { return { e: e, i: i }; }).sort(function (a, b) {
      var ra = pinRank(a.e), rb = pinRank(b.e);
      return ra === rb ? a.i - b.i : (ra < rb ? -1 : 1);
    }).map(function (x) { return x.e; });
    /* A reply being typed stays open under its comment while the list changes around it. */
    var replying = this.replyTo && this.list.contains(this.form) ? this.replyTo.comment.id : null;
    if (replying !== null) this.closeReply(false);
    /* flat: these replies sit beside their parent (past maxDepth), so they name whom they answer. */
    function fill(parentId, ol, depth, flat) {
      (children[parentId] || []).forEach(function (e) {
        var li = self.renderComment(e, flat ? byId[parentId].c : null);
        ol.append(li);
        if (!children[e.c.id]) return;
        if (depth < self.maxDepth) fill(e.c.id, li.appendChild(h("ol", { "class": "commentd-list" })), depth + 1, false);
        else fill(e.c.id, ol, depth, true);
      });
    }
    this.list.replaceChildren();
    fill("top", this.list, 1, false);
    var again = replying !== null && byId[replying] && !byId[replying].pending && !this.closed &&
      document.getElementById("comment-" + replying);
    if (again) this.openReply(byId[replying].c, again, again.querySelector(".commentd-c .commentd-link"), true);
    this.placeStatus();
    var n = this.approved.length, slug = this.slug;
    this.heading.textContent = n ? plural("heading", n) : t("heading_zero");
    if (this.loaded) countLinks().forEach(function (el) {
      if (countSlug(el) === slug) el.textContent = plural("count", n);
    });
    if (!keepInfo) {
      this.info.textContent = all.length ? "" : t("empty");
      this.info.hidden = !!all.length;
    }
  };

  CommentSection.prototype.renderComment = function (entry, flattenedUnder) {
    var self = this, c = entry.c, author = c.author || {}, url = author.website && safeUrl(author.website);
    var name = url ? h("a", { "class": "commentd-name", href: url, rel: "nofollow ugc noopener" }, author.name)
      : h("span", { "class": "commentd-name" }, author.name);
    var body = h("div", { "class": "commentd-body" });
    body.innerHTML = c.body_html; /* sanitised by the service (nh3): the one HTML we insert */
    var reply = entry.pending || this.closed ? null : h("button", { "class": "commentd-link", type: "button", "aria-expanded": "false",
      "aria-label": t("replyTo", { name: author.name }),
      onclick: function () { self.openReply(c, li, reply); } }, t("reply"));
    var pinned = c.pinned && c.parent_id == null;
    var li = h("li", { "class": "commentd-item" + (entry.pending ? " commentd-pending" : "") + (pinned ? " commentd-pinned" : ""), id: "comment-" + c.id },
      h("article", { "class": "commentd-c", tabindex: "-1", "aria-label": author.name },
        h("img", { "class": "commentd-avatar", src: author.avatar, alt: "", width: "40", height: "40", loading: "lazy" }),
        h("div", { "class": "commentd-main" },
          h("header", { "class": "commentd-meta" }, name,
            author.is_owner ? h("span", { "class": "commentd-badge commentd-owner" }, t("authorBadge")) : null,
            flattenedUnder ? h("span", { "class": "commentd-to" }, t("inReplyTo", { name: flattenedUnder.author.name })) : null,
            h("a", { "class": "commentd-date", href: "#comment-" + c.id }, timeEl(c.created_at)),
            entry.pending ? h("span", { "class": "commentd-badge" }, t("pending")) : null,
            pinned ? h("span", { "class": "commentd-badge commentd-pin" }, t("pinned")) : null),
          body, reply)));
    this.addOwnControls(li, c);
    return li;
  };

  /* quietly: the list was redrawn under the reader, who keeps the focus where it is. */
  CommentSection.prototype.openReply = function (comment, li, button, quietly) {
    this.closeReply(false);
    if (this.thanksUnder) {
      this.thanksUnder = null;
      this.say("");
      this.placeStatus();
    }
    this.replyTo = { comment: comment, button: button };
    this.formHeading.textContent = t("replyHeading", { name: comment.author.name });
    this.cancelButton.hidden = false;
    button.setAttribute("aria-expanded", "true");
    li.querySelector(".commentd-c").after(this.form);
    if (quietly) return;
    var inputs = this.inputs;
    (["name", "email", "body"].map(function (k) { return inputs[k]; }).filter(function (i) { return !i.value.trim(); })[0] || inputs.body).focus();
  };

  CommentSection.prototype.closeReply = function (restoreFocus) {
    var replying = this.replyTo;
    this.replyTo = null;
    this.formHeading.textContent = t("formHeading");
    this.cancelButton.hidden = true;
    this.closedNote.before(this.form); /* back home: before the closed note and the data link */
    if (replying) {
      replying.button.setAttribute("aria-expanded", "false");
      if (restoreFocus && replying.button.isConnected) replying.button.focus();
    }
  };

  CommentSection.prototype.showErrors = function (fields) {
    var first = null;
    for (var k in this.inputs) {
      var bad = fields[k];
      this.errors[k].textContent = bad || "";
      if (bad) this.inputs[k].setAttribute("aria-invalid", "true");
      else this.inputs[k].removeAttribute("aria-invalid");
      if (bad && !first) first = this.inputs[k];
    }
    if (first) first.focus();
    return first;
  };

  CommentSection.prototype.say = function (text, bad) {
    this.status.textContent = text;
    this.status.className = "commentd-status" + (bad ? " commentd-bad" : "") + (this.thanksUnder ? " commentd-thanks" : "");
  };

  /* The form's one status line sits at the end of the form, or, once a reply is posted (the
   * form going back home), where the reply form was: under the comment replied to
   * (thanksUnder, its id), where the reader was typing. */
  CommentSection.prototype.placeStatus = function () {
    var under = this.thanksUnder && document.getElementById("comment-" + this.thanksUnder);
    var article = under && this.list.contains(under) && under.querySelector(".commentd-c");
    if (article) article.after(this.status);
    else if (this.status.parentNode !== this.form) this.form.append(this.status);
  };

  CommentSection.prototype.checkLocally = function (v) {
    var bad = {};
    if (!v.name) bad.name = t("nameMissing");
    if (!v.email) bad.email = t("emailMissing");
    else if (!/^[^\s@]+@[^\s@]+$/.test(v.email)) bad.email = t("emailInvalid");
    if (!v.body) bad.body = t("bodyMissing");
    return bad;
  };

  CommentSection.prototype.submit = function () {
    var self = this, v = {};
    ["name", "email", "website", "body"].forEach(function (k) { v[k] = self.inputs[k].value.trim(); });
    var bad = this.checkLocally(v);
    if (this.showErrors(bad)) return this.say(t("invalid"), true);
    this.submitButton.disabled = true;
    this.submitButton.textContent = t("submitting");
    this.say("");
    this.thanksUnder = null;
    this.placeStatus();
    var ready = this.formToken && Date.now() < this.formToken.until ? Promise.resolve() : this.fetchFormToken();
    return ready.then(function () { return self.proofOfWork(true); }).then(function (altcha) {
      var data = new URLSearchParams(v);
      if (altcha) data.set("altcha", altcha);
      data.set("notify", self.notify.checked ? "true" : "false");
      data.set("notify_approved", self.notifyApproved.checked ? "true" : "false");
      data.set("url2", self.honeypot.value);
      if (self.replyTo) data.set("parent_id", self.replyTo.comment.id);
      data.set("title", pageTitle(self.root));
      if (self.formToken) data.set("form_token", self.formToken.value);
      var token = store.get("token");
      if (token) data.set("commenter_token", token);
      /* Form encoding keeps this a "simple" request: no CORS preflight round trip. */
      /* The page's language, not the browser's: the service's field errors join the widget's words. */
      return request(base + "/api/posts/" + slugPath(self.slug) + "/comments",
        { method: "POST", body: data, headers: { "Accept-Language": kit.lang } })
        .then(function (res) { self.answered(res.r, res.body, v); }, function (error) {
          self.say(t("offline"), true);
          console.warn("commentd: posting failed (" + error + "). If the server is up, is " +
            location.origin + " listed in COMMENTD_ALLOWED_ORIGINS?");
        });
    }).finally(function () {
      self.submitButton.disabled = false;
      self.submitButton.textContent = t("submit");
    });
  };

  /* A closed post shows no form; one closed while a reader typed keeps their text in view. */
  CommentSection.prototype.setClosed = function (closed) {
    this.closed = closed;
    if (closed && this.list.contains(this.form)) this.closeReply(false);
    this.form.hidden = closed;
    this.closedNote.hidden = !closed;
  };

  CommentSection.prototype.answered = function (r, body, v) {
    if (r.status === 201) return this.posted(body, v);
    if (r.status === 403 && body.error === "comments_closed") {
      this.submitButton.disabled = true;
      return this.say(t("closed"), true);
    }
    if (r.status === 422 && body.fields) {
      var fields = {}, known = false;
      for (var k in body.fields) {
        if (k in this.inputs) { fields[k] = S["error_" + k] || body.fields[k]; known = true; }
      }
      this.showErrors(fields);
      if (!known && body.fields.parent_id) return this.say(t("parentGone"), true);
      return this.say(known ? t("invalid") : t("failed") + " " + body.message, true);
    }
    if (r.status === 429) {
      var secs = parseInt(r.headers.get("Retry-After"), 10) || 60, unit = secs < 90 ? "second" : secs < 5400 ? "minute" : "hour";
      var n = Math.ceil(secs / { second: 1, minute: 60, hour: 3600 }[unit]);
      var when = new Intl.NumberFormat(kit.lang, { style: "unit", unit: unit, unitDisplay: "long" }).format(n);
      return this.say(t("tooFast", { time: when }), true);
    }
    this.say(t("failed") + (body.message ? " " + body.message : ""), true);
  };

  CommentSection.prototype.posted = function (body, v) {
    if (body.commenter_token) store.set("token", body.commenter_token);
    this.rememberOwn(body, v.body);
    store.set("author", this.remember.checked ? { name: v.name, email: v.email, website: v.website } : null);
    var comment = body.comment, answered = this.replyTo && document.getElementById("comment-" + this.replyTo.comment.id);
    /* Caught as spam: said as it is, with a way out (a filled honeypot is a bot's: not that). */
    var caught = body.status === "spam" && !this.honeypot.value;
    this.closeReply(false);
    if (body.status === "approved") this.approved.push(comment);
    else if (!caught) this.keepOwn(this.ownPending().concat([{ comment: comment, saved_at: Date.now(), token: body.commenter_token }]));
    this.inputs.body.value = "";
    this.notify.checked = false;
    this.notifyApproved.checked = false;
    this.showErrors({});
    this.render();
    this.formToken = null;
    this.fetchFormToken();
    var mine = document.getElementById("comment-" + comment.id);
    if (mine) mine.querySelector(".commentd-c").focus();
    this.thanksUnder = answered ? answered.id.replace("comment-", "") : null;
    this.placeStatus();
    if (caught) return this.offerReview(body);
    this.say(body.status === "approved" ? t("thanksApproved") : t("thanksPending"));
  };

  /* ---- caught as spam: the reader may ask the author to review it (issue 17) ----------- */
  /* The status line says so and holds one button; the next message replaces both. */
  CommentSection.prototype.offerReview = function (body) {
    var self = this;
    this.say(t("spamCaught"));
    var button = h("button", { "class": "commentd-btn commentd-review", type: "button",
      onclick: function () { self.askReview(body, button); } }, t("askReview"));
    this.status.append(" ", button);
  };

  CommentSection.prototype.askReview = function (body, button) {
    var self = this;
    button.disabled = true;
    var data = new URLSearchParams({ commenter_token: body.commenter_token });
    return request(base + "/api/posts/" + slugPath(this.slug) + "/comments/" + body.id + "/review",
      { method: "POST", body: data, headers: { "Accept-Language": kit.lang } })
      .then(function (res) {
        if (res.r.status === 200 || (res.r.status === 409 && res.body.error === "review_already_requested")) {
          /* It waits now, like any comment held for moderation: shown to its writer as such. */
          self.keepOwn(self.ownPending().concat([{ comment: body.comment, saved_at: Date.now(), token: body.commenter_token }]));
          self.render();
          return self.say(t("reviewAsked"));
        }
        self.answered(res.r, res.body);
        if (res.r.status === 429 || res.r.status >= 500) self.status.append(" ", button);
      }, function () {
        self.say(t("offline"), true);
        self.status.append(" ", button);
      }).finally(function () { button.disabled = false; });
  };

  /* ---- the reader's own comments: edit and delete while the window is open ------------ */
  /* Each comment posted from this browser is kept under "own.<slug>" as {id, token, until,
   * body}: the commenter_token that posted it, the end of its edit window (editable_until of
   * the 201) and the Markdown as typed (the public list has only the rendered HTML). */

  /* "Email me when it is approved": one mail, to a confirmed address (API additions). */
  CommentSection.prototype.notifyApprovedCheck = function () {
    this.notifyApproved = h("input", { type: "checkbox", id: "commentd-notify-approved", name: "notify_approved" });
    return h("div", { "class": "commentd-check" }, this.notifyApproved,
      h("label", { "for": "commentd-notify-approved", text: t("notifyApproved") }));
  };

  CommentSection.prototype.ownKey = function () { return "own." + this.slug; };

  CommentSection.prototype.ownEditable = function () {
    var now = Date.now();
    var kept = (store.get(this.ownKey()) || []).filter(function (o) { return o.until && Date.parse(o.until) > now; });
    return kept;
  };

  CommentSection.prototype.rememberOwn = function (body, text) {
    if (!body.editable_until || !body.commenter_token) return;
    store.set(this.ownKey(), this.ownEditable().concat([
      { id: body.id, token: body.commenter_token, until: body.editable_until, body: text }]));
  };

  CommentSection.prototype.forgetOwn = function (id) {
    var kept = this.ownEditable().filter(function (o) { return o.id !== id; });
    store.set(this.ownKey(), kept.length ? kept : null);
  };

  /* Edit and Delete, and the minutes left, under a comment this browser posted. */
  CommentSection.prototype.addOwnControls = function (li, c) {
    var self = this, own = this.ownEditable().filter(function (o) { return o.id === c.id; })[0];
    if (!own) return;
    var left = h("span", { "class": "commentd-countdown", "data-until": own.until });
    var bar = h("div", { "class": "commentd-own" },
      h("button", { "class": "commentd-link", type: "button", onclick: function () { self.editOwn(li, c, own); } }, t("ownEdit")),
      h("button", { "class": "commentd-link", type: "button", onclick: function () { self.confirmDelete(li, c, own); } }, t("ownDelete")),
      left);
    li.querySelector(".commentd-c .commentd-main").append(bar);
    this.tickOwn();
  };

  /* One timer per section: each second, every countdown shows the time left; at zero the
   * controls go (the service would refuse them now). */
  CommentSection.prototype.tickOwn = function () {
    var self = this;
    function tick() {
      var shown = self.root.querySelectorAll(".commentd-countdown"), expired = false;
      shown.forEach(function (el) {
        var s = Math.max(0, Math.round((Date.parse(el.getAttribute("data-until")) - Date.now()) / 1000));
        if (!s) { expired = true; return; }
        var text = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
        el.textContent = t("ownTimeLeft", { time: text });
      });
      if (expired && !self.root.querySelector(".commentd-edit")) self.render();
      if (!self.root.querySelector(".commentd-countdown")) { clearInterval(self.ownTimer); self.ownTimer = null; }
    }
    tick();
    if (!this.ownTimer) this.ownTimer = setInterval(tick, 1000);
  };

  CommentSection.prototype.ownRequest = function (c, own, method, fields) {
    var self = this;
    var ready = this.formToken && Date.now() < this.formToken.until ? Promise.resolve() : this.fetchFormToken();
    /* An edit meets the layers a new comment meets: it carries a solved proof of work too. */
    return ready.then(function () { return method === "PATCH" ? self.proofOfWork(true) : null; }).then(function (altcha) {
      var sent = Object.assign({}, fields || {});
      if (self.formToken) sent.form_token = self.formToken.value;
      if (altcha) {
        sent.altcha = altcha;
        self.formToken = null; /* the solution is spent: the next post or edit fetches a new challenge */
      }
      return request(base + "/api/posts/" + slugPath(self.slug) + "/comments/" + c.id, {
        method: method, body: JSON.stringify(sent),
        headers: { "Content-Type": "application/json", Authorization: "Commenter " + own.token,
          "Accept-Language": kit.lang }
      });
    });
  };

  /* The refusals both actions share; true when the answer was one of them. */
  CommentSection.prototype.ownRefused = function (res, said) {
    var code = res.body.error;
    if (res.r.status === 403 && (code === "edit_window_closed" || code === "not_yours")) {
      said.textContent = t(code === "edit_window_closed" ? "ownWindowClosed" : "ownGone");
      return true;
    }
    if (res.r.status === 429) { said.textContent = t("ownTooFast"); return true; }
    if (res.r.status === 403 && code === "comments_closed") { said.textContent = t("closed"); return true; }
    return false;
  };

  /* Edit in place: the comment's text becomes a form with its Markdown, the same field errors
   * as posting; saved, the comment shows what the service made of it (waiting again if the
   * site's rules hold the edit). */
  CommentSection.prototype.editOwn = function (li, c, own) {
    var self = this, article = li.querySelector(".commentd-c"), body = article.querySelector(".commentd-body");
    if (article.querySelector(".commentd-edit")) return;
    var id = "commentd-edit-" + c.id;
    var area = h("textarea", { id: id, name: "body", rows: 5, maxlength: 5000, required: true,
      "aria-describedby": id + "-error" });
    area.value = own.body != null ? own.body : body.textContent;
    var err = h("p", { "class": "commentd-err", id: id + "-error" });
    var save = h("button", { "class": "commentd-btn", type: "submit" }, t("ownSave"));
    var form = h("form", { "class": "commentd-edit", novalidate: true,
      onsubmit: function (e) { e.preventDefault(); self.saveOwn(c, own, area, err, save, close); },
      onkeydown: function (e) { if (e.key === "Escape") close(); } },
      h("label", { "for": id }, t("ownEditLabel")), area, err,
      h("div", { "class": "commentd-actions" }, save,
        h("button", { "class": "commentd-btn commentd-quiet", type: "button", onclick: function () { close(); } }, t("cancel"))));
    function close() { form.remove(); body.hidden = false; }
    body.hidden = true;
    body.after(form);
    area.focus();
  };

  CommentSection.prototype.saveOwn = function (c, own, area, err, save, close) {
    var self = this, text = area.value.trim();
    area.removeAttribute("aria-invalid");
    if (!text) { err.textContent = t("bodyMissing"); area.setAttribute("aria-invalid", "true"); return area.focus(); }
    save.disabled = true;
    err.textContent = "";
    return this.ownRequest(c, own, "PATCH", { body: text }).then(function (res) {
      if (res.r.status === 200) {
        own.body = text;
        store.set(self.ownKey(), self.ownEditable().map(function (o) { return o.id === own.id ? own : o; }));
        self.edited(res.body, own);
        close();
        return;
      }
      if (res.r.status === 422 && res.body.fields) {
        err.textContent = res.body.fields.body || res.body.message;
        area.setAttribute("aria-invalid", "true");
        return area.focus();
      }
      if (!self.ownRefused(res, err)) err.textContent = t("ownFailed") + (res.body.message ? " " + res.body.message : "");
    }, function () { err.textContent = t("offline"); }).finally(function () { save.disabled = false; });
  };

  /* What an edit made of a comment: published with its new text, or waiting again. */
  CommentSection.prototype.edited = function (answer, own) {
    var comment = { id: answer.id, parent_id: answer.parent_id, author: answer.author,
      body_html: answer.body_html, created_at: answer.created_at };
    this.approved = this.approved.filter(function (x) { return x.id !== answer.id; });
    var others = this.ownPending().filter(function (p) { return p.comment.id !== answer.id; });
    if (answer.status === "approved") this.approved.push(comment);
    else others.push({ comment: comment, saved_at: Date.now(), token: own.token });
    this.keepOwn(others);
    this.render();
    var mine = document.getElementById("comment-" + answer.id);
    if (mine) mine.querySelector(".commentd-c").focus();
    this.say(answer.status === "approved" ? t("ownSaved") : t("ownSavedPending"));
  };

  /* Delete asks once more, in the comment itself; the answer takes it off the page (its
   * replies stay, moved up, as the service keeps them). */
  CommentSection.prototype.confirmDelete = function (li, c, own) {
    var self = this, main = li.querySelector(".commentd-c .commentd-main");
    if (main.querySelector(".commentd-confirm")) return;
    var said = h("p", { "class": "commentd-err", role: "alert" });
    var yes = h("button", { "class": "commentd-btn", type: "button", onclick: function () {
      yes.disabled = true;
      self.ownRequest(c, own, "DELETE").then(function (res) {
        if (res.r.status === 204) return self.deleted(c.id);
        if (!self.ownRefused(res, said)) said.textContent = t("ownFailed");
      }, function () { said.textContent = t("offline"); }).finally(function () { yes.disabled = false; });
    } }, t("ownDeleteYes"));
    var box = h("div", { "class": "commentd-confirm", role: "group", "aria-label": t("ownDeleteAsk") },
      h("p", { text: t("ownDeleteAsk") }),
      h("div", { "class": "commentd-actions" }, yes,
        h("button", { "class": "commentd-btn commentd-quiet", type: "button", onclick: function () { box.remove(); } }, t("ownDeleteNo"))),
      said);
    main.append(box);
    yes.focus();
  };

  CommentSection.prototype.deleted = function (id) {
    this.forgetOwn(id);
    this.approved = this.approved.filter(function (x) { return x.id !== id; });
    this.approved.forEach(function (x) { if (x.parent_id === id) x.parent_id = null; });
    this.keepOwn(this.ownPending().filter(function (p) { return p.comment.id !== id; }));
    this.render();
    this.say(t("ownDeleted"));
  };

  /* ---- "Your comments and your data": a request by email address ------------------------ */

  /* The link alone; its form is made when first opened (a page has one comment form until then). */
  CommentSection.prototype.buildDataLink = function () {
    var self = this, form = null;
    var toggle = h("button", { "class": "commentd-link commentd-data-link", type: "button", "aria-expanded": "false",
      onclick: function () {
        if (!form) { form = self.buildDataForm(); box.append(form); }
        form.hidden = !form.hidden;
        toggle.setAttribute("aria-expanded", String(!form.hidden));
        if (!form.hidden) form.querySelector("[name=email]").focus();
      } }, t("dataLink"));
    var box = h("div", { "class": "commentd-data-box" }, toggle);
    return box;
  };

  CommentSection.prototype.buildDataForm = function () {
    var id = "commentd-data";
    var email = h("input", { id: id + "-email", name: "email", type: "email", autocomplete: "email", required: true,
      maxlength: 254, "aria-describedby": id + "-email-error" });
    var err = h("p", { "class": "commentd-err", id: id + "-email-error" });
    var said = h("p", { "class": "commentd-status", role: "status", "aria-live": "polite" });
    function choice(kind, label, checked) {
      var input = h("input", { type: "radio", name: "kind", value: kind, id: id + "-" + kind, checked: checked });
      return h("div", { "class": "commentd-check" }, input, h("label", { "for": id + "-" + kind, text: t(label) }));
    }
    var send = h("button", { "class": "commentd-btn", type: "submit" }, t("dataSend"));
    var form = h("form", { "class": "commentd-data", hidden: true, novalidate: true, "aria-labelledby": id + "-heading",
      onsubmit: function (e) {
        e.preventDefault();
        var address = email.value.trim(), kind = form.querySelector("[name=kind]:checked").value;
        err.textContent = "";
        email.removeAttribute("aria-invalid");
        if (!/^[^\s@]+@[^\s@]+$/.test(address)) {
          err.textContent = t(address ? "emailInvalid" : "emailMissing");
          email.setAttribute("aria-invalid", "true");
          return email.focus();
        }
        send.disabled = true;
        request(base + "/api/privacy/requests", { method: "POST", body: new URLSearchParams({ email: address, kind: kind }) })
          .then(function (res) {
            if (res.r.status === 202) { said.textContent = t("dataSent"); return; }
            if (res.r.status === 422 && res.body.fields && res.body.fields.email) {
              err.textContent = res.body.fields.email;
              email.setAttribute("aria-invalid", "true");
              return;
            }
            said.textContent = res.r.status === 429 ? t("ownTooFast") : t("ownFailed");
          }, function () { said.textContent = t("offline"); })
          .finally(function () { send.disabled = false; });
      } },
      h("h" + (this.level + 1), { "class": "commentd-h", id: id + "-heading" }, t("dataHeading")),
      h("p", { "class": "commentd-note", text: t("dataNote") }),
      h("div", { "class": "commentd-field" }, h("label", { "for": email.id }, t("email")), email, err),
      choice("export", "dataExport", true), choice("erase", "dataErase", false),
      h("div", { "class": "commentd-actions" }, send), said);
    return form;
  };

  /* ---- the counts helper: <a data-commentd-count="slug"> on index pages ---------------- */

  function countLinks() { return Array.prototype.slice.call(document.querySelectorAll("[data-commentd-count]")); }

  /* skip: the slug whose comments this page lists anyway (its count comes from that list). */
  function fillCounts(skip) {
    var els = countLinks();
    var slugs = els.map(countSlug)
      .filter(function (s, i, all) { return s && s !== skip && all.indexOf(s) === i; });
    for (var i = 0; i < slugs.length; i += 100) {
      var query = slugs.slice(i, i + 100).map(function (s) { return "slug=" + encodeURIComponent(s); }).join("&");
      request(base + "/api/counts?" + query).then(function (res) {
        var counts = res.r.ok ? res.body : {};
        els.forEach(function (el) {
          var n = counts[countSlug(el)];
          if (typeof n === "number") el.textContent = plural("count", n);
        });
      }).catch(function () { /* the page keeps whatever text it had */ });
    }
  }

  kit.start("commentd-style", function () {
    var root = document.getElementById("comments");
    var section = root && new CommentSection(root);
    fillCounts(section && section.slug);
  });
})();
