/* A minimal reference chat widget for Chatlens: how a widget shows proactive offers and
 * reports its lifecycle (docs/sdk.md). Plain ES2017, no dependencies.
 *
 * - On load: chat.loaded + chat.visible; a launcher button and a (hidden) panel.
 * - A PROACTIVE_OFFER on the SDK's bus shows a bubble with the offer's message and
 *   Accept / Not now / Don't show again, reported as chatlens.offer(id, status).
 * - Accept starts a proactive chat with a simulated agent: opened, submitted, started,
 *   queued, then agentJoined and the agent's messages.
 *
 * Text from the server or the visitor is only ever set with textContent, never innerHTML:
 * an offer's message is a template filled with what the visitor did (a search query...).
 *
 * window.chatlensWidget.showOffer(offer) feeds an offer in by hand (the browser console,
 * tests): the same path as an offer from the bus.
 */
(function (w, d) {
  'use strict';
  const NAME = 'chatlens-demo';
  const OFF = 'chatlens-demo-offers-off'; // "Don't show again", remembered by this widget too
  const AGENT_DELAY = 1000; // ms before the simulated agent joins, and before each reply

  // What the simulated agent says first after an offer of a skill, by the skill's name.
  const OPENERS = [
    [/compar/i, 'Hi, I am Sam. Those two are close: want a side-by-side of battery, noise cancelling and price?'],
    [/research|guide|blog/i, 'Hi, I am Sam. Anything in the article I can clear up, or a product I can size for you?'],
    [/stock/i, 'Hi, I am Sam. That one is back in about two weeks: shall I hold one, or show you one in stock now?'],
    [/value|price|deal/i, 'Hi, I am Sam. Looking for the best price? The cheapest model here is also on offer this week.'],
    [/bundle|cross/i, 'Hi, I am Sam. A stove and a hood go together: buy both today and the hood is installed for free.'],
  ];
  const REPLIES = [
    'Good question: let me check that for you.',
    'Noted. Anything else I can help with?',
    '(This is a simulated agent in the Chatlens demo.)',
  ];

  let cl = null; // the SDK, once ready
  let state = 'idle'; // idle | opened | started (waiting for the agent) | connected
  let current = null; // the offer in the bubble
  const seen = new Set(); // offer ids already handled: the bus replays its history
  const timers = [];

  /* ---- DOM ------------------------------------------------------------------------- */

  const el = (tag, className, text) => {
    const e = d.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = String(text);
    return e;
  };
  const button = (className, text, onClick) => {
    const b = el('button', className, text);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  };

  const root = el('div', 'clw');
  const launcher = button('clw-launcher', 'Chat with us', () => toggle());
  const bubble = el('div', 'clw-bubble');
  bubble.setAttribute('role', 'dialog');
  bubble.setAttribute('aria-label', 'An offer from our team');
  bubble.hidden = true;
  const bubbleText = el('p', 'clw-offer-message');
  const bubbleActions = el('div', 'clw-actions');
  bubbleActions.append(
    button('clw-accept', 'Accept', () => answer('accepted')),
    button('clw-dismiss', 'Not now', () => answer('dismissed')),
    button('clw-optout', "Don't show again", () => answer('opted_out'))
  );
  bubble.append(bubbleText, bubbleActions);

  const panel = el('section', 'clw-panel');
  panel.setAttribute('aria-label', 'Chat');
  panel.hidden = true;
  const head = el('header', 'clw-head');
  head.append(el('span', 'clw-title', 'Demo kitchen chat'), button('clw-end', 'End chat', () => end()),
    button('clw-min', '\u00d7', () => (panel.hidden = true)));
  head.lastChild.setAttribute('aria-label', 'Minimize');
  const lines = el('ol', 'clw-lines');
  lines.setAttribute('aria-live', 'polite');
  const form = el('form', 'clw-form');
  const input = el('input');
  input.name = 'message';
  input.placeholder = 'Type a message';
  input.setAttribute('aria-label', 'Message');
  input.autocomplete = 'off';
  form.append(input, el('button', 'clw-send', 'Send'));
  form.addEventListener('submit', e => {
    e.preventDefault();
    send(input.value);
    input.value = '';
  });
  panel.append(head, lines, form);
  root.append(panel, bubble, launcher);

  const say = (who, text) => {
    const line = el('li', 'clw-line clw-' + who, text);
    lines.appendChild(line);
    line.scrollIntoView({block: 'nearest'});
  };
  const later = (fn, ms) => timers.push(setTimeout(fn, ms));

  /* ---- offers ---------------------------------------------------------------------- */

  const report = (id, status) => {
    if (cl && typeof cl.offer == 'function') cl.offer(id, status);
    else console.warn('chatlens widget: chatlens.offer is missing: offer ' + status + ' not reported');
  };

  const showOffer = offer => {
    if (!offer || typeof offer.id != 'string' || typeof offer.message != 'string') return false;
    if (seen.has(offer.id)) return false;
    seen.add(offer.id);
    const expires = Date.parse(offer.expiresAt);
    // Not shown (and so not reported): expired, turned off here, a chat already under way,
    // or another offer on screen. The server counts only offers reported as shown.
    if (expires <= Date.now() || localStorage.getItem(OFF) || state !== 'idle' || current) return false;
    current = offer;
    bubbleText.textContent = offer.message;
    bubble.hidden = false;
    report(offer.id, 'shown');
    // (setTimeout fires at once beyond 2^31 - 1 ms: no timer for far-off expiries)
    if (expires > 0 && expires - Date.now() < 0x7fffffff) {
      const id = offer.id;
      later(() => current && current.id === id && hideOffer(), expires - Date.now());
    }
    return true;
  };
  const hideOffer = () => {
    current = null;
    bubble.hidden = true;
  };

  const answer = status => {
    const offer = current;
    if (!offer) return;
    hideOffer();
    report(offer.id, status);
    if (status === 'opted_out') localStorage.setItem(OFF, '1');
    if (status === 'accepted') startProactive(offer);
  };

  /* ---- the chat -------------------------------------------------------------------- */

  const open = () => {
    cl.chat.opened();
    state = 'opened';
    lines.textContent = '';
    panel.hidden = false;
  };

  const toggle = () => {
    if (!cl) return;
    if (state === 'idle') {
      hideOffer();
      open();
      say('system', 'Ask us anything: an agent will join.');
      input.focus();
    } else {
      panel.hidden = !panel.hidden;
    }
  };

  // submitted, started, queued; the agent joins after AGENT_DELAY and speaks first
  const begin = (form, opener) => {
    cl.chat.submitted(form);
    cl.chat.started();
    cl.chat.queued();
    state = 'started';
    say('system', 'Connecting you to an agent...');
    later(() => {
      if (state !== 'started') return;
      state = 'connected';
      cl.chat.agentJoined();
      say('system', 'Sam joined the chat.');
      if (opener) {
        cl.chat.message('agent');
        say('agent', opener);
      }
    }, AGENT_DELAY);
  };

  const startProactive = offer => {
    // chat.opened() begins a new interaction when the last one was closed, which would
    // lose flags set before it; flags after it would miss chat.opened's own snapshot.
    // Set them on both sides.
    cl.chat.flags({proactive: true});
    open();
    cl.chat.flags({proactive: true});
    say('offer', offer.message);
    const skill = String(offer.skill || '');
    const found = OPENERS.find(([pattern]) => pattern.test(skill));
    begin({source: 'proactive_offer', skill}, found ? found[1] : 'Hi, I am Sam. How can I help?');
  };

  const send = text => {
    text = String(text || '').trim();
    if (!text || state === 'idle') return;
    if (state === 'opened') begin({source: 'launcher'}, null);
    cl.chat.message('user');
    say('user', text);
    later(() => {
      if (state !== 'connected') return; // the agent answers once it has joined
      cl.chat.message('agent');
      say('agent', REPLIES[Math.floor(Math.random() * REPLIES.length)]);
    }, AGENT_DELAY * 1.5);
  };

  // lifecycle.md's paths: completed after an agent, cancelled before; closed either way
  const end = () => {
    if (state === 'idle') return;
    if (state === 'connected') cl.chat.completed();
    else cl.chat.cancelled();
    cl.chat.closed();
    state = 'idle';
    timers.splice(0).forEach(clearTimeout);
    say('system', 'Chat ended.');
    later(() => state === 'idle' && (panel.hidden = true), 1500);
  };

  /* ---- start ----------------------------------------------------------------------- */

  const start = () => {
    d.body.appendChild(root);
    w.chatlens.ready().then(sdk => {
      cl = sdk;
      cl.chat.loaded(NAME);
      cl.chat.visible(NAME);
      cl.subscribe(m => {
        if (m && m.type === 'PROACTIVE_OFFER') showOffer(m.data);
      });
    });
  };
  w.chatlensWidget = {showOffer: offer => (cl ? showOffer(offer) : false)};
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start);
  else start();
})(window, document);
