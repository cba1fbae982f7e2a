/* Chatlens dashboard: draws any report of the analytics API (/v1/analytics/<report>)
 * from its JSON: headline `metrics` as cards, `tables` by their chart hint (line, bar,
 * funnel, heatmap, table), each with a sortable data table and CSV/Parquet downloads.
 *
 * The view (page, date range, filters, breakdown, site) lives in the URL's hash, so a
 * view can be shared and reloaded: #/engagement?range=7d&device=mobile&breakdown=source
 *
 * Safety: everything the API returns may contain text from visitors (URLs, search
 * queries, product names). It only ever reaches the page as text: textContent, text
 * nodes and attribute values set with setAttribute. There is no innerHTML here at all,
 * and the page's Content-Security-Policy allows no inline script besides.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------
  // Pages and reports

  const PAGES = [
    { id: "overview", title: "Overview" },
    { id: "engagement", title: "Engagement", report: "engagement" },
    { id: "chat", title: "Chat", report: "chat" },
    { id: "results", title: "Results", report: "results" },
    { id: "behaviour", title: "Behaviour", report: "behaviour" },
    { id: "intents", title: "Intents", report: "intents" },
    { id: "live", title: "Live", report: "live", live: true },
  ];
  const PAGE_BY_ID = new Map(PAGES.map((p) => [p.id, p]));
  const OVERVIEW_REPORTS = ["engagement", "chat", "results", "behaviour", "intents"];
  const OVERVIEW_METRICS = 4;
  const LIVE_REFRESH_MS = 10000;
  const PRESETS = { today: 1, "7d": 7, "30d": 30, "90d": 90 };
  const DEFAULT_PRESET = "30d";
  const FILTER_KEYS = ["device", "source", "language", "page_type", "url"];
  const FILTER_LABELS = { device: "Device", source: "Source", language: "Language", page_type: "Page type", url: "URL" };
  const BREAKDOWN_LABELS = { device: "Device", source: "Source", language: "Language", page_type: "Landing page type" };
  const NUMERIC = new Set(["int", "number", "percent", "ms", "seconds"]);
  const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#0284c7", "#7c3aed", "#65a30d", "#dc2626"];
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  // Numbers that order or name things (a priority, a rank) are not quantities to chart.
  const RANK = /(^|_)(priority|rank|position|order|index|id)$/i;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DAY_MS = 86400000;

  // ---------------------------------------------------------------------------------
  // DOM helpers: text only, never markup

  function setAttrs(node, attrs) {
    if (!attrs) return node;
    for (const key of Object.keys(attrs)) {
      const value = attrs[key];
      if (value === null || value === undefined || value === false) continue;
      if (/^on/i.test(key)) throw new Error("event attributes are not allowed: " + key);
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (typeof child === "string" || typeof child === "number") node.appendChild(document.createTextNode(String(child)));
      else node.appendChild(child);
    }
    return node;
  }

  function el(tag, attrs, ...children) {
    return append(setAttrs(document.createElement(tag), attrs), children);
  }

  function svg(tag, attrs, ...children) {
    return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
  }

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------
  // Formatting

  const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const nf2 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const dateFmt = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric", year: "numeric" });
  const shortDateFmt = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric" });
  const dateTimeFmt = new Intl.DateTimeFormat("en-US", {
    timeZone: "UTC", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const timeFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function formatNumber(v) {
    const a = Math.abs(v);
    return (a >= 1000 ? nf0 : a >= 100 ? nf1 : nf2).format(v);
  }

  function formatSeconds(s) {
    if (s < 60) return (s < 10 ? nf1 : nf0).format(s) + " s";
    if (s < 3600) {
      const m = Math.floor(s / 60);
      const rest = Math.round(s - m * 60);
      return rest ? `${m} min ${rest} s` : `${m} min`;
    }
    const h = Math.floor(s / 3600);
    const m = Math.round((s - h * 3600) / 60);
    return m ? `${nf0.format(h)} h ${m} min` : `${nf0.format(h)} h`;
  }

  function parseTime(v) {
    if (isNumber(v)) return new Date(v);
    const text = String(v);
    return new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? text + "T00:00:00Z" : text);
  }

  function format(v, type) {
    if (v === null || v === undefined || v === "") return "—";
    switch (type) {
      case "int":
        return isNumber(v) ? nf0.format(v) : String(v);
      case "number":
        return isNumber(v) ? formatNumber(v) : String(v);
      case "percent":
        return isNumber(v) ? nf1.format(v) + "%" : String(v);
      case "ms":
        if (!isNumber(v)) return String(v);
        return Math.abs(v) < 1000 ? nf0.format(v) + " ms" : formatSeconds(v / 1000);
      case "seconds":
        return isNumber(v) ? formatSeconds(v) : String(v);
      case "date": {
        const d = parseTime(v);
        return isNaN(d) ? String(v) : dateFmt.format(d);
      }
      case "datetime": {
        const d = parseTime(v);
        return isNaN(d) ? String(v) : dateTimeFmt.format(d);
      }
      case "hour":
        return isNumber(v) ? String(v).padStart(2, "0") + ":00" : String(v);
      case "weekday":
        return isNumber(v) && v >= 1 && v <= 7 ? WEEKDAYS[v - 1] : String(v);
      case "bool":
        return v === true ? "Yes" : v === false ? "No" : String(v);
      default:
        return typeof v === "object" ? JSON.stringify(v) : String(v);
    }
  }

  /** Axis labels: short (1.2k, 45%, 1.5 s). */
  function formatTick(v, type) {
    if (type === "percent") return nf1.format(v) + "%";
    if (type === "ms" || type === "seconds") {
      const s = type === "ms" ? v / 1000 : v;
      if (type === "ms" && v < 1000) return nf0.format(v) + " ms";
      if (s < 60) return nf1.format(s) + " s";
      if (s < 3600) return nf1.format(s / 60) + " min";
      return nf1.format(s / 3600) + " h";
    }
    const a = Math.abs(v);
    if (a >= 1e6) return nf1.format(v / 1e6) + "M";
    if (a >= 1e4) return nf1.format(v / 1e3) + "k";
    return formatNumber(v);
  }

  function timeTick(v, type, spanDays) {
    const d = parseTime(v);
    if (isNaN(d)) return String(v);
    if (type === "datetime" && spanDays <= 2) {
      const h = d.getUTCHours();
      const m = d.getUTCMinutes();
      if (h === 0 && m === 0 && spanDays >= 0.5) return shortDateFmt.format(d);
      return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0");
    }
    return shortDateFmt.format(d);
  }

  /** A width for SVG text, for truncating labels (system UI fonts average ~0.56em). */
  function fitText(text, px, fontSize) {
    const max = Math.max(3, Math.floor(px / (fontSize * 0.56)));
    return text.length <= max ? text : text.slice(0, max - 1) + "…";
  }

  // ---------------------------------------------------------------------------------
  // The view, kept in the hash: #/<page>?<params>

  function isoDate(d) {
    return d.toISOString().slice(0, 10);
  }

  function todayUtc() {
    const now = new Date();
    return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  }

  function readView() {
    const hash = location.hash.replace(/^#/, "");
    const [path, query] = hash.split("?", 2);
    const id = path.replace(/^\//, "");
    const page = PAGE_BY_ID.has(id) ? id : "overview";
    return { page, params: new URLSearchParams(query || "") };
  }

  function viewHash(page, params) {
    const q = params.toString();
    return "#/" + page + (q ? "?" + q : "");
  }

  function navigate(page, params) {
    const hash = viewHash(page, params);
    if (location.hash !== hash) location.hash = hash;
    else render();
  }

  /** The range of the view as dates (inclusive) and the preset it came from. */
  function rangeOf(params) {
    const dateRe = /^\d{4}-\d{2}-\d{2}$/;
    const from = params.get("from");
    const to = params.get("to");
    if (from && to && dateRe.test(from) && dateRe.test(to)) {
      const a = new Date(from + "T00:00:00Z");
      const b = new Date(to + "T00:00:00Z");
      if (!isNaN(a) && !isNaN(b)) return a <= b ? { from: a, to: b, preset: null } : { from: b, to: a, preset: null };
    }
    const preset = PRESETS[params.get("range")] ? params.get("range") : DEFAULT_PRESET;
    const to2 = todayUtc();
    return { from: new Date(to2.getTime() - (PRESETS[preset] - 1) * DAY_MS), to: to2, preset };
  }

  /** Query parameters of the API for the view: range, filters, breakdown, site. */
  function apiParams(params, options) {
    const opts = options || {};
    const out = new URLSearchParams();
    if (!opts.noRange) {
      const r = rangeOf(params);
      out.set("from", isoDate(r.from));
      const end = new Date(r.to.getTime() + DAY_MS);
      // The range ends with the day; a range that includes today ends now, so that the
      // trend does not run into hours that have not happened yet.
      const now = Date.now();
      if (end.getTime() > now) {
        const minute = Math.ceil(now / 60000) * 60000;
        out.set("to", new Date(Math.min(minute, end.getTime())).toISOString().replace(".000Z", "Z"));
      } else {
        out.set("to", isoDate(end));
      }
    }
    for (const key of FILTER_KEYS) {
      const v = params.get(key);
      if (v) out.set(key, v);
    }
    for (const [key, value] of params) {
      if (key.startsWith("trait.")) out.set(key, value);
    }
    if (!opts.noBreakdown && params.get("breakdown")) out.set("breakdown", params.get("breakdown"));
    if (params.get("site")) out.set("site", params.get("site"));
    return out;
  }

  function filtersOf(params) {
    const out = [];
    for (const key of FILTER_KEYS) {
      const v = params.get(key);
      if (v) out.push({ key, label: FILTER_LABELS[key], value: v });
    }
    for (const [key, value] of params) {
      if (key.startsWith("trait.")) out.push({ key, label: "Trait " + key.slice(6), value });
    }
    return out;
  }

  function rangeLabel(params) {
    const r = rangeOf(params);
    const names = { today: "Today", "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days" };
    const span = r.from.getTime() === r.to.getTime() ? dateFmt.format(r.from) : `${dateFmt.format(r.from)} – ${dateFmt.format(r.to)}`;
    return (r.preset ? names[r.preset] + " · " : "") + span + " (UTC)";
  }

  // ---------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  class LoggedOut extends Error {}

  async function api(path, params) {
    const url = path + (params && params.toString() ? "?" + params.toString() : "");
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      throw new ApiError(0, "network", "The server did not answer (" + (err && err.message ? err.message : "network error") + ").");
    }
    if (response.status === 401) {
      location.assign("/login");
      throw new LoggedOut("logged out");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.message ? body.message : `The server answered ${response.status}.`;
      throw new ApiError(response.status, body && body.error ? body.error : "http_" + response.status, message);
    }
    return body;
  }

  function exportUrl(report, key, fmt, params) {
    const p = apiParams(params);
    p.set("format", fmt);
    p.set("table", key);
    return `/v1/analytics/${encodeURIComponent(report)}?${p}`;
  }

  // ---------------------------------------------------------------------------------
  // State of the app

  const app = {
    index: null, // {site, reports, sites?}
    indexSite: undefined,
    registered: new Set(),
    token: 0, // every render takes a new token; late answers of older renders are dropped
    liveTimer: null,
    redraws: [], // functions that redraw the charts at the current width
  };

  async function loadIndex(params) {
    const site = params.get("site") || "";
    if (app.index && app.indexSite === site) return app.index;
    const p = new URLSearchParams();
    if (site) p.set("site", site);
    const index = await api("/v1/analytics", p);
    app.index = index;
    app.indexSite = site;
    app.registered = new Set(index.reports || []);
    renderSite(index, params);
    renderNav(readView());
    return index;
  }

  // ---------------------------------------------------------------------------------
  // Chrome: nav, site, controls

  function renderNav(view) {
    const nav = $("nav");
    const keep = new URLSearchParams(view.params);
    nav.replaceChildren(
      ...PAGES.map((page) => {
        const missing = page.report && app.index && !app.registered.has(page.report);
        const a = el(
          "a",
          {
            href: viewHash(page.id, keep),
            class: "tab" + (missing ? " tab-missing" : ""),
            "aria-current": page.id === view.page ? "page" : null,
            title: missing ? "This report is not available on this server yet" : null,
          },
          page.title,
        );
        if (page.live) a.prepend(el("span", { class: "pulse small", "aria-hidden": "true" }));
        return el("li", null, a);
      }),
    );
  }

  function renderSite(index, params) {
    const slot = $("site-slot");
    const sites = Array.isArray(index.sites) ? index.sites : null;
    if (sites && sites.length > 1) {
      const select = el("select", { id: "site-select", "aria-label": "Site" });
      for (const s of sites) {
        const id = typeof s === "string" ? s : s.site_id || s.id;
        const name = typeof s === "string" ? s : s.name || id;
        select.appendChild(el("option", { value: id, selected: id === index.site }, name === id ? id : `${name} (${id})`));
      }
      select.addEventListener("change", () => {
        const view = readView();
        view.params.set("site", select.value);
        navigate(view.page, view.params);
      });
      slot.replaceChildren(el("span", { class: "site-label" }, "Site"), select);
    } else {
      slot.replaceChildren(el("span", { class: "site-label" }, "Site"), el("span", { class: "site-name" }, index.site || "—"));
    }
  }

  function syncControls(view) {
    const params = view.params;
    const r = rangeOf(params);
    const live = PAGE_BY_ID.get(view.page).live;
    $("range-controls").hidden = !!live;
    $("live-note").hidden = !live;
    for (const button of $("presets").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.preset === r.preset));
    }
    $("date-from").value = isoDate(r.from);
    $("date-to").value = isoDate(r.to);
    $("date-to").max = isoDate(todayUtc());
    $("date-from").max = isoDate(todayUtc());

    const breakdown = params.get("breakdown") || "";
    const select = $("breakdown");
    const traitInput = $("breakdown-trait");
    if (breakdown.startsWith("trait.")) {
      select.value = "trait";
      traitInput.hidden = false;
      if (document.activeElement !== traitInput) traitInput.value = breakdown.slice(6);
    } else {
      select.value = BREAKDOWN_LABELS[breakdown] ? breakdown : "";
      traitInput.hidden = select.value !== "trait";
    }

    // The filter form shows the view's filters.
    const form = $("filters-panel");
    for (const key of FILTER_KEYS) form.elements[key].value = params.get(key) || "";
    const traits = [...params].filter(([k]) => k.startsWith("trait."));
    form.elements.trait_name.value = traits.length ? traits[traits.length - 1][0].slice(6) : "";
    form.elements.trait_value.value = traits.length ? traits[traits.length - 1][1] : "";

    const filters = filtersOf(params);
    const count = $("filters-count");
    count.hidden = filters.length === 0;
    count.textContent = String(filters.length);
    const chips = $("chips");
    chips.replaceChildren(
      ...filters.map((f) => {
        const remove = el("button", { type: "button", class: "chip-remove", "aria-label": `Remove filter ${f.label}: ${f.value}` }, "×");
        remove.addEventListener("click", () => {
          const v = readView();
          v.params.delete(f.key);
          navigate(v.page, v.params);
        });
        return el("span", { class: "chip" }, el("span", { class: "chip-key" }, f.label), el("span", { class: "chip-value" }, f.value), remove);
      }),
    );
    if (filters.length > 1) {
      const clear = el("button", { type: "button", class: "link-button" }, "Clear all");
      clear.addEventListener("click", clearFilters);
      chips.appendChild(clear);
    }
    chips.hidden = filters.length === 0;
  }

  function clearFilters() {
    const v = readView();
    for (const key of FILTER_KEYS) v.params.delete(key);
    for (const key of [...v.params.keys()]) if (key.startsWith("trait.")) v.params.delete(key);
    navigate(v.page, v.params);
  }

  function bindControls() {
    for (const button of $("presets").querySelectorAll("button")) {
      button.addEventListener("click", () => {
        const v = readView();
        v.params.delete("from");
        v.params.delete("to");
        if (button.dataset.preset === DEFAULT_PRESET) v.params.delete("range");
        else v.params.set("range", button.dataset.preset);
        navigate(v.page, v.params);
      });
    }
    // Typing a date fires "change" at every complete date (year 2, 20, 202, 2026): wait
    // for a pause, and only take dates the API takes.
    let dateTimer = null;
    const plausible = (d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && d >= "2000-01-01" && d <= "2099-12-31";
    const onDate = () => {
      clearTimeout(dateTimer);
      dateTimer = setTimeout(applyDates, 500);
    };
    const applyDates = () => {
      const from = $("date-from").value;
      const to = $("date-to").value;
      if (!plausible(from) || !plausible(to)) return;
      const v = readView();
      v.params.delete("range");
      v.params.set("from", from <= to ? from : to);
      v.params.set("to", from <= to ? to : from);
      navigate(v.page, v.params);
    };
    $("date-from").addEventListener("change", onDate);
    $("date-to").addEventListener("change", onDate);

    $("breakdown").addEventListener("change", () => {
      const select = $("breakdown");
      const v = readView();
      if (select.value === "trait") {
        $("breakdown-trait").hidden = false;
        $("breakdown-trait").focus();
        return;
      }
      if (select.value) v.params.set("breakdown", select.value);
      else v.params.delete("breakdown");
      navigate(v.page, v.params);
    });
    $("breakdown-trait").addEventListener("change", () => {
      const input = $("breakdown-trait");
      const name = input.value.trim();
      const v = readView();
      if (name && /^[A-Za-z0-9_.-]{1,64}$/.test(name)) v.params.set("breakdown", "trait." + name);
      else if (!name) v.params.delete("breakdown");
      else return;
      navigate(v.page, v.params);
    });

    const toggle = $("filters-toggle");
    const panel = $("filters-panel");
    toggle.addEventListener("click", () => {
      const open = panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) panel.querySelector("select, input").focus();
    });
    panel.addEventListener("submit", (event) => {
      event.preventDefault();
      const v = readView();
      for (const key of FILTER_KEYS) {
        const value = panel.elements[key].value.trim();
        if (value) v.params.set(key, value);
        else v.params.delete(key);
      }
      const name = panel.elements.trait_name.value.trim();
      const value = panel.elements.trait_value.value.trim();
      if (name && /^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
        if (value) v.params.set("trait." + name, value);
        else v.params.delete("trait." + name);
      }
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      navigate(v.page, v.params);
    });
    $("filters-clear").addEventListener("click", () => {
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      clearFilters();
    });
    $("skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      $("main").focus();
    });

    let resizeTimer = null;
    let lastWidth = window.innerWidth;
    window.addEventListener("resize", () => {
      if (window.innerWidth === lastWidth) return;
      lastWidth = window.innerWidth;
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => app.redraws.forEach((redraw) => redraw()), 120);
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && app.liveDue) {
        app.liveDue = false;
        app.liveTick && app.liveTick();
      }
    });
    window.addEventListener("hashchange", render);
  }

  // ---------------------------------------------------------------------------------
  // States

  function loadingState(count) {
    return el(
      "div",
      { class: "loading", "aria-busy": "true", "aria-label": "Loading" },
      el("div", { class: "cards" }, ...Array.from({ length: count || 4 }, () => el("div", { class: "card skeleton" }))),
      el("div", { class: "panel skeleton tall" }),
    );
  }

  function emptyState(text, detail) {
    return el("div", { class: "state empty" }, el("p", { class: "state-title" }, text), detail ? el("p", { class: "state-detail" }, detail) : null);
  }

  function errorState(err) {
    const title = err.code === "bad_parameter" ? "These parameters cannot be used" : err.status === 403 ? "Not allowed" : "The report could not be loaded";
    return el(
      "div",
      { class: "state error", role: "alert" },
      el("p", { class: "state-title" }, title),
      el("p", { class: "state-detail" }, err.message || String(err)),
      err.code && err.code !== "network" ? el("p", { class: "state-code" }, "Error: " + err.code) : null,
    );
  }

  function notAvailable(page) {
    return emptyState(`The ${page.title.toLowerCase()} report is not available on this server yet.`, "It appears here as soon as the server has it.");
  }

  // ---------------------------------------------------------------------------------
  // Rendering a page

  function stopLive() {
    if (app.liveTimer) clearTimeout(app.liveTimer);
    app.liveTimer = null;
    app.liveTick = null;
    app.liveDue = false;
  }

  async function render() {
    const token = ++app.token;
    stopLive();
    const view = readView();
    const page = PAGE_BY_ID.get(view.page);
    app.live = !!page.live;
    document.title = `${page.title} · Chatlens`;
    syncControls(view);
    renderNav(view);
    const main = $("main");
    main.setAttribute("aria-busy", "true");
    app.redraws = [];
    main.replaceChildren(pageHeader(page, view.params), loadingState());
    try {
      await loadIndex(view.params);
    } catch (err) {
      if (err instanceof LoggedOut || token !== app.token) return;
      main.replaceChildren(pageHeader(page, view.params), errorState(err));
      main.removeAttribute("aria-busy");
      return;
    }
    if (token !== app.token) return;
    if (view.page === "overview") await renderOverview(token, view);
    else await renderReportPage(token, page, view);
  }

  function pageHeader(page, params) {
    const events = (fmt) => {
      const p = apiParams(params, { noBreakdown: true, noRange: !!page.live });
      p.set("format", fmt);
      return "/v1/export/events?" + p;
    };
    return el(
      "div",
      { class: "page-head" },
      el("h1", { class: "page-title" }, page.title),
      el("p", { class: "page-range", id: "page-range" }, page.live ? "Right now" : rangeLabel(params)),
      el(
        "p",
        { class: "exports downloads", title: "Every event of the range and filters, one row each" },
        el("span", null, "Raw events:"),
        el("a", { href: events("csv"), class: "download", id: "export-csv", download: true }, "CSV"),
        el("a", { href: events("parquet"), class: "download", id: "export-parquet", download: true }, "Parquet"),
      ),
    );
  }

  async function renderReportPage(token, page, view) {
    const main = $("main");
    if (!app.registered.has(page.report)) {
      main.replaceChildren(pageHeader(page, view.params), notAvailable(page));
      main.removeAttribute("aria-busy");
      return;
    }
    const params = apiParams(view.params, { noRange: !!page.live });
    const load = async () => {
      let report;
      try {
        report = await api(`/v1/analytics/${encodeURIComponent(page.report)}`, params);
      } catch (err) {
        if (err instanceof LoggedOut || token !== app.token) return false;
        const content = err.code === "unknown_report" ? notAvailable(page) : errorState(err);
        main.replaceChildren(pageHeader(page, view.params), content);
        main.removeAttribute("aria-busy");
        return true;
      }
      if (token !== app.token) return false;
      app.redraws = [];
      main.replaceChildren(pageHeader(page, view.params), ...reportBody(report, view.params, page));
      main.removeAttribute("aria-busy");
      main.dataset.report = page.report;
      main.dataset.loaded = String(Date.now());
      return true;
    };
    const shown = await load();
    if (page.live && shown && token === app.token) scheduleLive(token, load);
  }

  function scheduleLive(token, load) {
    const tick = async () => {
      app.liveTimer = null;
      if (token !== app.token) return;
      if (document.visibilityState === "hidden") {
        app.liveDue = true; // refreshed when the tab is shown again
        return;
      }
      const status = $("live-status");
      await load();
      if (token !== app.token) return;
      status.textContent = "Live: updated " + timeFmt.format(new Date()) + " · refreshes every 10 s";
      app.liveTimer = setTimeout(tick, LIVE_REFRESH_MS);
    };
    app.liveTick = tick;
    $("live-status").textContent = "Live: updated " + timeFmt.format(new Date()) + " · refreshes every 10 s";
    app.liveTimer = setTimeout(tick, LIVE_REFRESH_MS);
  }

  function reportBody(report, params, page) {
    const parts = [];
    const metrics = report.metrics || [];
    const tables = report.tables || [];
    if (metrics.length) {
      parts.push(
        el(
          "section",
          { class: "metrics-section", "aria-label": "Headline metrics" },
          metricCards(metrics),
          el(
            "p",
            { class: "downloads metrics-downloads" },
            el("span", null, "Metrics:"),
            downloadLink(exportUrl(report.report, "metrics", "csv", params), "CSV"),
            downloadLink(exportUrl(report.report, "metrics", "parquet", params), "Parquet"),
          ),
        ),
      );
    }
    if (!metrics.length && !tables.length) parts.push(emptyState("No data in this range"));
    const grid = el("div", { class: "panels" });
    for (const table of tables) grid.appendChild(tablePanel(report, table, params));
    pairPanels(grid);
    parts.push(grid);
    for (const note of report.notes || []) parts.push(el("p", { class: "note" }, String(note)));
    return parts;
  }

  /** Half-width panels sit side by side; one left without a neighbour takes the row. */
  function pairPanels(grid) {
    let run = [];
    const close = () => {
      if (run.length % 2 === 1) run[run.length - 1].classList.add("wide");
      run = [];
    };
    for (const panel of grid.children) {
      if (panel.classList.contains("wide")) close();
      else run.push(panel);
    }
    close();
  }

  function metricCards(metrics) {
    return el(
      "div",
      { class: "cards" },
      ...metrics.map((m) =>
        el(
          "div",
          { class: "card", title: m.description || null, "data-metric": m.key },
          el("div", { class: "card-label" }, m.label || m.key),
          el("div", { class: "card-value" }, format(m.value, m.type)),
          m.description ? el("div", { class: "card-desc" }, m.description) : null,
        ),
      ),
    );
  }

  function downloadLink(href, label) {
    return el("a", { href, class: "download", download: true }, label);
  }

  // ---------------------------------------------------------------------------------
  // A table's panel: title, chart (by hint), data table, downloads

  function hasData(table) {
    const rows = table.rows || [];
    if (!rows.length) return false;
    if (table.chart === "line") {
      return rows.some((row) => row.slice(1).some((v) => isNumber(v) && v !== 0));
    }
    return true;
  }

  function tablePanel(report, table, params) {
    if (table.key === "breakdown" && table.columns.length) {
      const first = table.columns[0];
      const name = BREAKDOWN_LABELS[first.label] || (String(first.label).startsWith("trait.") ? "Trait " + first.label.slice(6) : first.label);
      table = { ...table, title: "By " + name.toLowerCase(), columns: [{ ...first, label: name }, ...table.columns.slice(1)] };
    }
    const chart = table.chart || "table";
    const wide = chart === "line" || chart === "heatmap" || chart === "funnel" || table.key === "breakdown" || (table.columns || []).length > 4;
    const panel = el("section", {
      class: "panel" + (wide ? " wide" : ""),
      "data-table": table.key,
      "data-chart": chart,
      "aria-labelledby": `panel-${table.key}`,
    });
    const views = el("div", { class: "panel-tools" });
    const head = el(
      "header",
      { class: "panel-head" },
      el("div", { class: "panel-titles" }, el("h2", { id: `panel-${table.key}` }, table.title || table.key), table.description ? el("p", { class: "panel-desc" }, table.description) : null),
      views,
    );
    panel.appendChild(head);
    const body = el("div", { class: "panel-body" });
    panel.appendChild(body);
    const downloads = el(
      "p",
      { class: "downloads" },
      el("span", null, "Download:"),
      downloadLink(exportUrl(report.report, table.key, "csv", params), "CSV"),
      downloadLink(exportUrl(report.report, table.key, "parquet", params), "Parquet"),
    );

    if (!hasData(table)) {
      panel.dataset.state = "empty";
      body.appendChild(emptyState(app.live ? "Nothing right now" : "No data in this range"));
      panel.appendChild(downloads);
      return panel;
    }
    if (chart === "table") {
      panel.dataset.state = "table";
      body.appendChild(dataTable(table));
      panel.appendChild(downloads);
      return panel;
    }
    panel.dataset.state = "chart";
    const chartBox = el("div", { class: "chart" });
    const tableBox = el("div", { class: "table-box" }, dataTable(table));
    const both = table.key === "breakdown";
    tableBox.hidden = !both;
    body.append(chartBox, tableBox);
    mountChart(chartBox, table);
    if (!both) {
      const chartButton = el("button", { type: "button", "aria-pressed": "true" }, "Chart");
      const tableButton = el("button", { type: "button", "aria-pressed": "false" }, "Table");
      const show = (asTable) => {
        chartBox.hidden = asTable;
        tableBox.hidden = !asTable;
        chartButton.setAttribute("aria-pressed", String(!asTable));
        tableButton.setAttribute("aria-pressed", String(asTable));
      };
      chartButton.addEventListener("click", () => show(false));
      tableButton.addEventListener("click", () => show(true));
      views.appendChild(el("div", { class: "segmented small", role: "group", "aria-label": "Show as" }, chartButton, tableButton));
    }
    panel.appendChild(downloads);
    return panel;
  }

  function mountChart(box, table) {
    const draw = {
      line: lineChart,
      bar: barChart,
      funnel: funnelChart,
      heatmap: heatmapChart,
    }[table.chart];
    if (!draw) return;
    const state = {};
    const redraw = () => {
      const width = Math.max(280, Math.floor(box.clientWidth || box.parentNode.clientWidth || 600));
      box.replaceChildren(...[].concat(draw(table, width, state, redraw)));
    };
    app.redraws.push(redraw);
    // Drawn after layout so that the width is known.
    requestAnimationFrame(redraw);
    redraw();
  }

  /** Numeric columns in groups by unit: counts, percentages, durations. */
  function seriesGroups(columns, skip) {
    const groups = [];
    const unitOf = (type) => (type === "int" || type === "number" ? "count" : type === "ms" || type === "seconds" ? "duration:" + type : type);
    columns.forEach((column, index) => {
      if (skip.includes(index) || !NUMERIC.has(column.type) || RANK.test(column.key)) return;
      const unit = unitOf(column.type);
      let group = groups.find((g) => g.unit === unit);
      if (!group) groups.push((group = { unit, type: column.type === "number" ? "number" : column.type, series: [] }));
      if (column.type === "number") group.type = "number";
      group.series.push({ index, column });
    });
    return groups;
  }

  function groupSwitch(groups, state, redraw) {
    if (groups.length < 2) return null;
    return el(
      "div",
      { class: "segmented small series-switch", role: "group", "aria-label": "Series" },
      ...groups.map((group, i) => {
        const name = group.series.length === 1 ? group.series[0].column.label : { count: "Counts", percent: "Rates" }[group.unit] || "Durations";
        const button = el("button", { type: "button", "aria-pressed": String(i === (state.group || 0)), title: group.series.map((s) => s.column.label).join(", ") }, name);
        button.addEventListener("click", () => {
          state.group = i;
          redraw();
        });
        return button;
      }),
    );
  }

  function legend(series, colorOf) {
    if (series.length < 2) return null;
    return el(
      "ul",
      { class: "legend" },
      ...series.map((s, i) => el("li", null, swatch(colorOf(i)), s.column.label)),
    );
  }

  function swatch(color) {
    const dot = el("span", { class: "swatch", "aria-hidden": "true" });
    dot.style.background = color; // CSSOM, allowed by the CSP (no style attribute)
    return dot;
  }

  /** Bucket indexes to label: a regular step (hours: 1, 2, 3, 6, 12, 24, ...; days: 1,
   * 2, 7, 14, 28, ...) so that labels are evenly spaced and at most `most`. */
  function tickIndexes(n, most, bucketMs) {
    if (n <= 1) return [0];
    const steps =
      bucketMs < 3600000 ? [1, 2, 5, 10, 15, 30, 60, 120] : bucketMs < DAY_MS ? [1, 2, 3, 6, 12, 24, 48, 72, 168] : [1, 2, 3, 7, 14, 28, 56, 91, 182, 364];
    let step = steps.find((s) => Math.ceil(n / s) <= most) || Math.ceil(n / most);
    const out = [];
    for (let i = 0; i < n; i += step) out.push(i);
    return out;
  }

  function niceScale(max, type, ticks) {
    let top = max > 0 ? max : 1;
    const count = ticks || 4;
    const raw = top / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / magnitude;
    let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
    if (type === "int") step = Math.max(1, Math.round(step));
    top = Math.ceil(top / step - 1e-9) * step;
    const values = [];
    for (let v = 0; v <= top + step / 2; v += step) values.push(Math.round(v * 1e6) / 1e6);
    return { top, values };
  }

  // ---------------------------------------------------------------------------------
  // Tooltip (one for the page, text only)

  function showTooltip(x, y, title, lines) {
    const tip = $("tooltip");
    tip.replaceChildren(
      el("div", { class: "tooltip-title" }, title),
      ...lines.map((line) => el("div", { class: "tooltip-line" }, line.color ? swatch(line.color) : null, el("span", { class: "tooltip-label" }, line.label), el("span", { class: "tooltip-value" }, line.value))),
    );
    tip.hidden = false;
    const pad = 14;
    const rect = tip.getBoundingClientRect();
    let left = x + pad;
    let top = y + pad;
    if (left + rect.width > window.innerWidth - 8) left = x - rect.width - pad;
    if (top + rect.height > window.innerHeight - 8) top = y - rect.height - pad;
    tip.style.left = Math.max(8, left) + "px";
    tip.style.top = Math.max(8, top) + "px";
  }

  function hideTooltip() {
    $("tooltip").hidden = true;
  }

  // ---------------------------------------------------------------------------------
  // Line chart: first column is time, the other numeric columns are series

  function lineChart(table, width, state, redraw) {
    const columns = table.columns;
    const rows = table.rows;
    const groups = seriesGroups(columns, [0]);
    if (!groups.length) return emptyState("Nothing to chart");
    const group = groups[Math.min(state.group || 0, groups.length - 1)];
    const series = group.series;
    const color = (i) => PALETTE[i % PALETTE.length];
    const height = 260;
    const m = { top: 16, right: 16, bottom: 30, left: 56 };
    const innerW = width - m.left - m.right;
    const innerH = height - m.top - m.bottom;
    let max = 0;
    for (const row of rows) for (const s of series) if (isNumber(row[s.index])) max = Math.max(max, row[s.index]);
    const scale = niceScale(max, group.type);
    const n = rows.length;
    const x = (i) => m.left + (n <= 1 ? innerW / 2 : (i * innerW) / (n - 1));
    const y = (v) => m.top + innerH - (v / scale.top) * innerH;
    const timeType = columns[0].type;
    const first = parseTime(rows[0][0]);
    const last = parseTime(rows[n - 1][0]);
    const spanDays = (last - first) / DAY_MS;

    const label = `${table.title}: ${series.map((s) => s.column.label).join(", ")}, ${n} points from ${format(rows[0][0], timeType)} to ${format(rows[n - 1][0], timeType)}`;
    const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "line-chart", role: "img", "aria-label": label, tabindex: "0" });
    chart.appendChild(svg("title", null, label));

    const grid = svg("g", { class: "grid" });
    for (const v of scale.values) {
      grid.appendChild(svg("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
      grid.appendChild(svg("text", { x: m.left - 8, y: y(v), dy: "0.32em", "text-anchor": "end", class: "axis-label" }, formatTick(v, group.type)));
    }
    chart.appendChild(grid);

    const axis = svg("g", { class: "x-axis" });
    const bucketMs = n > 1 ? parseTime(rows[1][0]) - first : DAY_MS;
    for (const i of tickIndexes(n, Math.max(2, Math.floor(innerW / 78)), isNaN(bucketMs) ? DAY_MS : bucketMs)) {
      const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      axis.appendChild(svg("text", { x: x(i), y: height - 8, "text-anchor": anchor, class: "axis-label" }, timeTick(rows[i][0], timeType, spanDays)));
    }
    chart.appendChild(axis);

    series.forEach((s, si) => {
      const points = [];
      rows.forEach((row, i) => {
        const v = row[s.index];
        if (isNumber(v)) points.push([x(i), y(v)]);
      });
      if (!points.length) return;
      const path = points.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1)).join("");
      if (si === 0 && points.length > 1) {
        const area = path + `L${points[points.length - 1][0].toFixed(1)},${y(0)}L${points[0][0].toFixed(1)},${y(0)}Z`;
        chart.appendChild(svg("path", { d: area, class: "area", fill: color(si) }));
      }
      chart.appendChild(svg("path", { d: path, class: "line", stroke: color(si) }));
      if (n <= 45 || points.length === 1) {
        const dots = svg("g", { class: "dots" });
        for (const p of points) dots.appendChild(svg("circle", { cx: p[0], cy: p[1], r: 2.5, fill: color(si) }));
        chart.appendChild(dots);
      }
    });

    // Hover: a guide and a tooltip with every series at the nearest bucket.
    const guide = svg("line", { class: "guide", y1: m.top, y2: m.top + innerH, x1: 0, x2: 0, visibility: "hidden" });
    const markers = series.map((s, si) => svg("circle", { r: 4.5, class: "marker", stroke: color(si), cx: 0, cy: 0, visibility: "hidden" }));
    chart.appendChild(guide);
    markers.forEach((c) => chart.appendChild(c));
    const overlay = svg("rect", { x: m.left, y: m.top, width: innerW, height: innerH, class: "overlay" });
    chart.appendChild(overlay);
    let current = -1;
    const point = (i, clientX, clientY) => {
      current = i;
      const row = rows[i];
      guide.setAttribute("x1", x(i));
      guide.setAttribute("x2", x(i));
      guide.setAttribute("visibility", "visible");
      series.forEach((s, si) => {
        const v = row[s.index];
        markers[si].setAttribute("visibility", isNumber(v) ? "visible" : "hidden");
        if (isNumber(v)) {
          markers[si].setAttribute("cx", x(i));
          markers[si].setAttribute("cy", y(v));
        }
      });
      const lines = [];
      columns.forEach((column, ci) => {
        if (ci === 0) return;
        const si = series.findIndex((s) => s.index === ci);
        lines.push({ label: column.label, value: format(row[ci], column.type), color: si >= 0 ? color(si) : null });
      });
      showTooltip(clientX, clientY, format(row[0], timeType), lines);
    };
    const indexAt = (clientX) => {
      const box = chart.getBoundingClientRect();
      const px = clientX - box.left;
      return n <= 1 ? 0 : Math.max(0, Math.min(n - 1, Math.round(((px - m.left) / innerW) * (n - 1))));
    };
    overlay.addEventListener("pointermove", (event) => point(indexAt(event.clientX), event.clientX, event.clientY));
    const unhover = () => {
      hideTooltip();
      guide.setAttribute("visibility", "hidden");
      markers.forEach((c) => c.setAttribute("visibility", "hidden"));
    };
    overlay.addEventListener("pointerleave", unhover);
    chart.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      event.preventDefault();
      const next = current < 0 ? n - 1 : Math.max(0, Math.min(n - 1, current + (event.key === "ArrowLeft" ? -1 : 1)));
      const box = chart.getBoundingClientRect();
      point(next, box.left + x(next), box.top + m.top + 10);
    });
    chart.addEventListener("blur", unhover);

    return [
      el("div", { class: "chart-head" }, legend(series, color), groupSwitch(groups, state, redraw)),
      chart,
    ];
  }

  // ---------------------------------------------------------------------------------
  // Bar chart: a label column, bars for the numeric columns of the first unit

  /** The columns that name a row: the non-numeric ones (at most 3), else the first. */
  function labelColumns(columns) {
    const found = columns.map((c, i) => (NUMERIC.has(c.type) ? -1 : i)).filter((i) => i >= 0).slice(0, 3);
    return found.length ? found : [0];
  }

  function rowLabel(row, columns, indexes) {
    return indexes.map((i) => format(row[i], columns[i].type)).join(" · ");
  }

  function barChart(table, width, state, redraw) {
    const columns = table.columns;
    const rows = table.rows;
    const labels = labelColumns(columns);
    const groups = seriesGroups(columns, labels);
    if (!groups.length) return emptyState("Nothing to chart");
    const group = groups[Math.min(state.group || 0, groups.length - 1)];
    const series = group.series.slice(0, 4);
    const color = (i) => PALETTE[i % PALETTE.length];
    const k = series.length;
    const barH = k === 1 ? 24 : Math.max(9, Math.floor(30 / k));
    const rowH = k * barH + (k - 1) * 2 + 10;
    const labelW = Math.min(Math.max(120, Math.floor(width * 0.34)), 260);
    const valueW = 76;
    const x0 = labelW + 10;
    const barMax = Math.max(40, width - x0 - valueW);
    let max = 0;
    for (const row of rows) for (const s of series) if (isNumber(row[s.index])) max = Math.max(max, row[s.index]);
    if (group.type === "percent") max = Math.max(max, 1);
    const height = rows.length * rowH + 4;
    const label = `${table.title}: ${series.map((s) => s.column.label).join(", ")} by ${labels.map((i) => columns[i].label).join(" and ")}`;
    const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "bar-chart", role: "img", "aria-label": label });
    chart.appendChild(svg("title", null, label));
    rows.forEach((row, r) => {
      const top = r * rowH + 2;
      const text = rowLabel(row, columns, labels);
      const g = svg("g", { class: "bar-row" });
      const details = [text, ...columns.map((c, ci) => (labels.includes(ci) ? null : `${c.label}: ${format(row[ci], c.type)}`)).filter(Boolean)].join("\n");
      g.appendChild(svg("title", null, details));
      g.appendChild(svg("rect", { x: 0, y: top - 1, width, height: rowH - 2, class: "row-bg", rx: 4 }));
      g.appendChild(svg("text", { x: labelW, y: top + (rowH - 10) / 2 + 1, dy: "0.35em", "text-anchor": "end", class: "bar-label" }, fitText(text, labelW - 4, 13)));
      series.forEach((s, si) => {
        const v = row[s.index];
        const w = isNumber(v) && max > 0 ? Math.max(v > 0 ? 2 : 0, (v / max) * barMax) : 0;
        const by = top + si * (barH + 2);
        g.appendChild(svg("rect", { x: x0, y: by, width: barMax, height: barH, rx: 3, class: "bar-track" }));
        g.appendChild(svg("rect", { x: x0, y: by, width: w.toFixed(1), height: barH, rx: 3, fill: color(si), class: "bar" }));
        g.appendChild(svg("text", { x: x0 + w + 6, y: by + barH / 2, dy: "0.35em", class: k > 1 ? "bar-value small" : "bar-value" }, format(v, s.column.type)));
      });
      chart.appendChild(g);
    });
    return [el("div", { class: "chart-head" }, legend(series, color), groupSwitch(groups, state, redraw)), chart];
  }

  // ---------------------------------------------------------------------------------
  // Funnel: steps (first non-numeric column) and their counts (first count column)

  function wrapWords(text, maxChars, maxLines) {
    const words = text.split(/\s+/);
    const lines = [];
    let line = "";
    for (const word of words) {
      if (!line) line = word;
      else if ((line + " " + word).length <= maxChars) line += " " + word;
      else {
        lines.push(line);
        line = word;
      }
    }
    if (line) lines.push(line);
    if (lines.length > maxLines) {
      const kept = lines.slice(0, maxLines);
      kept[maxLines - 1] = fitText(lines.slice(maxLines - 1).join(" "), maxChars * 7, 12.5);
      return kept.map((l) => fitText(l, maxChars * 7, 12.5));
    }
    return lines.map((l) => fitText(l, maxChars * 7, 12.5));
  }

  function funnelChart(table, width) {
    const columns = table.columns;
    const rows = table.rows;
    const labels = labelColumns(columns);
    const stepName = (row) => rowLabel(row, columns, labels);
    let vi = columns.findIndex((c, i) => !labels.includes(i) && (c.type === "int" || c.type === "number") && !RANK.test(c.key));
    if (vi < 0) vi = columns.findIndex((c, i) => !labels.includes(i) && NUMERIC.has(c.type));
    if (vi < 0) return emptyState("Nothing to chart");
    const n = rows.length;
    const height = 300;
    const m = { top: 46, bottom: 52, left: 8, right: 8 };
    const colW = (width - m.left - m.right) / n;
    const barW = Math.min(colW * 0.62, 140);
    const innerH = height - m.top - m.bottom;
    const values = rows.map((row) => (isNumber(row[vi]) ? row[vi] : 0));
    const max = Math.max(...values, 0) || 1;
    const firstValue = values[0] || 0;
    const label = `${table.title}: ${rows.map((row, i) => `${stepName(row)} ${format(values[i], columns[vi].type)}`).join(", ")}`;
    const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "funnel-chart", role: "img", "aria-label": label });
    chart.appendChild(svg("title", null, label));
    rows.forEach((row, i) => {
      const cx = m.left + colW * i + colW / 2;
      const v = values[i];
      const h = (v / max) * innerH;
      const g = svg("g", { class: "funnel-step" });
      const ofFirst = firstValue ? (v / firstValue) * 100 : null;
      const prev = i > 0 ? values[i - 1] : null;
      const ofPrev = prev ? (v / prev) * 100 : null;
      const details = [stepName(row), ...columns.map((c, ci) => (labels.includes(ci) ? null : `${c.label}: ${format(row[ci], c.type)}`)).filter(Boolean)];
      if (ofFirst !== null && i > 0) details.push(`${nf1.format(ofFirst)}% of the first step`);
      if (ofPrev !== null) details.push(`${nf1.format(ofPrev)}% of the previous step`);
      g.appendChild(svg("title", null, details.join("\n")));
      g.appendChild(svg("rect", { x: cx - barW / 2, y: m.top, width: barW, height: innerH, rx: 4, class: "funnel-track" }));
      g.appendChild(svg("rect", { x: cx - barW / 2, y: m.top + innerH - h, width: barW, height: Math.max(h, v > 0 ? 2 : 0), rx: 4, class: "funnel-bar" }));
      g.appendChild(svg("text", { x: cx, y: m.top - 24, "text-anchor": "middle", class: "funnel-value" }, format(v, columns[vi].type)));
      g.appendChild(
        svg("text", { x: cx, y: m.top - 8, "text-anchor": "middle", class: "funnel-rate" }, i === 0 ? "100%" : ofFirst === null ? "—" : nf1.format(ofFirst) + "%"),
      );
      const lines = wrapWords(stepName(row), Math.max(6, Math.floor(colW / 7.2)), 2);
      lines.forEach((line, k) =>
        g.appendChild(svg("text", { x: cx, y: height - m.bottom + 18 + k * 15, "text-anchor": "middle", class: "funnel-label" }, line)),
      );
      if (i > 0 && ofPrev !== null && colW > 70) {
        const ax = m.left + colW * i;
        g.appendChild(svg("text", { x: ax, y: m.top + innerH / 2, "text-anchor": "middle", class: "funnel-step-rate" }, "→ " + nf0.format(ofPrev) + "%"));
      }
      chart.appendChild(g);
    });
    return chart;
  }

  // ---------------------------------------------------------------------------------
  // Heatmap: x = weekday 1-7 (Mon..Sun), y = hour 0-23, value (third column)

  function heatmapChart(table, width) {
    const columns = table.columns;
    const rows = table.rows;
    const valueIndex = 2;
    const valueColumn = columns[valueIndex] || { type: "int", label: "Value" };
    const cells = new Map();
    let max = 0;
    let min = Infinity;
    for (const row of rows) {
      cells.set(`${row[0]}:${row[1]}`, row);
      const v = row[valueIndex];
      if (isNumber(v)) {
        max = Math.max(max, v);
        min = Math.min(min, v);
      }
    }
    if (!isFinite(min)) min = 0;
    const left = 44;
    const top = 22;
    const cellW = Math.max(9, (width - left - 4) / 24);
    const cellH = Math.max(16, Math.min(30, cellW * 0.78));
    const gap = 2;
    const legendH = 34;
    const height = top + 7 * cellH + legendH;
    const label = `${table.title}: ${valueColumn.label} by weekday and hour`;
    const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "heatmap", role: "img", "aria-label": label });
    chart.appendChild(svg("title", null, label));
    for (let h = 0; h < 24; h += cellW < 18 ? 3 : 2) {
      chart.appendChild(svg("text", { x: left + h * cellW + cellW / 2, y: top - 8, "text-anchor": "middle", class: "axis-label" }, String(h).padStart(2, "0")));
    }
    const grid = svg("g", { class: "cells" });
    const shade = (v) => (max > 0 ? 0.1 + 0.9 * (v / max) : 0.1);
    for (let d = 1; d <= 7; d++) {
      chart.appendChild(svg("text", { x: left - 8, y: top + (d - 1) * cellH + cellH / 2, dy: "0.35em", "text-anchor": "end", class: "axis-label" }, WEEKDAYS[d - 1]));
      for (let h = 0; h < 24; h++) {
        const row = cells.get(`${d}:${h}`);
        const v = row ? row[valueIndex] : null;
        const rect = svg("rect", {
          x: (left + h * cellW + gap / 2).toFixed(1),
          y: (top + (d - 1) * cellH + gap / 2).toFixed(1),
          width: (cellW - gap).toFixed(1),
          height: (cellH - gap).toFixed(1),
          rx: 3,
          class: isNumber(v) ? "cell" : "cell cell-empty",
          "data-day": d,
          "data-hour": h,
        });
        if (isNumber(v)) rect.setAttribute("fill-opacity", shade(v).toFixed(3));
        grid.appendChild(rect);
      }
    }
    chart.appendChild(grid);
    grid.addEventListener("pointermove", (event) => {
      const target = event.target;
      if (!target || !target.dataset || !target.dataset.day) return;
      const d = Number(target.dataset.day);
      const h = Number(target.dataset.hour);
      const row = cells.get(`${d}:${h}`);
      const title = `${WEEKDAYS[d - 1]} ${String(h).padStart(2, "0")}:00–${String((h + 1) % 24).padStart(2, "0")}:00`;
      const lines = row
        ? columns.map((c, ci) => (ci < 2 ? null : { label: c.label, value: format(row[ci], c.type) })).filter(Boolean)
        : [{ label: "No data", value: "" }];
      showTooltip(event.clientX, event.clientY, title, lines);
    });
    grid.addEventListener("pointerleave", hideTooltip);
    // Legend, under the grid on the right: min [light ... dark] max value label
    const ly = top + 7 * cellH + 14;
    const steps = 5;
    const minText = format(min, valueColumn.type);
    const maxText = format(max, valueColumn.type) + " " + valueColumn.label.toLowerCase();
    const textWidth = (text) => text.length * 6.4;
    const right = left + 24 * cellW;
    const lx = Math.max(left + textWidth(minText) + 6, right - textWidth(maxText) - 6 - steps * 16);
    chart.appendChild(svg("text", { x: lx - 6, y: ly + 6, dy: "0.35em", "text-anchor": "end", class: "axis-label" }, minText));
    for (let i = 0; i < steps; i++) {
      chart.appendChild(svg("rect", { x: lx + i * 16, y: ly, width: 14, height: 12, rx: 2, class: "cell", "fill-opacity": (0.1 + (0.9 * i) / (steps - 1)).toFixed(2) }));
    }
    chart.appendChild(svg("text", { x: lx + steps * 16 + 4, y: ly + 6, dy: "0.35em", class: "axis-label" }, maxText));
    return chart;
  }

  // ---------------------------------------------------------------------------------
  // Sortable data table

  function dataTable(table) {
    const columns = table.columns;
    let rows = table.rows.slice();
    const wrap = el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": `${table.title} (table)` });
    const t = el("table", { class: "data" });
    const headRow = el("tr");
    const body = el("tbody");
    let sortIndex = -1;
    let sortDir = 0;
    const headers = columns.map((column, ci) => {
      const button = el("button", { type: "button", class: "sort" }, column.label, el("span", { class: "sort-icon", "aria-hidden": "true" }));
      const th = el("th", { scope: "col", class: NUMERIC.has(column.type) ? "num" : null, "aria-sort": "none" }, button);
      button.addEventListener("click", () => {
        if (sortIndex === ci) sortDir = -sortDir;
        else {
          sortIndex = ci;
          sortDir = NUMERIC.has(column.type) ? -1 : 1;
        }
        headers.forEach((h, hi) => h.setAttribute("aria-sort", hi === sortIndex ? (sortDir > 0 ? "ascending" : "descending") : "none"));
        rows = sortRows(table.rows, ci, sortDir);
        fill();
      });
      headRow.appendChild(th);
      return th;
    });
    const fill = () => {
      body.replaceChildren(
        ...rows.map((row) =>
          el(
            "tr",
            null,
            ...columns.map((column, ci) => {
              const text = format(row[ci], column.type);
              const long = column.type === "url" || (column.type === "string" && text.length > 48);
              return el("td", { class: (NUMERIC.has(column.type) ? "num" : "") + (long ? " long" : "") || null, title: long ? text : null }, text);
            }),
          ),
        ),
      );
    };
    fill();
    t.append(el("thead", null, headRow), body);
    wrap.appendChild(t);
    return wrap;
  }

  function sortRows(rows, index, dir) {
    return rows.slice().sort((a, b) => {
      const x = a[index];
      const y = b[index];
      const xn = x === null || x === undefined;
      const yn = y === null || y === undefined;
      if (xn || yn) return xn && yn ? 0 : xn ? 1 : -1; // empty cells last, either way
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y), "en", { numeric: true }) * dir;
    });
  }

  // ---------------------------------------------------------------------------------
  // Overview: the key metrics of every report, and the engagement trend

  async function renderOverview(token, view) {
    const main = $("main");
    const page = PAGE_BY_ID.get("overview");
    const names = OVERVIEW_REPORTS.filter((name) => app.registered.has(name));
    const params = apiParams(view.params);
    const results = await Promise.all(
      names.map((name) =>
        api(`/v1/analytics/${encodeURIComponent(name)}`, params).then(
          (report) => ({ name, report }),
          (error) => ({ name, error }),
        ),
      ),
    );
    if (token !== app.token) return;
    if (results.some((r) => r.error instanceof LoggedOut)) return;
    app.redraws = [];
    const parts = [pageHeader(page, view.params)];
    if (!names.length) parts.push(emptyState("No reports are available on this server yet."));
    let trend = false;
    const sections = el("div", { class: "overview" });
    for (const result of results) {
      const target = PAGE_BY_ID.get(result.name);
      const title = (result.report && result.report.title) || (target ? target.title : result.name);
      const link = el("a", { href: viewHash(result.name, view.params), class: "section-link" }, "Open report →");
      const section = el(
        "section",
        { class: "overview-section", "data-report": result.name, "aria-label": title },
        el("header", { class: "section-head" }, el("h2", null, title), link),
      );
      if (result.error) {
        section.appendChild(result.error.code === "unknown_report" ? notAvailable(target || { title: result.name }) : errorState(result.error));
      } else {
        const metrics = (result.report.metrics || []).slice(0, OVERVIEW_METRICS);
        section.appendChild(metrics.length ? metricCards(metrics) : emptyState("No data in this range"));
        // The first report's trend, under its cards.
        const line = trend ? null : (result.report.tables || []).find((t) => t.chart === "line");
        if (line) {
          trend = true;
          section.appendChild(el("div", { class: "panels" }, tablePanel(result.report, line, view.params)));
        }
      }
      sections.appendChild(section);
    }
    parts.push(sections);
    main.replaceChildren(...parts);
    main.removeAttribute("aria-busy");
    main.dataset.report = "overview";
    main.dataset.loaded = String(Date.now());
  }

  // ---------------------------------------------------------------------------------

  bindControls();
  if (!location.hash) history.replaceState(null, "", "#/overview");
  render();
})();
