/*
 * Chatlens browser SDK (docs/sdk.md is the spec; docs/events.md the wire format).
 *
 * Readable ES2017, no dependencies. The served file chatlens.min.js is this file with
 * comments and whitespace stripped (python -m chatlens.browser.build), and must stay within
 * 6 KB gzipped: names are short but whole words, bindings are `let` (shorter than const),
 * no trailing commas (the minifier keeps them), and comments cost nothing.
 *
 * Sections:
 *   1. helpers          never-throw wrapper, storage, UUIDv7
 *   2. options          the script tag's data-* attributes
 *   3. identity         visitor id, session id, consent
 *   4. event bus        subscribe() with history replay (also window.saEvents)
 *   5. queue            the persisted, bounded, per-site queue in localStorage
 *   6. delivery         batched text/plain POSTs, one tab at a time, backoff, beacons
 *   7. events           record(), track() and its validation, identify()
 *   8. chat lifecycle   chatlens.chat.*: reference 002's metadata block, reference 001's events
 *   9. page views/dwell automatic page_view (SPA too) and visible+focused dwell
 *  10. public API       window.chatlens, stub replay, compatibility globals
 */
(function (w, d, nav) {
  'use strict';
  try {
    let api = w.chatlens && typeof w.chatlens == 'object' ? w.chatlens : {};
    if (api._state) return; // the script is on the page twice: the first one wins

    /* ---- 1. helpers ---------------------------------------------------------------- */

    let noop = () => {};
    let now = () => Date.now();
    let warn = m => console.warn('chatlens: ' + m);
    let log = (...a) => debug && console.log('chatlens:', ...a); // data-debug
    let isObj = v => !!v && typeof v == 'object' && !Array.isArray(v);
    let jsonType = v => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    // deep copy, drops undefined; throws on cycles (callers are guarded)
    let clone = v => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
    // a string field from anything the page hands us (numbers become strings)
    let str = v => (v == null || v === '' ? undefined : String(v).slice(0, 4096));
    // wraps every entry point: nothing we do ever throws into page code
    let guard = f => function () {
      try {
        return f.apply(this, arguments);
      } catch (e) {
        warn(e);
      }
    };
    let on = (target, type, f) => target.addEventListener(type, guard(f));

    // localStorage, with a per-tab memory fallback when it is missing, blocked or full
    let mem = {};
    let get = k => {
      if (k in mem) return mem[k];
      try {
        return localStorage.getItem(k);
      } catch (e) {} // undefined, like a missing key to every caller
    };
    let set = (k, v) => {
      try {
        v == null ? localStorage.removeItem(k) : localStorage.setItem(k, v);
        delete mem[k];
      } catch (e) {
        mem[k] = v;
      }
      return v;
    };
    let getJSON = k => {
      try {
        return JSON.parse(get(k));
      } catch (e) {}
    };

    // UUIDv7: 48-bit ms timestamp, version 7, a 12-bit counter within the ms (so this tab's
    // ids sort in creation order), variant 10, 62 random bits. The server dedupes by the
    // time inside the id, so t must be the event's own time.
    let lastT = 0,
      seq = 0;
    let uuid = (t = now()) => {
      let b = crypto.getRandomValues(new Uint8Array(16));
      seq = t == lastT ? seq + 1 : 0;
      lastT = t;
      b[6] = 112 | ((seq >> 8) & 15);
      b[7] = seq & 255;
      b[8] = (b[8] & 63) | 128;
      for (let i = 5; i >= 0; i--, t = Math.floor(t / 256)) b[i] = t % 256;
      return Array.from(b, x => (x | 256).toString(16).slice(1))
        .join('')
        .replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
    };

    /* ---- 2. options ---------------------------------------------------------------- */

    let me = d.currentScript;
    if (!me || !me.dataset.site) me = d.querySelector('script[src$="/sdk.js"][data-site]') || {dataset: {}};
    // data-foo-bar="..." -> the type of the default: number, boolean ("false" is false) or string
    let opt = (name, def) => {
      let v = me.dataset[name];
      if (v == null || v === '') return def;
      return typeof def == 'number' ? (isFinite(v) ? +v : def) : typeof def == 'boolean' ? v != 'false' : v;
    };
    let key = opt('site', ''),
      endpoint = opt('endpoint', me.src ? new URL(me.src).origin : location.origin),
      url = endpoint.replace(/\/+$/, '') + '/v1/batch',
      flushMs = opt('flushInterval', 1000), // an offer's answer comes back within ~1 s
      maxBatch = opt('maxBatch', 50),
      perMinute = opt('rateLimit', 30),
      maxQueue = opt('maxQueue', 1000),
      maxBytes = opt('maxQueueBytes', 524288),
      autoViews = opt('autoPageViews', true),
      dwellOn = opt('dwell', true),
      honorDnt = opt('honorDnt', false),
      debug = opt('debug', false);

    // localStorage keys
    let K = 'chatlens.',
      QUEUE = K + 'q.' + key + '.', // per site; + the event's id
      VISITOR = K + 'visitor',
      SESSION = K + 'session',
      OPTOUT = K + 'optout';

    /* ---- 3. identity and consent --------------------------------------------------- */

    let visitor = () => get(VISITOR) || set(VISITOR, uuid());
    // the session id; a new one after 30 minutes without activity (an event is activity)
    let session = () => {
      let t = now();
      let s = getJSON(SESSION);
      if (!isObj(s) || !s.id || !(t - s.at < 18e5)) s = {id: uuid(t)};
      s.at = t;
      set(SESSION, JSON.stringify(s));
      return s.id;
    };
    // nothing is queued or sent: no site key, opted out, or Do-Not-Track / GPC honoured
    let off = () =>
      !key || !!get(OPTOUT) || (honorDnt && (nav.doNotTrack == '1' || w.doNotTrack == '1' || !!nav.globalPrivacyControl));

    /* ---- 4. event bus: {type, data, timestamp}, history since page load ------------ */

    let past = [];
    let subscribers = [];
    let WIDGET = 'CHAT_LOADED CHAT_VISIBLE CONTACT_STARTED CONTACT_ENDED TRANSFER_TO_QUEUE CONNECT_TO_AGENT'.split(' ');
    let emit = (type, data, timestamp = now()) => {
      let m = {type, data, timestamp};
      past.push(m);
      subscribers.slice().forEach(fn => guard(fn)(m)); // a subscriber that throws stops no other
    };
    let subscribe = fn => {
      if (typeof fn != 'function') return noop;
      // by index: events emitted by the subscriber during the replay are replayed too
      for (let i = 0; i < past.length; i++) guard(fn)(past[i]);
      subscribers.push(fn);
      return () => {
        let i = subscribers.indexOf(fn);
        if (i >= 0) subscribers.splice(i, 1);
      };
    };

    /* ---- 5. the queue: one localStorage entry per event -------------------------------- */

    // Shared by the site's tabs: the entry of an event is QUEUE + its id, holding
    // {s: session id, t: the page that made it (0 once that page is gone), e: wire event,
    // d: 1 on a drop report}. Tabs add and remove whole entries, never rewrite a shared
    // list, so a tab with a stale view of storage cannot bring back events another tab has
    // delivered. Ids are UUIDv7, monotonic per page, so sorted keys are oldest first. New
    // events gather in `pending` and are written at the end of the task (commit).
    //
    // A tab sends only what is its own (see `mine`), one tab at a time (Web Locks): a tab's
    // view of localStorage can lag another's writes by a few ms, so "whoever holds the lock
    // sends everything" would resend what another tab has just delivered.
    let pending = [];
    let keys = () => {
      let all = Object.keys(mem);
      try {
        for (let i = 0; i < localStorage.length; i++) all.push(localStorage.key(i));
      } catch (e) {}
      return [...new Set(all)].filter(k => k.startsWith(QUEUE) && get(k) != null).sort();
    };
    let load = () => keys().map(getJSON).filter(isObj);
    let remove = x => set(QUEUE + x.e.id, null);
    let page = uuid(); // this page: owner of the events it makes
    // this page's events, those of pages that are gone, and those of a page that died
    // without saying so (still queued long after they should have been sent)
    let mine = x => !x.t || x.t == page || now() - Date.parse(x.e.timestamp) > 6e4 + flushMs;
    let put = x => set(QUEUE + x.e.id, JSON.stringify(x));
    // Beyond max-queue or max-queue-bytes, drop the oldest. One report (the newest entry,
    // so never dropped itself, and not counted in max-queue) counts every drop not yet
    // delivered: an older undelivered report is folded into it.
    let bound = () => {
      let size = () => keys().reduce((total, k) => total + get(k).length, 0);
      if (keys().length <= maxQueue && size() <= maxBytes) return;
      let report = make('custom', {name: 'sdk_queue_dropped', properties: {count: 0}});
      report.d = 1;
      load().forEach(x => {
        if (x.d) {
          report.e.properties.count += x.e.properties.count;
          remove(x);
        }
      });
      let all = keys();
      let total = size() + 300; // the report's room
      let n = 0;
      for (; all.length && (all.length > maxQueue || total > maxBytes); n++) {
        total -= get(all[0]).length;
        set(all.shift(), null);
      }
      report.e.properties.count += n;
      put(report);
      if (n) warn(`queue full: dropped the ${n} oldest undelivered events`);
    };
    let commit = () => {
      if (!pending.length) return;
      pending.forEach(put);
      pending = [];
      bound();
      later(flushMs);
    };

    /* ---- 6. delivery ---------------------------------------------------------------- */

    let TEXT = {'Content-Type': 'text/plain'}; // a simple request: no CORS preflight
    let encoder = new TextEncoder();
    let timer = 0,
      due = 0,
      busy = Promise.resolve(), // this tab's requests, one after another
      fails = 0,
      pauseUntil = 0, // backoff or Retry-After
      stamps = [], // request times in the last minute (data-rate-limit)
      checkIn; // the server's: report the dwell then (a dwell threshold is near)
    let beaconed = new Set(); // ids this tab already beaconed

    // The first entries that go in one request: same session, at most max events, at
    // most 64 KB of body (sendBeacon's limit; also far below the server's).
    let chunk = (q, max) => {
      let out = [];
      let size = 400; // the envelope around the events
      for (let x of q) {
        size += encoder.encode(JSON.stringify(x.e)).length + 1;
        if (out.length && (out.length >= max || size > 65536 || x.s != out[0].s)) break;
        out.push(x);
      }
      return out;
    };
    let envelope = b =>
      JSON.stringify({
        key,
        visitor_id: visitor(),
        session_id: b[0].s,
        sent_at: new Date().toISOString(),
        events: b.map(x => x.e)
      });
    let rateWait = () => {
      let t = now() - 6e4;
      stamps = stamps.filter(s => s > t);
      return stamps.length < perMinute ? 0 : stamps[0] - t;
    };
    // send in ms (or later: backoff, rate limit), unless a send is due sooner already
    let later = ms => {
      ms = Math.max(ms, pauseUntil - now(), rateWait());
      if (timer && due <= now() + ms) return;
      clearTimeout(timer);
      due = now() + ms;
      timer = setTimeout(send, ms);
    };
    // one tab at a time sends (Web Locks); without them (old browsers, insecure pages) each
    // tab sends directly, and `mine` still keeps tabs from sending each other's events
    let locked = fn => (nav.locks ? nav.locks.request(K + 'send.' + key, fn) : fn());
    let send = () => {
      clearTimeout(timer);
      timer = 0;
      return (busy = busy
        .then(() => {
          if (off()) return;
          let wait = Math.max(pauseUntil - now(), rateWait());
          return wait > 0 ? later(wait) : locked(post);
        })
        .catch(warn));
    };
    // One request with the oldest events. They leave the persisted queue only once the
    // server has answered 200 (stored) or a 4xx other than 429 (never acceptable).
    let post = async () => {
      let todo = load().filter(mine);
      let batch = chunk(todo, maxBatch);
      if (!batch.length) return;
      let body = envelope(batch);
      let abort = new AbortController();
      let t = setTimeout(() => abort.abort(), 3e4);
      let r,
        answer = {};
      stamps.push(now());
      try {
        r = await fetch(url, {method: 'POST', body, headers: TEXT, credentials: 'omit', signal: abort.signal});
        answer = (await r.json()) || {};
      } catch (e) {} // network error, timeout, or a body that is not JSON
      clearTimeout(t);
      let status = r ? r.status : 0;
      let done = status && status < 500 && status != 429;
      log(body, status, answer);
      if (done) {
        fails = 0;
        batch.forEach(remove);
        if (status == 200) {
          (answer.rejected || []).forEach(x => (x.errors || []).forEach(warn));
          // proactive offers onto the bus; a check-in when a dwell threshold is near
          let i = answer.instructions || {};
          (i.offers || []).forEach(o => emit('PROACTIVE_OFFER', o));
          clearTimeout(checkIn);
          if (i.checkIn > 0) checkIn = setTimeout(guard(dwell), i.checkIn);
        } else {
          warn(`${status} ${answer.message || ''}: ${batch.length} events dropped`);
        }
      } else {
        // 429: wait Retry-After; network errors and 5xx: 1 s doubling to 60 s, plus jitter
        let retryAfter = (r && +r.headers.get('Retry-After') * 1e3) || 0;
        if (status == 429) pauseUntil = now() + (retryAfter || 1e3);
        else {
          let backoff = Math.min(6e4, 500 * 2 ** ++fails);
          pauseUntil = now() + Math.max(retryAfter, backoff * (1 + Math.random() / 5));
        }
      }
      if (todo.length > (done ? batch.length : 0)) later(0); // more to send, or to retry
    };
    // The page is hidden or going away: hand its events to the browser. Not acknowledged,
    // so they stay queued (sent again later, deduped by the server), but this page beacons
    // each event once. Going away, the page gives its events up for the next page to send.
    let beacon = gone => {
      commit();
      if (off()) return;
      let q = load().filter(x => mine(x) && !beaconed.has(x.e.id));
      while (q.length) {
        let b = chunk(q, 1000);
        let body = envelope(b);
        q = q.slice(b.length);
        b.forEach(x => beaconed.add(x.e.id));
        stamps.push(now());
        if (!(nav.sendBeacon && nav.sendBeacon(url, new Blob([body], {type: 'text/plain'})))) {
          fetch(url, {method: 'POST', body, headers: TEXT, credentials: 'omit', keepalive: true}).catch(noop);
        }
      }
      if (gone) {
        for (let x of load()) {
          if (x.t == page) {
            x.t = 0;
            put(x);
          }
        }
      }
    };

    /* ---- 7. events ------------------------------------------------------------------ */

    // a queue entry: the wire event with its id and timestamp from one clock reading
    let make = (type, fields, t = now()) => ({
      s: session(),
      t: page,
      e: Object.assign({type, id: uuid(t), timestamp: new Date(t).toISOString()}, fields)
    });
    // emit on the bus, and queue unless off; true when queued
    // Consecutive page views of one URL count once, automatic or tracked by the page
    // (reference 000's samples track page views that the SDK also sees by itself).
    let lastView;
    let record = (type, fields) => {
      if (type == 'page_view') {
        if (fields.url == lastView) return true;
        lastView = fields.url;
      }
      let t = now();
      let x = make(type, clone(fields), t);
      let queued = !off();
      if (queued && pending.push(x) == 1) Promise.resolve().then(guard(commit));
      emit(type, clone(fields) || {}, t);
      return queued;
    };

    // The server's rules (docs/events.md) for the types track() takes. Each field is
    // "<kind><name>": s string, u absolute URL, n number, o object, a 'add' | 'remove';
    // an upper-case kind means required.
    let RULES = {
      page_view: 'Uurl spageType sproductId',
      dwell: 'Uurl spageType NdurationSeconds',
      product_status: 'SproductId Sstatus',
      filter_usage: 'scategory SfilterType SfilterValue',
      cart_action: 'Aaction SproductId svariantId sproductName scategory',
      search_event: 'Squery upageContext scategoryContext',
      custom: 'Sname oproperties'
    };
    let KINDS = {s: 'a string', a: 'a string', u: 'an absolute URL', n: 'a number', o: 'an object'};
    // every problem of events[i], worded as the server words them
    let check = (ev, i) => {
      let path = `events[${i}]`;
      if (!isObj(ev)) return [`${path}: must be an object, got ${jsonType(ev)}`];
      let type = ev.type;
      let rule = RULES[type];
      if (typeof rule != 'string') {
        let why =
          type == null ? 'required, must be a string' : typeof type != 'string' ? 'must be a string, got ' + jsonType(type) : `unknown event type '${type}'`;
        return [`${path}.type: ${why} (expected one of ${Object.keys(RULES).join(', ')})`];
      }
      let errors = [];
      for (let field of rule.split(' ')) {
        let kind = field[0].toLowerCase();
        let name = field.slice(1);
        let required = kind != field[0];
        let v = ev[name];
        let got = jsonType(v);
        let e;
        if (v == null) e = required && 'required, must be ' + KINDS[kind];
        else if (got != (kind == 'n' ? 'number' : kind == 'o' ? 'object' : 'string')) e = `must be ${KINDS[kind]}, got ${got}`;
        else if (kind == 'n') e = !(v >= 0 && v < Infinity) && 'must be a finite number >= 0, got ' + v;
        else if (kind == 'o') e = 0; // any object
        else if (v.length > 4096) e = `too long (${v.length} characters, at most 4096)`;
        else if (required && !v) e = 'required, must not be empty';
        else if (kind == 'u' && !/^https?:\/\/./i.test(v)) e = `must be an absolute URL (http:// or https://), got '${v.slice(0, 80)}'`;
        else if (kind == 'a' && v != 'add' && v != 'remove') e = `must be one of 'add', 'remove', got '${v.slice(0, 80)}'`;
        if (e) errors.push(`${path}.${name}: ${e}`);
      }
      return errors;
    };
    let track = events => {
      if (!Array.isArray(events)) {
        warn('track: events must be an array');
        return false;
      }
      let queued = false;
      events.forEach((ev, i) => {
        // A hostile event (throwing getter, Proxy, cycle, BigInt) is skipped like an
        // invalid one; its siblings still go.
        try {
          let errors = check(ev, i);
          if (errors.length) return errors.forEach(warn);
          // id and timestamp are ours, made now
          let fields = Object.assign({}, ev);
          delete fields.type;
          delete fields.id;
          delete fields.timestamp;
          queued = record(ev.type, fields) || queued;
        } catch (e) {
          warn(`events[${i}]: ${e.message}`);
        }
      });
      return queued;
    };
    let identify = (customerId, traits) => {
      customerId = str(customerId);
      if (!customerId) {
        warn('identify: customerId: required, must be a string');
        return false;
      }
      return record('identify', {customerId, traits: isObj(traits) ? traits : undefined});
    };

    /* ---- 8. chat lifecycle (reference 002 metadata, reference 001 widget events) ---- */

    let META = ('proactive prefilled autoSubmitted coBrowseInitiated filesUploaded numAgents userMessages ' +
      'agentMessages systemMessages errors form opened started cancelled rejected completed closed agentReached ' +
      'supervisorReached elapsed waitingForAgent').split(' ');
    let meta = null, // the current interaction's metadata block
      contact; // contactId given to chat.started()
    let fresh = () => {
      contact = undefined;
      meta = {id: uuid()};
      META.forEach(k => (meta[k] = false));
      return meta;
    };
    let current = () => meta || fresh();
    let stage = name => record('chat.' + name, {metadata: current()}); // a snapshot (record clones)
    let widget = type => record(type, {contactId: contact || current().id});
    // cancelled / completed: the time, and the chat's length if it started
    let end = name => {
      let m = current();
      let t = (m[name] = now());
      if (m.started) m.elapsed = t - m.started;
      stage(name);
    };
    let addError = code => {
      if (code != null) current().errors = (meta.errors || []).concat(code);
    };
    let chat = {
      loaded: name => {
        fresh();
        record('CHAT_LOADED', {chatInstanceName: str(name)});
        stage('ready');
      },
      visible: name => record('CHAT_VISIBLE', {chatInstanceName: str(name)}),
      opened: () => {
        if (!meta || meta.closed) fresh();
        meta.opened = now();
        stage('opened');
      },
      submitted: form => {
        if (isObj(form)) current().form = clone(form);
        stage('submitted');
      },
      started: contactId => {
        current().started = now();
        contact = str(contactId);
        stage('started');
        widget('CONTACT_STARTED');
      },
      queued: () => widget('TRANSFER_TO_QUEUE'),
      agentJoined: () => {
        let m = current();
        let t = now();
        m.numAgents++; // false + 1 is 1
        if (!m.agentReached) {
          m.agentReached = t;
          if (m.started) m.waitingForAgent = t - m.started;
        }
        widget('CONNECT_TO_AGENT');
      },
      cancelled: () => {
        end('cancelled');
        if (meta.started) widget('CONTACT_ENDED');
      },
      rejected: code => {
        current().rejected = now();
        addError(code);
        stage('rejected');
      },
      completed: () => {
        end('completed');
        widget('CONTACT_ENDED');
      },
      closed: () => {
        current().closed = now();
        stage('closed');
      },
      // a message event (no content: the page's text stays in the page) lets the server
      // count messages and mark the conversation used
      message: who => {
        if (/^(user|agent|system)$/.test(who)) current()[who + 'Messages']++, record('message', {conversationId: meta.id, sender: who});
      },
      fileUploaded: () => {
        current().filesUploaded++;
      },
      supervisorReached: () => {
        let m = current();
        m.supervisorReached = m.supervisorReached || now();
      },
      error: addError,
      flags: flags => {
        let m = current();
        if (isObj(flags)) META.slice(0, 4).forEach(k => flags[k] != null && (m[k] = !!flags[k]));
      }
    };

    /* ---- 9. automatic page views and dwell ------------------------------------------ */

    let STEPS = [15, 30, 60, 120, 300]; // dwell reported while the visitor stays
    let here, // the current URL
      pageType,
      dwellAcc = 0, // visible+focused ms on this URL before `since`
      since = 0, // when the page last became visible+focused (0: it is not)
      reported = 0, // the last dwell sent for this URL, in seconds
      dwellTimer;
    let dwellMs = () => dwellAcc + (since && now() - since);

    // JSON-LD: the first {"@type": "Product"} with a sku (else productID), at any depth
    let fromLd = j => {
      if (j && typeof j == 'object') {
        if ([].concat(j['@type']).includes('Product') && (j.sku || j.productID)) return j.sku || j.productID;
        for (let k in j) {
          let id = fromLd(j[k]);
          if (id) return id;
        }
      }
    };
    let productId = () => {
      let el = d.querySelector('[data-product-id]');
      if (el && el.dataset.productId) return str(el.dataset.productId);
      for (let s of d.querySelectorAll('script[type="application/ld+json"]')) {
        try {
          let id = fromLd(JSON.parse(s.textContent));
          if (id) return str(id);
        } catch (e) {} // not our JSON to fix
      }
      el = d.querySelector('meta[property="product:retailer_item_id"]');
      return str(el && el.content);
    };

    // Start or stop the dwell clock (visible and focused), and arm the next threshold.
    let tick = () => {
      let active = d.visibilityState == 'visible' && d.hasFocus();
      let t = now();
      if (since && !active) {
        dwellAcc += t - since;
        since = 0;
      }
      if (!since && active) since = t;
      clearTimeout(dwellTimer);
      let next = dwellOn && active && STEPS.find(s => s * 1e3 > dwellMs());
      if (next) dwellTimer = setTimeout(guard(() => (dwell(), tick())), next * 1e3 - dwellMs());
    };
    // a dwell event for the current URL, when it has grown since the last one
    let dwell = () => {
      let seconds = Math.round(dwellMs() / 100) / 10;
      if (dwellOn && here && seconds > reported) {
        reported = seconds;
        record('dwell', {url: here, pageType, durationSeconds: seconds});
      }
    };
    // the URL may have changed: close the old URL's dwell, then a page view for the new one
    let onUrl = () => {
      let u = location.href.slice(0, 4096);
      if (u == here) return; // consecutive same-URL changes count once
      dwell();
      here = u;
      dwellAcc = reported = since = 0;
      let id = productId();
      pageType = id ? 'product' : str(d.body && d.body.dataset.pageType);
      if (autoViews) record('page_view', {url: u, pageType, productId: id});
      tick();
    };
    // after the router's own work in this task, so the new page's product is found
    let soon = () => setTimeout(guard(onUrl));
    // hidden or going away: the dwell so far, then the queue by beacon
    let leave = e => {
      tick();
      dwell();
      beacon(e.type == 'pagehide');
    };

    /* ---- 10. public API -------------------------------------------------------------- */

    let wrap = o => {
      for (let k in o) o[k] = guard(o[k]);
      return o;
    };
    let calls = Array.isArray(api.q) ? api.q : []; // the stub's calls, replayed below
    delete api.q;
    Object.assign(
      api,
      wrap({
        track,
        identify,
        subscribe,
        // what became of a PROACTIVE_OFFER: 'shown', 'accepted', 'dismissed' or 'opted_out'
        offer: (offerId, status) => record('offer', {offerId, status}),
        ready: () => Promise.resolve(api),
        optOut: () => {
          set(OPTOUT, '1');
          pending = [];
          keys().forEach(k => set(k, null));
        },
        optIn: () => {
          set(OPTOUT, null);
        },
        _state: () => ({
          queue: keys().length + pending.length,
          visitor_id: visitor(),
          session_id: (getJSON(SESSION) || {}).id
        })
      }),
      {
        // a promise that never rejects, resolved once the server answered
        flush: () => Promise.resolve().then(commit).then(send).catch(warn),
        chat: wrap(chat)
      }
    );
    // pages written against reference 000 (Filum) and 001 (saEvents) work unchanged
    let filum = (w.filumChat = w.filumChat || {});
    filum.track = filum.track || api.track;
    let sa = (w.saEvents = w.saEvents || {});
    // reference 001's events alone; a function of its own, so that it can be unsubscribed
    sa.subscribe = sa.subscribe || guard(fn => typeof fn == 'function' && subscribe(m => WIDGET.includes(m.type) && fn(m)));
    w.chatlens = api;

    if (!key) warn('data-site is missing: nothing will be sent');
    if (keys().length) later(0); // what earlier pages left undelivered

    for (let h of ['pushState', 'replaceState']) {
      let original = history[h];
      history[h] = function () {
        let r = original.apply(this, arguments);
        soon();
        return r;
      };
    }
    on(w, 'popstate', soon);
    on(w, 'hashchange', soon);
    on(w, 'pageshow', e => {
      if (e.persisted) {
        here = 0; // back from the back-forward cache: a new view
        onUrl();
      }
    });
    on(w, 'focus', tick);
    on(w, 'blur', tick);
    on(d, 'visibilitychange', e => (d.visibilityState == 'hidden' ? leave(e) : tick()));
    on(w, 'pagehide', leave);
    // The landing page view, then the stub's calls in order (ready() resolvers included).
    // An async script in <head> can run before the body is parsed, when the page's product
    // is not there yet: then wait for 'interactive', which comes before deferred scripts
    // run, so the page's own signals still follow its view.
    let start = () => {
      onUrl();
      // one call at a time guarded: a malformed one does not stop the others
      calls.forEach(guard(([method, args]) => (method == 'ready' ? args[0](api) : typeof api[method] == 'function' && api[method](...args))));
    };
    d.readyState == 'loading' ? on(d, 'readystatechange', () => d.readyState == 'interactive' && start()) : start();
  } catch (e) {
    console.warn('chatlens: not started: ' + e);
  }
})(window, document, navigator);
