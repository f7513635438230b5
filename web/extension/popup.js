// popup.js — the toolbar button's popup, set for a tab once highlighting is on there (popup.html?tab=ID;
// without ?tab, the active tab of this window). Lists the entities found, grouped by label with counts;
// a click on one scrolls the page to it (the next click to its next occurrence). The switch turns
// highlighting off (and on again while the popup's activeTab grant lasts).
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

async function tabId() {
  if (params.has('tab')) return Number(params.get('tab'));
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id;
}

const plural = (n, one, many) => `${n} ${n > 1 ? many : one}`;

function render(tab, answer) {
  const status = $('status');
  const groups = $('groups');
  const sw = $('switch');
  sw.hidden = false;
  if (!answer?.on) {
    status.textContent = 'Le surlignage est éteint sur cet onglet.';
    groups.replaceChildren();
    sw.textContent = 'Surligner';
    sw.dataset.on = 'false';
    return;
  }
  sw.textContent = 'Éteindre';
  sw.dataset.on = 'true';
  status.dataset.state = answer.state || '';
  if (answer.state === 'error') status.textContent = `Erreur : ${answer.error}`;
  else {
    status.textContent = `${plural(answer.total, 'entité', 'entités')}${answer.state === 'running' ? ' (lecture en cours…)' : ''}`;
  }
  groups.replaceChildren(...answer.types.map((g) => {
    const section = document.createElement('section');
    section.className = 'group';
    section.dataset.label = g.type;
    const h = document.createElement('h2');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = g.colour || '#ddd';
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = String(g.count);
    h.append(swatch, g.type, ' ', count);
    const ul = document.createElement('ul');
    for (const item of g.items) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'entity';
      button.dataset.label = g.type;
      button.dataset.text = item.text;
      button.textContent = item.text;
      if (item.value != null) { // a date, time, amount or percentage: its normalised value, also on hover
        button.dataset.value = item.value;
        button.title = `${g.type} · ${item.value}`;
        const v = document.createElement('span');
        v.className = 'value';
        v.textContent = item.value;
        button.append(' ', v);
      }
      if (item.count > 1) {
        const n = document.createElement('span');
        n.className = 'count';
        n.textContent = `×${item.count}`;
        button.append(' ', n);
      }
      button.addEventListener('click', () => {
        chrome.tabs.sendMessage(tab, { type: 'surligne:scroll', label: g.type, text: item.text }).catch(() => {});
      });
      li.append(button);
      ul.append(li);
    }
    section.append(h, ul);
    return section;
  }));
}

async function refresh(tab) {
  const answer = await chrome.tabs.sendMessage(tab, { type: 'surligne:list' }).catch(() => null);
  render(tab, answer);
  document.body.dataset.state = answer?.on ? answer.state : 'off';
  return answer;
}

async function main() {
  const tab = await tabId();
  $('switch').addEventListener('click', async () => {
    const on = $('switch').dataset.on !== 'true';
    const answer = await chrome.runtime.sendMessage({ to: 'background', type: 'toggle', tabId: tab, on });
    if (answer?.error) $('status').textContent = `Erreur : ${answer.error}`;
    await refresh(tab);
  });
  $('options').addEventListener('click', (e) => {
    e.preventDefault();
    chrome.runtime.openOptionsPage();
  });
  // the list grows while the page is read
  for (;;) {
    const answer = await refresh(tab);
    await new Promise((resolve) => setTimeout(resolve, answer?.state === 'running' ? 300 : 1500));
  }
}

main();
