// highlight.js — draws entities as <mark> elements over a text, and the legend of their colours. Shared
// by the page and (later) the browser extension: no dependency, no global state, DOM only.
//
//   highlight(outputElement, text, entities)   // entities: [{ label, score, start, end, value? }], UTF-16
//   legend(legendElement, ['PER', 'ORG', 'LOC', 'DATE', 'TIME', 'MONEY', 'PERCENT'])
//
// Each entity becomes <mark data-label="PER" data-score="0.97" data-start="0" data-end="15">…</mark> with
// its colour in the CSS variable --entity and a title shown on hover: label and score, or for the rule
// recogniser's dates, times, amounts and percentages label and normalised value ("DATE · 1789-07-14", also in
// data-value). Text is inserted as text nodes, never as HTML. Entities that overlap an earlier one are skipped.

const COLOURS = {
  PER: '#ffb4a2',
  ORG: '#9fd3ff',
  LOC: '#b8e6a8',
  MISC: '#f5d48a',
  DATE: '#d9c2ff',
  TIME: '#f7b7e0',
  MONEY: '#8ee0c8',
  PERCENT: '#ffcf99',
};

// What the rule recogniser's types are, for the legend's hover.
const DESCRIPTIONS = {
  DATE: 'dates (règles ; valeur ISO 8601 au survol)',
  TIME: 'heures (règles ; HH:MM au survol)',
  MONEY: 'montants (règles ; montant et devise ISO 4217 au survol)',
  PERCENT: 'pourcentages (règles ; nombre au survol)',
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
    if (e.value != null) mark.dataset.value = e.value;
    mark.title = e.value != null ? `${e.label} · ${e.value}` : `${e.label} · ${score}`;
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
    if (DESCRIPTIONS[type]) item.title = DESCRIPTIONS[type];
    return item;
  }));
}
