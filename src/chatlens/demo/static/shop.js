/* The demo shop's own script: the tracking calls a real shop would make, and the event
 * log strip. Plain ES2017, no dependencies.
 *
 * Everything the server knows about the page (product, category, search query) comes in
 * data-* attributes, read here with dataset: the server never writes values into script.
 * Calls go through window.chatlens, the SDK's stub until /sdk.js has loaded (docs/sdk.md),
 * so nothing here waits for the SDK.
 */
(function (w, d) {
  'use strict';
  const cl = () => w.chatlens;
  const CART = 'chatlens-demo-cart'; // this demo's cart: product ids, in localStorage

  /* ---- cart ----------------------------------------------------------------------- */

  const readCart = () => {
    try {
      const cart = JSON.parse(localStorage.getItem(CART) || '[]');
      return Array.isArray(cart) ? cart : [];
    } catch (e) {
      return [];
    }
  };
  const showCart = () => {
    const el = d.getElementById('cart-count');
    if (el) el.textContent = 'Cart: ' + readCart().length;
  };

  /* ---- category page: sort by price (value seeking) ---------------------------------- */

  const sortGrid = (grid, how) => {
    const cards = Array.from(grid.children);
    if (!grid.dataset.featured) grid.dataset.featured = cards.map(c => c.dataset.id).join(' ');
    const featured = grid.dataset.featured.split(' ');
    const price = c => Number(c.dataset.price);
    const order = {
      featured: (a, b) => featured.indexOf(a.dataset.id) - featured.indexOf(b.dataset.id),
      low_to_high: (a, b) => price(a) - price(b),
      high_to_low: (a, b) => price(b) - price(a),
    }[how];
    if (order) cards.sort(order).forEach(c => grid.appendChild(c));
  };

  const setUpSort = () => {
    const grid = d.getElementById('grid');
    d.querySelectorAll('[data-sort]').forEach(button => {
      button.addEventListener('click', () => {
        const how = button.dataset.sort;
        d.querySelectorAll('[data-sort]').forEach(b => b.setAttribute('aria-pressed', String(b === button)));
        if (grid) sortGrid(grid, how);
        // 'featured' is the default order, not a filter the visitor chose
        if (how !== 'featured') {
          const ev = {type: 'filter_usage', filterType: 'price', filterValue: how};
          if (grid && grid.dataset.category) ev.category = grid.dataset.category;
          cl().track([ev]);
        }
      });
    });
  };

  /* ---- product page: stock status, add to cart (out of stock, bundle) ------------------ */

  const setUpProduct = () => {
    const product = d.querySelector('article[data-product-id]');
    if (!product) return;
    const p = product.dataset;
    cl().track([{type: 'product_status', productId: p.productId, status: p.stock}]);
    const button = product.querySelector('[data-add-to-cart]');
    if (!button) return;
    button.addEventListener('click', () => {
      const cart = readCart();
      cart.push(p.productId);
      localStorage.setItem(CART, JSON.stringify(cart));
      showCart();
      const added = d.getElementById('added');
      if (added) added.hidden = false;
      cl().track([
        {type: 'cart_action', action: 'add', productId: p.productId, productName: p.productName, category: p.category},
      ]);
    });
  };

  /* ---- search page (bundle) ------------------------------------------------------------ */

  const setUpSearch = () => {
    const results = d.querySelector('[data-search-query]');
    if (!results) return;
    const query = results.dataset.searchQuery.trim();
    const box = d.querySelector('.top input[name=q]');
    if (box) box.value = results.dataset.searchQuery;
    if (!query) return; // the empty search page: nothing was searched
    const ev = {type: 'search_event', query, pageContext: location.href};
    if (results.dataset.searchCategory) ev.categoryContext = results.dataset.searchCategory;
    cl().track([ev]);
  };

  /* ---- the event log: every bus event, newest first --------------------------------- */

  const MAX_ROWS = 60;
  const clock = t => new Date(t || Date.now()).toTimeString().slice(0, 8);
  const summary = data => {
    if (data == null) return '';
    // lifecycle events carry the whole metadata block; its id and flags are what matter
    const shown = data.metadata ? {id: data.metadata.id, proactive: data.metadata.proactive} : data;
    const text = JSON.stringify(shown) || '';
    return text.length > 160 ? text.slice(0, 157) + '...' : text;
  };
  const logEvent = m => {
    const list = d.getElementById('event-log');
    if (!list || !m) return;
    const row = d.createElement('li');
    if (m.type === 'PROACTIVE_OFFER') row.className = 'offer';
    const time = d.createElement('time');
    time.textContent = clock(m.timestamp);
    const type = d.createElement('b');
    type.textContent = String(m.type);
    const data = d.createElement('code');
    data.textContent = summary(m.data); // textContent: event data can hold visitor input
    row.append(time, ' ', type, ' ', data);
    list.insertBefore(row, list.firstChild);
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
  };

  // Seconds on this page while it is visible and focused (roughly what the SDK's dwell
  // measures), so a person knows when the research and out-of-stock skills are due.
  const countTime = () => {
    const el = d.getElementById('time-on-page');
    if (!el) return;
    let seconds = 0;
    setInterval(() => {
      if (d.visibilityState === 'visible' && d.hasFocus()) el.textContent = String(++seconds);
    }, 1000);
  };

  const start = () => {
    showCart();
    cl().subscribe(logEvent); // through the stub: replayed with the whole history on load
    setUpSort();
    setUpProduct();
    setUpSearch();
    countTime();
  };
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start);
  else start();
})(window, document);
