/* OpenKMS admin dashboard: shared helpers and the three pages. No framework, no CDN.
   Data from clients (machine names, Info strings) is only ever set as textContent. */
"use strict";

const OK = {};

/* Translations. The server puts this script's catalog in the page, in the page's language
   (admin/pages.py); the catalogs are extracted from the _("...") and ngettext(...) calls
   below (scripts/i18n.py). Values go in after translating: _("{n} min ago", { n: 5 }).
   Machine values (API fields, export links) are never translated. */
OK.i18n = (() => {
  const node = document.getElementById("openkms-i18n");
  try {
    return node ? JSON.parse(node.textContent) : null;
  } catch (error) {
    return null;
  }
})() || { language: "en", messages: {}, plurals: {} };
OK.lang = OK.i18n.language || "en";
OK.fill = (text, values) =>
  text.replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
function _(message, values) {
  return OK.fill(OK.i18n.messages[message] || message, values);
}
function ngettext(singular, plural, n, values) {
  const forms = OK.i18n.plurals[singular];
  const many = OK.lang === "fr" ? n > 1 : n !== 1; /* French: 0 and 1 are singular */
  return OK.fill(forms ? forms[many ? 1 : 0] : many ? plural : singular, values);
}
/* Numbers and dates in the page's language; English keeps the forms it always had. */
OK.num = (n) => (OK.lang === "en" || typeof n !== "number" ? String(n) : new Intl.NumberFormat(OK.lang).format(n));
OK.formats = OK.lang === "en" ? null : {
  day: new Intl.DateTimeFormat(OK.lang, { timeZone: "UTC", day: "2-digit", month: "2-digit", year: "numeric" }),
  time: new Intl.DateTimeFormat(OK.lang, { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
};
OK.stamp = (epoch) => {
  const when = new Date(epoch * 1000);
  if (!OK.formats) return when.toISOString().slice(0, 16).replace("T", " ");
  return `${OK.formats.day.format(when)} ${OK.formats.time.format(when)}`;
};

OK.el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined)
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

OK.api = async (path) => {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
};

OK.showError = (error) => {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = error ? String(error.message || error) : "";
  box.style.display = error ? "block" : "none";
};

OK.date = (epoch) => (epoch ? `${OK.stamp(epoch)} UTC` : "—");
OK.day = (epoch) => {
  if (!epoch) return "—";
  const when = new Date(epoch * 1000);
  return OK.formats ? OK.formats.day.format(when) : when.toISOString().slice(0, 10);
};
OK.ago = (epoch, now) => {
  const s = Math.max(0, now - epoch);
  if (s < 120) return _("{n} s ago", { n: OK.num(s) });
  if (s < 7200) return _("{n} min ago", { n: OK.num(Math.round(s / 60)) });
  if (s < 172800) return _("{n} h ago", { n: OK.num(Math.round(s / 3600)) });
  return _("{n} days ago", { n: OK.num(Math.round(s / 86400)) });
};
/* A time and how long ago it was: "2026-11-30 16:40 UTC (5 min ago)". */
OK.when = (epoch, now) => _("{date} ({ago})", { date: OK.date(epoch), ago: OK.ago(epoch, now) });

OK.fillTable = (tbody, rows, empty) => {
  tbody.replaceChildren();
  if (!rows.length) {
    const cols = tbody.closest("table").querySelectorAll("th").length;
    tbody.append(OK.el("tr", {}, OK.el("td", { colspan: cols, class: "muted", text: empty })));
    return;
  }
  for (const cells of rows) {
    tbody.append(OK.el("tr", {}, ...cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : OK.el("td", {}, c)))));
  }
};

/* Form <-> URL query, so that a filtered view can be bookmarked. */
OK.formToQuery = (form) => {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (String(value).trim()) query.set(key, String(value).trim());
  return query;
};
OK.queryToForm = (form) => {
  const query = new URLSearchParams(location.search);
  for (const field of form.elements) {
    if (!field.name || !query.has(field.name)) continue;
    if (field.type === "checkbox") field.checked = query.get(field.name) === "true";
    else field.value = query.get(field.name);
  }
};

/* A bar chart of succeeded and failed requests per bucket, drawn as SVG. */
OK.chart = (container, series) => {
  const NS = "http://www.w3.org/2000/svg";
  const width = 1000, height = 220, left = 40, bottom = 24, top = 10;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", _("Activation requests over time"));
  const count = Math.max(1, Math.round((series.until - series.since) / series.bucket));
  const byStart = new Map(series.buckets.map((b) => [b.start, b]));
  const max = Math.max(1, ...series.buckets.map((b) => b.succeeded + b.failed));
  const slot = (width - left) / count;
  const scale = (height - bottom - top) / max;
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  for (const frac of [0, 0.5, 1]) {
    const y = height - bottom - frac * max * scale;
    add("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#dde1e7" });
    add("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#5f6b7a" }, OK.num(Math.round(frac * max)));
  }
  for (let i = 0; i < count; i++) {
    const start = series.since + i * series.bucket;
    const b = byStart.get(start) || { succeeded: 0, failed: 0 };
    const x = left + i * slot + slot * 0.1, w = Math.max(1, slot * 0.8);
    const hOk = b.succeeded * scale, hBad = b.failed * scale;
    const base = height - bottom;
    const title = _("{time}: {succeeded} succeeded, {failed} failed", { time: OK.date(start), succeeded: OK.num(b.succeeded), failed: OK.num(b.failed) });
    if (hOk) add("rect", { x, y: base - hOk, width: w, height: hOk, fill: "#1f8a4c" }).append(Object.assign(document.createElementNS(NS, "title"), { textContent: title }));
    if (hBad) add("rect", { x, y: base - hOk - hBad, width: w, height: hBad, fill: "#c0392b" }).append(Object.assign(document.createElementNS(NS, "title"), { textContent: title }));
    const every = Math.ceil(count / 8);
    if (i % every === 0) add("text", { x: left + i * slot, y: height - 6, "font-size": 11, fill: "#5f6b7a" }, series.bucket >= 86400 ? OK.day(start) : OK.date(start));
  }
  container.replaceChildren(svg);
};

/* -- Overview ------------------------------------------------------------------------ */

OK.overview = async () => {
  const range = document.getElementById("range");
  const load = async () => {
    try {
      const [o, status] = await Promise.all([OK.api("/api/overview"), OK.api("/api/status")]);
      OK.showError(null);
      document.getElementById("host").textContent = _("{name} · port {port}", { name: status.name, port: status.port });
      document.getElementById("count").textContent = OK.num(o.current_count);
      document.getElementById("count-note").textContent = ngettext(
        "{seen} client seen in the last {days} days, {known} known",
        "{seen} clients seen in the last {days} days, {known} known",
        o.clients_in_window, { seen: OK.num(o.clients_in_window), days: OK.num(o.window_days), known: OK.num(o.clients_total) });
      const list = document.getElementById("thresholds");
      list.replaceChildren();
      for (const t of o.thresholds) {
        const pct = Math.min(100, Math.round((100 * o.current_count) / t.n_policy));
        const bar = OK.el("div", { class: "bar" + (t.reached ? " reached" : "") }, OK.el("span", { style: `width:${pct}%` }));
        const state = t.reached
          ? OK.el("span", { class: "badge ok", text: _("reached") })
          : OK.el("span", { class: "badge warn", text: ngettext("{n} more needed", "{n} more needed", t.missing, { n: OK.num(t.missing) }) });
        const forecast = t.falls_below_at
          ? _("falls below {n} on {date} if no new machine appears", { n: OK.num(t.n_policy), date: OK.day(t.falls_below_at) })
          : t.reached ? "" : _("below this threshold now");
        list.append(OK.el("div", { class: "threshold", "data-n": t.n_policy },
          OK.el("div", {}, OK.el("strong", { text: `N = ${t.n_policy}` }), " ", state),
          bar, OK.el("div", { class: "muted forecast", text: forecast })));
      }
      const c = o.certificate;
      document.getElementById("cert").replaceChildren(
        OK.el("dt", { text: _("Activated") }), OK.el("dd", { class: c.activated ? "ok" : "bad", text: c.activated ? _("yes") : _("no — {problem}", { problem: c.problem }) }),
        OK.el("dt", { text: _("License group") }), OK.el("dd", { text: c.group || "—" }),
        OK.el("dt", { text: _("Expires") }), OK.el("dd", {
          class: c.days_left !== null && c.days_left < 30 ? "warn" : "",
          text: c.expires_at ? ngettext("{date} ({days} day)", "{date} ({days} days)", c.days_left, { date: OK.day(c.expires_at), days: OK.num(c.days_left) }) : "—",
        }));
      const d = o.dns;
      const badge = { ok: "ok", failing: "bad", disabled: "", never: "warn" }[d.state];
      document.getElementById("dns").replaceChildren(
        OK.el("dt", { text: _("State") }), OK.el("dd", {}, OK.el("span", { class: `badge ${badge}`, id: "dns-state", "data-state": d.state, text: OK.dnsStates[d.state] || d.state })),
        OK.el("dt", { text: _("Own domain") }), OK.el("dd", { id: "dns-own", text: d.own_domain || _("from the host name") }),
        OK.el("dt", { text: _("Publish list") }), OK.el("dd", { id: "dns-list", text: d.publish_list.length ? d.publish_list.join(", ") : "—" }),
        OK.el("dt", { text: _("Last success") }), OK.el("dd", { text: d.last_success ? `${OK.date(d.last_success)} ${d.last_success_domain || ""}` : "—" }),
        OK.el("dt", { text: _("Last failure") }), OK.el("dd", { text: d.last_failure ? `${OK.date(d.last_failure)} ${d.last_failure_hresult || ""} ${d.last_failure_domain || ""}` : "—" }));
      document.getElementById("requests").replaceChildren(
        OK.el("dt", { text: _("Total") }), OK.el("dd", { text: OK.num(o.total_requests) }),
        OK.el("dt", { text: _("Failed") }), OK.el("dd", { class: o.failed_requests ? "warn" : "", text: OK.num(o.failed_requests) }),
        OK.el("dt", { text: _("Activation interval") }), OK.el("dd", { text: _("{minutes} min", { minutes: OK.num(status.activation_interval) }) }),
        OK.el("dt", { text: _("Renewal interval") }), OK.el("dd", { text: _("{minutes} min", { minutes: OK.num(status.renewal_interval) }) }));
      await OK.peers();
      const [days, bucket] = range.value.split(":");
      OK.chart(document.getElementById("chart"), await OK.api(`/api/activity?days=${days}&bucket=${bucket}`));
    } catch (error) {
      OK.showError(error);
    }
  };
  range.addEventListener("change", load);
  await load();
  setInterval(load, 10000);
};

/* The DNS publishing states (the API's values) in words. */
OK.dnsStates = { ok: _("ok"), failing: _("failing"), disabled: _("disabled"), never: _("never") };

/* The hosts of a shared PostgreSQL store (one count); the card stays hidden otherwise. */
OK.peers = async () => {
  const p = await OK.api("/api/hosts");
  const panel = document.getElementById("peers-panel");
  panel.hidden = !p.hosts.length;
  if (!p.hosts.length) return;
  const now = Math.floor(Date.now() / 1000);
  document.getElementById("peers-note").textContent =
    _("{count} host(s) answer from one database: one count, not a split count.", { count: OK.num(p.hosts.length) });
  OK.fillTable(document.querySelector("#peers tbody"), p.hosts.map((h) => [
    OK.el("td", { class: "mono", text: h.host_id },
      h.this_host ? " " : null, h.this_host ? OK.el("span", { class: "badge ok", text: _("this host") }) : null),
    h.listening.length ? h.listening.join(", ") : "—",
    OK.when(h.last_request, now), OK.date(h.first_request),
  ]), _("No host has answered yet."));
};

/* -- Clients ------------------------------------------------------------------------- */

/* The state the host derived (core/derived_state.py) -> badge colour. */
OK.stateBadge = { licensed: "ok", renewal_overdue: "warn", not_renewed: "warn", grace: "warn", expired: "bad", notification: "bad" };
/* The words for the derived states (the API's ``state``) and for the reported license status
   (``license_status``, numbered as Windows numbers them): the API's labels stay English. */
OK.stateLabels = {
  licensed: _("Licensed"),
  renewal_overdue: _("Licensed, renewal overdue"),
  not_renewed: _("Licensed, not renewed (count below N)"),
  grace: _("Grace, not activated"),
  expired: _("Expired"),
  notification: _("Notification"),
};
OK.reportedLabels = [
  _("Unlicensed"),
  _("Licensed"),
  _("Initial grace period"),
  _("Additional grace period (KMS license expired or hardware out of tolerance)"),
  _("Non-genuine grace period"),
  _("Notification"),
  _("Extended grace period"),
];

OK.clients = async () => {
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#clients tbody");
  const limit = 50;
  let cursors = [null]; // the after cursor of each page up to this one (keyset paging)
  try {
    const catalog = await OK.api("/api/products");
    const select = form.elements.product;
    for (const p of catalog.products) select.append(OK.el("option", { value: p.activation_id, text: `${p.product}, ${p.edition}` }));
  } catch (error) {
    OK.showError(error);
  }
  OK.queryToForm(form);
  const seenToQuery = (query) => {
    const seen = query.get("seen");
    query.delete("seen");
    const now = Math.floor(Date.now() / 1000);
    if (seen === "older") query.set("seen_before", String(now - 30 * 86400));
    else if (seen) query.set("seen_since", String(now - Number(seen) * 86400));
    return query;
  };
  const load = async () => {
    const query = OK.formToQuery(form);
    history.replaceState(null, "", `?${query}`);
    const offset = (cursors.length - 1) * limit;
    const apiQuery = seenToQuery(new URLSearchParams(query));
    apiQuery.set("limit", limit);
    if (cursors[cursors.length - 1]) apiQuery.set("after", cursors[cursors.length - 1]);
    try {
      const page = await OK.api(`/api/clients?${apiQuery}`);
      OK.showError(null);
      const now = page.now || Math.floor(Date.now() / 1000);
      OK.fillTable(tbody, page.clients.map((c) => [
        c.machine_name, OK.el("td", { class: "mono", text: c.cmid }), c.product,
        OK.el("td", { class: "state" }, OK.el("span", {
          class: `badge ${OK.stateBadge[c.state] || "warn"}`, "data-state": c.state, text: OK.stateLabels[c.state] || c.state_label,
          title: c.state_until ? _("until {date}", { date: OK.date(c.state_until) }) : "",
        })),
        OK.el("td", { class: "reported", text: OK.reportedLabels[c.license_status] || c.license_status_label }),
        OK.when(c.last_seen, now), OK.date(c.first_seen), OK.num(c.requests),
      ]), _("No client matches."));
      const end = Math.min(page.total, offset + page.clients.length);
      document.getElementById("range-text").textContent = page.total
        ? _("{first}–{last} of {total}", { first: OK.num(offset + 1), last: OK.num(end), total: OK.num(page.total) })
        : _("0 clients");
      document.getElementById("prev").disabled = offset === 0;
      document.getElementById("next").disabled = !page.next || end >= page.total;
      cursors.next = page.next;
      apiQuery.delete("limit"); apiQuery.delete("after");
      for (const fmt of ["csv", "json"]) document.getElementById(`export-${fmt}`).href = `/api/clients/export?${apiQuery}&format=${fmt}`;
    } catch (error) {
      OK.showError(error);
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); cursors = [null]; load(); });
  form.addEventListener("change", () => { cursors = [null]; load(); });
  document.getElementById("prev").addEventListener("click", () => { if (cursors.length > 1) cursors.pop(); load(); });
  document.getElementById("next").addEventListener("click", () => { if (cursors.next) cursors.push(cursors.next); load(); });
  await load();
};

/* -- Events -------------------------------------------------------------------------- */

/* An event's level (the API's value, as Windows names it) in words. */
OK.levels = { Information: _("Information"), Warning: _("Warning"), Error: _("Error") };

OK.events = async () => {
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#events tbody");
  const cursors = [null];
  let next = null;
  OK.queryToForm(form);
  const toEpoch = (value, endOfDay) => (value ? String(Math.floor(Date.parse(`${value}T00:00:00Z`) / 1000) + (endOfDay ? 86399 : 0)) : "");
  const load = async () => {
    const query = OK.formToQuery(form);
    history.replaceState(null, "", `?${query}`);
    const apiQuery = new URLSearchParams(query);
    for (const [name, end] of [["since", false], ["until", true]]) if (apiQuery.get(name)) apiQuery.set(name, toEpoch(apiQuery.get(name), end));
    if (apiQuery.get("failed") !== "true") apiQuery.delete("failed");
    apiQuery.set("limit", 50);
    const cursor = cursors[cursors.length - 1];
    if (cursor) apiQuery.set("before", cursor);
    try {
      const page = await OK.api(`/api/events?${apiQuery}`);
      OK.showError(null);
      next = page.next;
      OK.fillTable(tbody, page.events.map((e) => [
        OK.date(e.time), e.event_id,
        OK.el("span", { class: `badge ${e.level === "Information" ? "ok" : e.level === "Error" ? "bad" : "warn"}`, text: OK.levels[e.level] || e.level }),
        OK.el("td", { class: "mono", text: e.fields.hresult || "" }), e.fields.machine_name || e.fields.domain || "",
        OK.el("td", { class: "mono", text: e.fields.cmid || "" }), OK.el("td", { class: "info", text: e.info }),
      ]), _("No event matches."));
      document.getElementById("range-text").textContent = _("page {n}", { n: OK.num(cursors.length) });
      document.getElementById("newer").disabled = cursors.length === 1;
      document.getElementById("older").disabled = !next;
      apiQuery.delete("limit"); apiQuery.delete("before");
      for (const fmt of ["csv", "json"]) document.getElementById(`export-${fmt}`).href = `/api/events/export?${apiQuery}&format=${fmt}`;
    } catch (error) {
      OK.showError(error);
    }
  };
  const restart = () => { cursors.length = 1; load(); };
  form.addEventListener("submit", (e) => { e.preventDefault(); restart(); });
  form.addEventListener("change", restart);
  document.getElementById("older").addEventListener("click", () => { if (next) { cursors.push(next); load(); } });
  document.getElementById("newer").addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });
  await load();
};

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  for (const link of document.querySelectorAll("header nav a")) if (link.dataset.page === page) link.classList.add("active");
  /* The language switcher comes back to this page as it is now (filters in the URL). */
  for (const link of document.querySelectorAll("header .lang a[data-lang]")) {
    link.addEventListener("click", () => {
      link.href = `/lang?set=${link.dataset.lang}&next=${encodeURIComponent(location.pathname + location.search)}`;
    });
  }
  OK[page]();
});
