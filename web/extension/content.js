// content.js — injected into a tab by the toolbar button (scripting.executeScript, isolated world). It reads
// the page's text, sends it to the extension (background -> offscreen engine) and shows the entities with the
// CSS Custom Highlight API: one Highlight per entity type, registered as CSS.highlights 'surligne-PER' …, of
// Ranges over the page's own text nodes. The page's DOM is never changed; only two attributes on <html> say
// what happened: data-surligne-entities (entities shown) and data-surligne-state (running, done, error). While
// the pointer is over a date, time, amount or percentage, <html>'s title is its label and normalised value
// ("DATE · 1789-07-14"): the browser's tooltip shows it, and the page's own title attribute is put back after.
//
// Text is read block by block: a segment is a run of text nodes under the same block-level box (computed
// display other than inline/contents), so "<b>Gérald</b> Darmanin" is one text with two nodes; entity
// offsets (UTF-16, into the segment's text) are mapped back to (node, offset) pairs. Segments on screen
// go first, then those below, then those above; in batches, two in flight, the page's thread yielding every
// few milliseconds. A MutationObserver sends what is added or changed later (infinite scroll, live pages).
//
// Messages from the extension: surligne:on { settings, entityTypes, colours }, surligne:off, surligne:list,
// surligne:scroll { label, text }, surligne:ping.
(() => {
  if (globalThis.surligneContent) return; // injected again: already listening
  globalThis.surligneContent = true;

  const SKIP = new Set(['script', 'style', 'noscript', 'template', 'textarea', 'input', 'select', 'option', 'button',
    'code', 'pre', 'kbd', 'samp', 'var', 'svg', 'math', 'canvas', 'iframe', 'object', 'embed', 'video', 'audio']);
  const INLINE = new Set(['inline', 'contents', 'ruby', 'ruby-base', 'ruby-text']);
  const INLINE_TAGS = new Set(['a', 'abbr', 'b', 'bdi', 'bdo', 'br', 'cite', 'data', 'dfn', 'em', 'font', 'i', 'mark', 'q',
    's', 'small', 'span', 'strong', 'sub', 'sup', 'time', 'u', 'wbr']);
  const FIRST_BATCH_CHARS = 1500; // what is on screen comes back quickly
  const BATCH_CHARS = 6000;
  const BATCH_SEGMENTS = 48;
  const IN_FLIGHT = 2;
  const SLICE_MS = 8; // longest stretch of work on the page's thread before yielding
  const MUTATION_DELAY_MS = 300;
  const HAS_LETTER = /\p{L}/u;

  const root = document.documentElement;
  let on = false;
  let gen = 0; // bumped by every full run and by off: answers of an older generation are dropped
  let settings = { aggregation: 'first', hidden: [], model: '' };
  let colours = {};
  let entities = []; // { type, score, text, range }
  const highlights = new Map(); // type -> Highlight
  let queue = []; // segments waiting for the engine
  let inFlight = 0;
  const flying = new Set(); // segments sent, not answered yet
  let observer = null;
  let dirty = new Set();
  let dirtyTimer = 0;
  const cursor = new Map(); // `${type}\u0000${text}` -> next occurrence to scroll to
  let focusTimer = 0;

  const yieldToPage = () => (globalThis.scheduler?.yield ? scheduler.yield()
    : new Promise((resolve) => setTimeout(resolve, 0)));

  // --- reading the page -----------------------------------------------------------------------------------

  function collector() {
    const display = new Map(); // element -> computed display, for one collection
    const displayOf = (el) => {
      let d = display.get(el);
      if (d === undefined) {
        d = getComputedStyle(el).display;
        display.set(el, d);
      }
      return d;
    };
    const blockOf = (el) => {
      while (el && el !== root && INLINE.has(displayOf(el))) el = el.parentElement;
      return el || root;
    };
    const skipped = (el) => SKIP.has(el.localName) || el.isContentEditable || displayOf(el) === 'none';
    return { blockOf, skipped, displayOf };
  }

  // The segments under node, in document order: [{ block, nodes, starts, text }].
  async function collect(start) {
    const { blockOf, skipped } = collector();
    // an ancestor that hides or skips start hides everything under it
    for (let el = start.nodeType === 1 ? start : start.parentElement; el && el !== root; el = el.parentElement) {
      if (skipped(el)) return [];
    }
    const walker = document.createTreeWalker(start, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => (n.nodeType === 1 ? (skipped(n) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_SKIP)
        : NodeFilter.FILTER_ACCEPT),
    });
    const segments = [];
    let seg = null;
    let t0 = performance.now();
    let n = 0;
    for (let node = start.nodeType === 3 ? start : walker.nextNode(); node; node = walker.nextNode()) {
      const block = blockOf(node.parentElement);
      if (!seg || seg.block !== block) {
        seg = { block, nodes: [], starts: [], length: 0 };
        segments.push(seg);
      }
      seg.nodes.push(node);
      seg.starts.push(seg.length);
      seg.length += node.length;
      if (++n % 256 === 0 && performance.now() - t0 > SLICE_MS) {
        await yieldToPage();
        t0 = performance.now();
      }
      if (start.nodeType === 3) break;
    }
    const out = [];
    for (const s of segments) {
      // tabs and line breaks of the source become spaces: same length, so offsets stay true
      s.text = s.nodes.map((t) => t.data).join('').replace(/[\t\n\r\f\v]/g, ' ');
      if (s.text.trim().length > 1 && HAS_LETTER.test(s.text)) out.push(s);
    }
    return out;
  }

  // On screen first (document order), then below the screen, then above it.
  async function prioritise(segments) {
    const h = innerHeight;
    const ranked = [];
    let t0 = performance.now();
    for (const [i, s] of segments.entries()) {
      const r = document.createRange();
      r.setStart(s.nodes[0], 0);
      const last = s.nodes[s.nodes.length - 1];
      r.setEnd(last, last.length);
      const box = r.getBoundingClientRect();
      const shown = box.width > 0 || box.height > 0;
      s.visible = shown && box.bottom > 0 && box.top < h;
      ranked.push([s.visible ? 0 : !shown ? 3 : box.top >= h ? 1 : 2, i, s]);
      if (i % 128 === 127 && performance.now() - t0 > SLICE_MS) {
        await yieldToPage();
        t0 = performance.now();
      }
    }
    ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return ranked.map((x) => x[2]);
  }

  // --- drawing --------------------------------------------------------------------------------------------

  function highlightOf(type) {
    let h = highlights.get(type);
    if (!h) {
      h = new Highlight();
      highlights.set(type, h);
      CSS.highlights.set(`surligne-${type}`, h);
    }
    return h;
  }

  // (node, offset) of a UTF-16 offset into a segment's text; an end goes to the node that holds its last unit.
  function position(seg, off, isEnd) {
    const { nodes, starts } = seg;
    let lo = 0;
    let hi = nodes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (isEnd ? starts[mid] < off : starts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return [nodes[lo], off - starts[lo]];
  }

  function rangeOf(seg, start, end) {
    const [sn, so] = position(seg, start, false);
    const [en, eo] = position(seg, end, true);
    if (!sn.isConnected || !en.isConnected || so > sn.length || eo > en.length) return null; // changed meanwhile
    const range = document.createRange();
    range.setStart(sn, so);
    range.setEnd(en, eo);
    return range;
  }

  const shown = (e) => !settings.hidden.includes(e.type) && !e.range.collapsed;

  const countShown = () => entities.reduce((k, e) => k + (shown(e) ? 1 : 0), 0);

  function updateCount() {
    const n = countShown();
    root.dataset.surligneEntities = String(n);
    return n;
  }

  function redraw() {
    for (const h of highlights.values()) h.clear();
    for (const e of entities) if (shown(e)) highlightOf(e.type).add(e.range);
    updateCount();
  }

  function clearHighlights() {
    for (const type of highlights.keys()) CSS.highlights.delete(`surligne-${type}`);
    highlights.clear();
    CSS.highlights.delete('surligne-focus');
  }

  // --- the engine -----------------------------------------------------------------------------------------

  function setState(state, detail) {
    root.dataset.surligneState = state;
    if (state === 'error') root.dataset.surligneError = detail;
    else delete root.dataset.surligneError;
  }

  function finished() {
    if (queue.length || inFlight) return;
    setState('done');
    const n = updateCount();
    chrome.runtime.sendMessage({ to: 'background', type: 'count', n }).catch(() => {});
  }

  function pump() {
    while (on && inFlight < IN_FLIGHT && queue.length) {
      const limit = queue[0].visible ? FIRST_BATCH_CHARS : BATCH_CHARS;
      const batch = [];
      let chars = 0;
      while (queue.length && batch.length < BATCH_SEGMENTS && (batch.length === 0 || chars + queue[0].length <= limit)) {
        const s = queue.shift();
        batch.push(s);
        chars += s.length;
      }
      send(batch, gen);
    }
  }

  async function send(batch, g) {
    inFlight++;
    for (const s of batch) flying.add(s);
    let answer;
    try {
      answer = await chrome.runtime.sendMessage({ to: 'background', type: 'recognize', texts: batch.map((s) => s.text) });
    } catch (err) {
      answer = { error: err.message };
    }
    for (const s of batch) flying.delete(s);
    if (g !== gen) return; // switched off, or a new run started: inFlight was reset
    inFlight--;
    try {
      if (!answer || answer.error) throw new Error(answer?.error || 'no answer from the extension');
      for (const [i, seg] of batch.entries()) {
        if (seg.stale) continue; // its block changed meanwhile: read again
        for (const e of answer.results[i]) {
          const range = rangeOf(seg, e.start, e.end);
          if (!range) continue;
          const type = e.label.replace(/^[BIESLU]-/, '');
          const entity = { type, score: e.score, text: seg.text.slice(e.start, e.end).trim(), value: e.value, range };
          entities.push(entity);
          if (shown(entity)) highlightOf(type).add(range);
        }
      }
    } catch (err) {
      queue = [];
      setState('error', err.message);
      return;
    }
    updateCount();
    pump();
    finished();
  }

  async function enqueue(segments, g) {
    const ordered = await prioritise(segments);
    if (g !== gen || !on) return;
    // what is on screen goes before what was waiting
    const visible = ordered.filter((s) => s.visible);
    const rest = ordered.filter((s) => !s.visible);
    queue = [...visible, ...queue, ...rest];
    pump();
    finished();
  }

  async function run() {
    const g = ++gen;
    queue = [];
    inFlight = 0;
    entities = [];
    cursor.clear();
    clearHighlights();
    setState('running');
    root.dataset.surligneEntities = '0';
    const segments = await collect(document.body || root);
    if (g !== gen) return;
    await enqueue(segments, g);
  }

  // --- changes to the page --------------------------------------------------------------------------------

  function noteMutations(records) {
    const { blockOf, displayOf } = collector();
    for (const r of records) {
      if (r.type === 'characterData') {
        if (r.target.parentElement) dirty.add(blockOf(r.target.parentElement));
        continue;
      }
      for (const node of r.addedNodes) {
        if (node.nodeType === 3) dirty.add(blockOf(r.target.nodeType === 1 ? r.target : r.target.parentElement));
        else if (node.nodeType === 1 && node.isConnected) {
          dirty.add(INLINE.has(displayOf(node)) ? blockOf(r.target) : node);
        }
      }
      if (r.removedNodes.length && r.target.nodeType === 1) {
        // a removed node has no style any more: its tag tells whether it was part of a line of text
        const inline = [...r.removedNodes].some((n) => n.nodeType === 3 || INLINE_TAGS.has(n.localName));
        if (inline) dirty.add(blockOf(r.target));
        else dirty.add(null); // removed blocks: their ranges collapsed, to be pruned
      }
    }
    clearTimeout(dirtyTimer);
    dirtyTimer = setTimeout(refresh, MUTATION_DELAY_MS);
  }

  async function refresh() {
    const g = gen;
    const roots = [...dirty].filter((el) => el && el.isConnected);
    dirty = new Set();
    // the outermost of the roots only
    const outer = roots.filter((el) => !roots.some((other) => other !== el && other.contains(el)));
    const inside = (node) => outer.some((el) => el.contains(node));
    entities = entities.filter((e) => e.range.startContainer.isConnected && !e.range.collapsed && !inside(e.range.startContainer));
    queue = queue.filter((s) => s.nodes[0].isConnected && !inside(s.nodes[0]));
    for (const s of flying) if (!s.nodes[0].isConnected || inside(s.nodes[0])) s.stale = true;
    redraw();
    if (!outer.length) {
      finished();
      return;
    }
    setState('running');
    const segments = [];
    for (const el of outer) segments.push(...(await collect(el)));
    if (g !== gen || !on) return;
    await enqueue(segments, g);
  }

  function observe() {
    observer = new MutationObserver(noteMutations);
    observer.observe(document.body || root, { childList: true, subtree: true, characterData: true });
  }

  // --- the value on hover ---------------------------------------------------------------------------------

  const NO_TITLE = {}; // <html> had no title attribute
  let pageTitle = NO_TITLE;
  let hovered = null;
  let hoverFrame = 0;
  let hoverX = 0;
  let hoverY = 0;

  // The entity with a value under the point (x, y), if any.
  function valuedEntityAt(x, y) {
    const pos = document.caretPositionFromPoint?.(x, y);
    const range = pos ? null : document.caretRangeFromPoint?.(x, y);
    const node = pos ? pos.offsetNode : range?.startContainer;
    const offset = pos ? pos.offset : range?.startOffset;
    if (!node || node.nodeType !== 3) return null;
    return entities.find((e) => e.value != null && shown(e) && e.range.isPointInRange(node, offset) &&
      [...e.range.getClientRects()].some((r) => x >= r.left && x <= r.right && y >= r.top && y <= r.bottom)) || null;
  }

  function showValue(e) {
    if (e === hovered) return;
    hovered = e;
    if (e) {
      if (pageTitle === NO_TITLE && root.hasAttribute('title')) pageTitle = root.getAttribute('title');
      root.setAttribute('title', `${e.type} · ${e.value}`);
    } else {
      if (pageTitle === NO_TITLE) root.removeAttribute('title');
      else root.setAttribute('title', pageTitle);
      pageTitle = NO_TITLE;
    }
  }

  function onPointerMove(event) {
    hoverX = event.clientX;
    hoverY = event.clientY;
    if (hoverFrame) return;
    hoverFrame = requestAnimationFrame(() => { // at most one look-up a frame
      hoverFrame = 0;
      showValue(on ? valuedEntityAt(hoverX, hoverY) : null);
    });
  }

  // --- on, off, list, scroll ------------------------------------------------------------------------------

  function start(message) {
    const before = settings;
    settings = { ...settings, ...message.settings };
    colours = message.colours || colours;
    if (on && before.model === settings.model && before.aggregation === settings.aggregation) {
      redraw(); // only the labels shown changed
      finished();
      return;
    }
    on = true;
    if (!observer) observe();
    document.addEventListener('pointermove', onPointerMove, { passive: true });
    run();
  }

  function stop() {
    on = false;
    gen++;
    queue = [];
    inFlight = 0;
    entities = [];
    observer?.disconnect();
    observer = null;
    clearTimeout(dirtyTimer);
    dirty = new Set();
    clearHighlights();
    document.removeEventListener('pointermove', onPointerMove);
    showValue(null);
    delete root.dataset.surligneEntities;
    delete root.dataset.surligneState;
    delete root.dataset.surligneError;
  }

  function list() {
    const groups = new Map();
    for (const e of entities) {
      if (!shown(e)) continue;
      let g = groups.get(e.type);
      if (!g) {
        g = { type: e.type, colour: colours[e.type], count: 0, items: new Map() };
        groups.set(e.type, g);
      }
      g.count++;
      const item = g.items.get(e.text) || { count: 0, value: e.value };
      item.count++;
      g.items.set(e.text, item);
    }
    const types = [...groups.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type)).map((g) => ({
      type: g.type, colour: g.colour, count: g.count,
      items: [...g.items].map(([text, { count, value }]) => ({ text, count, value }))
        .sort((a, b) => b.count - a.count || a.text.localeCompare(b.text, 'fr')),
    }));
    return { on, state: root.dataset.surligneState, error: root.dataset.surligneError, total: countShown(), types,
      url: location.href, title: document.title };
  }

  function scrollTo({ label: type, text }) {
    const found = entities.filter((e) => e.type === type && e.text === text && shown(e))
      .sort((a, b) => a.range.compareBoundaryPoints(Range.START_TO_START, b.range));
    if (!found.length) return { ok: false };
    const key = `${type}\u0000${text}`;
    const i = (cursor.get(key) || 0) % found.length;
    cursor.set(key, i + 1);
    const { range } = found[i];
    const el = range.startContainer.parentElement;
    el?.scrollIntoView({ block: 'center', inline: 'nearest', behavior: 'instant' });
    const focus = new Highlight(range);
    focus.priority = 1;
    CSS.highlights.set('surligne-focus', focus);
    clearTimeout(focusTimer);
    focusTimer = setTimeout(() => CSS.highlights.delete('surligne-focus'), 2500);
    return { ok: true, index: i, of: found.length };
  }

  chrome.runtime.onMessage.addListener((msg, _sender, sendResponse) => {
    switch (msg?.type) {
      case 'surligne:on': start(msg); sendResponse({ ok: true }); break;
      case 'surligne:off': stop(); sendResponse({ ok: true }); break;
      case 'surligne:list': sendResponse(list()); break;
      case 'surligne:scroll': sendResponse(scrollTo(msg)); break;
      case 'surligne:ping': sendResponse(on); break;
      default: return false;
    }
    return false;
  });
})();
