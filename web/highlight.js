// highlight.js — draws entities as <mark> elements over a text, and the legend of their colours. Shared
// by the page and (later) the browser extension: no dependency, no global state, DOM only.
//
//   highlight(outputElement, text, entities)   // entities: [{ label, score, start, end }] in UTF-16 indices
//   legend(legendElement, ['PER', 'ORG', 'LOC'])
//
// Each entity becomes <mark data-label="PER" data-score="0.97" data-start="0" data-end="15">…</mark> with
// its colour in the CSS variable --entity (and a title: label and score, shown on hover). Text is inserted
// as text nodes, never as HTML. Entities that overlap an earlier one are skipped.

const COLOURS = {
  PER: '#ffb4a2',
  ORG: '#9fd3ff',
  LOC: '#b8e6a8',
  MISC: '#f5d48a',
  DATE: '#d9c2ff',
  TIME: '#d9c2ff',
};

// The entity type of a label: 'B-PER' -> 'PER'.
export function entityType(label) {
  return String(label).replace(/^[BIESLU]-/, '');
}

// A stable colour for any entity type (known types have fixed ones).
export function colourOf(type) {
  if (COLOURS[type]) return COLOURS[type];
  let h = 0;
  for (const ch of type) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 80% 82%)`;
}

export function highlight(container, text, entities) {
  const doc = container.ownerDocument;
  const frag = doc.createDocumentFragment();
  const sorted = [...entities].sort((a, b) => a.start - b.start || b.end - a.end);
  let at = 0;
  let count = 0;
  for (const e of sorted) {
    if (!(e.start >= at && e.end > e.start && e.end <= text.length)) continue;
    if (e.start > at) frag.append(text.slice(at, e.start));
    const mark = doc.createElement('mark');
    const type = entityType(e.label);
    const score = Number(e.score).toFixed(2);
    mark.dataset.label = e.label;
    mark.dataset.score = score;
    mark.dataset.start = e.start;
    mark.dataset.end = e.end;
    mark.title = `${e.label} · ${score}`;
    mark.style.setProperty('--entity', colourOf(type));
    mark.textContent = text.slice(e.start, e.end);
    frag.append(mark);
    at = e.end;
    count++;
  }
  if (at < text.length) frag.append(text.slice(at));
  container.replaceChildren(frag);
  return count;
}

export function legend(container, types) {
  const doc = container.ownerDocument;
  container.replaceChildren(...types.map((type) => {
    const item = doc.createElement('span');
    item.className = 'legend-item';
    item.dataset.label = type;
    item.style.setProperty('--entity', colourOf(type));
    item.textContent = type;
    return item;
  }));
}
