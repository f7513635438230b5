// background.js — the extension's service worker (Manifest V3, module). It owns no engine: a service worker
// cannot start a Web Worker, so the engine lives in an offscreen document (offscreen.html, reason WORKERS)
// that this file creates on demand and talks to with runtime messages.
//
//   toolbar button (action) on a tab where highlighting is off: injects content.js (activeTab + scripting),
//     the ::highlight() colours (scripting.insertCSS) and switches highlighting on; from then on the button
//     opens the popup (popup.html?tab=ID), which lists the entities and has the switch to turn it off.
//   content script -> { to: 'background', type: 'recognize', texts }  -> { results: [[entity…]…] } | { error }
//                  -> { to: 'background', type: 'count', n }           (the badge)
//   popup / options -> { to: 'background', type: 'toggle', tabId, on } | { type: 'model' } (labels, info)
//   background -> offscreen { to: 'offscreen', type: 'recognize' | 'model', model, texts, aggregation }
//
// Which tabs are on lives in storage.session (the worker may stop between two clicks); the settings (model,
// labels hidden, aggregation) in storage.local, written by the options page. Nothing here touches the network:
// the default model is a file of the extension's package, other models are in the extension's IndexedDB.
import { colourOf } from './web/highlight.js';

export const DEFAULT_SETTINGS = { model: null, hidden: [], aggregation: 'first' };
const OFFSCREEN_URL = 'offscreen.html';

let bundled = null; // the default model: { name, url, sha256, bytes, labels }

async function bundledModel() {
  if (!bundled) {
    const res = await fetch(chrome.runtime.getURL('weights/models.json')); // a file of the package
    const manifest = await res.json();
    const m = manifest.models.find((x) => x.name === manifest.default);
    bundled = { name: m.name, url: chrome.runtime.getURL(`weights/${m.file}`), sha256: m.sha256, bytes: m.bytes,
      labels: m.labels, bundled: true };
  }
  return bundled;
}

export async function settings() {
  const { settings: s } = await chrome.storage.local.get('settings');
  return { ...DEFAULT_SETTINGS, ...s };
}

async function currentModel(s) {
  return s.model?.url ? s.model : bundledModel();
}

// --- the offscreen document -------------------------------------------------------------------------------

let creating = null;

async function ensureOffscreen() {
  const contexts = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] });
  if (contexts.length) return;
  if (!creating) {
    creating = chrome.offscreen.createDocument({
      url: OFFSCREEN_URL,
      reasons: ['WORKERS'],
      justification: 'runs the named-entity recogniser (WebAssembly) in a Web Worker, on this device',
    }).finally(() => {
      creating = null;
    });
  }
  await creating;
}

async function toOffscreen(message) {
  await ensureOffscreen();
  const answer = await chrome.runtime.sendMessage({ to: 'offscreen', ...message });
  if (!answer) throw new Error('the offscreen document did not answer');
  if (answer.error) throw Object.assign(new Error(answer.error), { code: answer.code });
  return answer;
}

// The model's entity types and engine info; loads it in the offscreen document if needed.
export async function modelInfo() {
  const s = await settings();
  const model = await currentModel(s);
  const answer = await toOffscreen({ type: 'model', model });
  return { model, entityTypes: answer.entityTypes, info: answer.info };
}

// --- tabs -------------------------------------------------------------------------------------------------

async function tabsOn() {
  const { tabs = {} } = await chrome.storage.session.get('tabs');
  return tabs;
}

async function setTabOn(tabId, on) {
  const tabs = await tabsOn();
  if (on) tabs[tabId] = true;
  else delete tabs[tabId];
  await chrome.storage.session.set({ tabs });
  await chrome.action.setPopup({ tabId, popup: on ? `popup.html?tab=${tabId}` : '' }).catch(() => {});
  if (!on) await chrome.action.setBadgeText({ tabId, text: '' }).catch(() => {});
}

function highlightCss(types) {
  const rules = types.map((t) => `::highlight(surligne-${t}) { background-color: ${colourOf(t)}; color: #111; }`);
  rules.push('::highlight(surligne-focus) { background-color: #ffd400; color: #000; text-decoration: underline 2px; }');
  return rules.join('\n');
}

const insertedCss = new Map(); // tabId -> css inserted (kept for removeCSS; lost with the worker, harmless)

// What the content script needs to run: the settings, the model's types and their colours.
async function runMessage() {
  const s = await settings();
  const { model, entityTypes } = await modelInfo();
  const colours = Object.fromEntries(entityTypes.map((t) => [t, colourOf(t)]));
  return { type: 'surligne:on', settings: { aggregation: s.aggregation, hidden: s.hidden, model: model.url },
    entityTypes, colours };
}

// Switches highlighting on or off in a tab. On needs the activeTab grant of a click on the toolbar button.
export async function toggle(tabId, on) {
  if (on === undefined) on = !(await tabsOn())[tabId];
  if (!on) {
    await chrome.tabs.sendMessage(tabId, { type: 'surligne:off' }).catch(() => {});
    const css = insertedCss.get(tabId);
    if (css) await chrome.scripting.removeCSS({ target: { tabId }, css }).catch(() => {});
    insertedCss.delete(tabId);
    await setTabOn(tabId, false);
    return false;
  }
  await chrome.scripting.executeScript({ target: { tabId }, files: ['content.js'] });
  const message = await runMessage();
  const css = highlightCss(message.entityTypes);
  if (insertedCss.get(tabId) !== css) {
    await chrome.scripting.insertCSS({ target: { tabId }, css });
    insertedCss.set(tabId, css);
  }
  await setTabOn(tabId, true);
  await chrome.tabs.sendMessage(tabId, message);
  return true;
}

chrome.action.onClicked.addListener((tab) => {
  // fires only where no popup is set, that is where highlighting is off
  toggle(tab.id, true).catch((err) => {
    console.warn(`surligne: ${err.message}`);
    chrome.action.setBadgeText({ tabId: tab.id, text: '!' }).catch(() => {});
    chrome.action.setTitle({ tabId: tab.id, title: `Surligne : ${err.message}` }).catch(() => {});
  });
});

// A page that navigated lost its content script: the tab is off again (the popup goes, the button toggles).
chrome.tabs.onUpdated.addListener(async (tabId, change) => {
  if (change.status !== 'complete' || !(await tabsOn())[tabId]) return;
  const alive = await chrome.tabs.sendMessage(tabId, { type: 'surligne:ping' }).catch(() => false);
  if (!alive) {
    insertedCss.delete(tabId);
    await setTabOn(tabId, false);
  }
});

chrome.tabs.onRemoved.addListener((tabId) => {
  insertedCss.delete(tabId);
  tabsOn().then((tabs) => {
    if (tabs[tabId]) setTabOn(tabId, false);
  });
});

// Settings changed (options page): the tabs that are on run again with them.
chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area !== 'local' || !changes.settings) return;
  for (const id of Object.keys(await tabsOn())) {
    const tabId = Number(id);
    try {
      const message = await runMessage();
      const css = highlightCss(message.entityTypes);
      if (insertedCss.get(tabId) !== css) {
        await chrome.scripting.insertCSS({ target: { tabId }, css });
        insertedCss.set(tabId, css);
      }
      await chrome.tabs.sendMessage(tabId, message);
    } catch (err) {
      console.warn(`surligne: tab ${tabId}: ${err.message}`);
    }
  }
});

const handlers = {
  async recognize(msg) {
    const s = await settings();
    const model = await currentModel(s);
    const { results } = await toOffscreen({ type: 'recognize', model, texts: msg.texts, aggregation: s.aggregation });
    return { results };
  },
  async count(msg, sender) {
    const tabId = sender.tab?.id;
    if (tabId !== undefined) {
      await chrome.action.setBadgeBackgroundColor({ tabId, color: '#5b4a00' }).catch(() => {});
      await chrome.action.setBadgeText({ tabId, text: msg.n ? String(msg.n) : '' }).catch(() => {});
    }
    return { ok: true };
  },
  async toggle(msg) {
    return { on: await toggle(msg.tabId, msg.on) };
  },
  async model() {
    const { model, entityTypes, info } = await modelInfo();
    return { model, entityTypes, info, colours: Object.fromEntries(entityTypes.map((t) => [t, colourOf(t)])) };
  },
  async bundled() {
    return { model: await bundledModel() };
  },
  async isOn(msg) {
    return { on: Boolean((await tabsOn())[msg.tabId]) };
  },
};

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (msg?.to !== 'background' || !handlers[msg.type]) return false;
  handlers[msg.type](msg, sender).then(sendResponse, (err) => sendResponse({ error: err.message, code: err.code }));
  return true; // answers asynchronously
});
