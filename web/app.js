// app.js — the highlighting page (index.html): loads the default model of weights/models.json (or
// ?model=URL&sha256=HEX), highlights the entities of the text as it is typed, shows the model's state.
// ?text=… fills the text and runs at once; ?threads=N, ?aggregation=… and ?dates=0 set the options.
// A model that cannot be loaded (garbage, a download cut short, a wrong sha256) is reported, and the last model
// that worked on this device (localStorage, read from IndexedDB) is used in its place.
// For tests and the console: window.surligne = { ner, Surligne, run } once the model is ready.
import { highlight, legend } from './highlight.js';
import { deleteModel, formatBytes, listModels } from './store.js';
import { Surligne } from './surligne.js';

const $ = (id) => document.getElementById(id);
const input = $('input');
const output = $('output');
const status = $('status');
const statusText = $('status-text');
const progress = $('progress');
const modelInfo = $('model-info');
const errorBox = $('error');
const aggregation = $('aggregation');
const runInfo = $('run-info');
const dates = $('dates');

const SAMPLE = 'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.';
const DEBOUNCE_MS = 150;
const LAST_MODEL = 'surligne-last-model'; // localStorage: { name, url, sha256, expectedBytes } that last loaded

const params = new URLSearchParams(location.search);
let ner = null;
let controller = null;
let timer = 0;

const PHASES = {
  download: 'Téléchargement du modèle',
  cached: 'Lecture du modèle sur cet appareil',
  corrupt: 'Copie locale abîmée : nouveau téléchargement',
  verify: 'Vérification (sha256)',
  store: 'Enregistrement sur cet appareil',
  start: 'Démarrage du moteur',
};

function setStatus(state, text) {
  status.dataset.state = state;
  statusText.textContent = text;
}

// note: what was done about it (the model used instead), after the detail
function showError(title, err, note) {
  errorBox.hidden = false;
  errorBox.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = title;
  const detail = document.createElement('span');
  detail.className = 'detail';
  detail.textContent = err?.message || String(err);
  errorBox.append(strong, ' ', detail);
  if (note) errorBox.append(Object.assign(document.createElement('span'), { className: 'note', textContent: note }));
  errorBox.dataset.code = err?.code || 'error';
}

const LOAD_ERRORS = {
  sha256: 'Le modèle téléchargé n’est pas celui attendu (sha256 différent) : il n’a pas été utilisé.',
  http: 'Le fichier du modèle est introuvable sur le serveur.',
  network: 'Le modèle n’a pas pu être téléchargé (hors ligne ?).',
  truncated: 'Le téléchargement du modèle a été interrompu : le fichier reçu est incomplet et n’a pas été utilisé.',
  model: 'Le fichier du modèle est invalide : il n’a pas été utilisé.',
};

function lastModel() {
  try {
    const m = JSON.parse(localStorage.getItem(LAST_MODEL));
    return m?.url ? m : null;
  } catch {
    return null;
  }
}

function rememberModel(model) {
  try {
    localStorage.setItem(LAST_MODEL, JSON.stringify(model));
  } catch {
    // no localStorage (private mode, quota): no fallback next time, nothing else
  }
}

function onProgress({ phase, loaded, total }) {
  const name = PHASES[phase] || phase;
  if (phase === 'download' && total) {
    progress.hidden = false;
    progress.value = loaded / total;
    setStatus('loading', `${name}… ${Math.floor((100 * loaded) / total)} % (${formatBytes(loaded)} / ${formatBytes(total)})`);
  } else {
    progress.hidden = phase !== 'download';
    progress.removeAttribute('value');
    setStatus('loading', `${name}…`);
  }
}

function describeModel(name, info) {
  const from = info.source === 'indexeddb' ? 'lu sur cet appareil (IndexedDB)' : 'téléchargé et gardé sur cet appareil';
  const parts = [
    name,
    formatBytes(info.bytes),
    info.source === 'network' && !info.stored ? 'téléchargé (non gardé)' : from,
    `${info.threads} ${info.threads > 1 ? 'fils' : 'fil'}${info.crossOriginIsolated ? '' : ' (page non isolée)'}`,
    info.kernel === 'wasm-relaxed' ? 'SIMD relaxed' : info.simd ? 'SIMD' : 'sans SIMD',
    `prêt en ${Math.round(info.readyMs)} ms`,
  ];
  modelInfo.textContent = parts.join(' · ');
  modelInfo.title = `sha256 ${info.sha256}\nmoteur ${info.build}.wasm, fenêtre de ${info.maxTokens} jetons`;
}

async function run() {
  clearTimeout(timer);
  if (!ner) return;
  controller?.abort();
  const mine = new AbortController();
  controller = mine;
  const text = input.value;
  output.dataset.state = 'running';
  const t0 = performance.now();
  try {
    const entities = await ner.recognize(text, { aggregation: aggregation.value, dates: dates.checked, signal: mine.signal });
    if (controller !== mine) return;
    const n = highlight(output, text, entities);
    output.dataset.aggregation = aggregation.value;
    const ms = performance.now() - t0;
    runInfo.textContent = `${n} ${n > 1 ? 'entités' : 'entité'} · ${text.length.toLocaleString('fr')} caractères · ${Math.round(ms)} ms`;
    output.dataset.state = 'done';
  } catch (err) {
    if (err?.name === 'AbortError') return;
    showError('La reconnaissance a échoué.', err);
    output.dataset.state = 'error';
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

async function showStored() {
  const list = $('stored-list');
  let models;
  try {
    models = await listModels();
  } catch (err) {
    list.replaceChildren(Object.assign(document.createElement('li'), { textContent: `stockage indisponible : ${err.message}` }));
    return;
  }
  list.replaceChildren(...models.map((m) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Supprimer';
    button.addEventListener('click', async () => {
      await deleteModel(m.url, m.sha256);
      showStored();
    });
    li.append(`${new URL(m.url).pathname.split('/').pop()} · ${formatBytes(m.bytes)} · ${new Date(m.storedAt).toLocaleString('fr')} `, button);
    li.title = `${m.url}\nsha256 ${m.sha256}`;
    return li;
  }));
  if (!models.length) list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'aucun' }));
}

async function main() {
  if ('serviceWorker' in navigator) {
    // at the site's root (dist/sw.js): its scope is the site, wherever the site is mounted
    navigator.serviceWorker.register(new URL('../sw.js', import.meta.url))
      .catch((err) => console.warn('surligne: no service worker (the page will need the network):', err.message));
  }
  input.value = params.get('text') ?? SAMPLE;
  if (params.get('aggregation')) aggregation.value = params.get('aggregation');
  input.addEventListener('input', schedule);
  aggregation.addEventListener('change', run);
  if (params.get('dates') === '0') dates.checked = false;
  dates.addEventListener('change', run);
  output.textContent = input.value;

  let name;
  let modelUrl;
  let sha256;
  let expectedBytes;
  try {
    const res = await fetch(new URL('../weights/models.json', import.meta.url));
    if (!res.ok) throw new Error(`weights/models.json: HTTP ${res.status}`);
    const manifest = await res.json();
    const entry = manifest.models.find((m) => m.name === manifest.default) ?? manifest.models[0];
    if (params.get('model')) {
      modelUrl = params.get('model');
      name = modelUrl.split('/').pop();
    } else {
      modelUrl = new URL(`../weights/${entry.file}`, import.meta.url).href;
      name = entry.name;
      sha256 = entry.sha256;
      expectedBytes = entry.bytes;
    }
    if (params.has('sha256')) sha256 = params.get('sha256') || undefined;
  } catch (err) {
    setStatus('error', 'Pas de modèle.');
    showError('La liste des modèles est illisible.', err);
    output.dataset.state = 'error';
    return;
  }

  const threads = params.get('threads') ? Number(params.get('threads')) : undefined;
  const open = (m) => Surligne.load(m.url, { sha256: m.sha256, expectedBytes: m.expectedBytes, onProgress, threads });
  let model = { name, url: new URL(modelUrl, location.href).href, sha256, expectedBytes };
  let failure = null;
  try {
    ner = await open(model);
  } catch (err) {
    failure = err;
  }
  if (failure) {
    progress.hidden = true;
    const title = LOAD_ERRORS[failure.code] || 'Le modèle n’a pas pu être chargé.';
    // the last model that worked here, unless it is the one that just failed
    const previous = lastModel();
    const same = previous?.url === model.url && (!model.sha256 || model.sha256.toLowerCase() === previous.sha256);
    if (previous && !same) {
      showError(title, failure, `Le modèle utilisé auparavant, ${previous.name}, est chargé à sa place…`);
      try {
        ner = await open(previous);
        model = previous;
      } catch (err) {
        console.warn(`surligne: the previous model ${previous.url} failed too: ${err.message}`);
      }
    }
    progress.hidden = true;
    if (!ner) {
      setStatus('error', 'Le modèle n’a pas pu être chargé.');
      showError(title, failure);
      output.dataset.state = 'error';
      return;
    }
    showError(title, failure, `Le modèle utilisé auparavant sur cet appareil, ${model.name}, sert à sa place.`);
    setStatus('fallback', 'Modèle précédent utilisé');
  } else {
    progress.hidden = true;
    setStatus('ready', 'Modèle prêt');
    if (ner.info.repaired) {
      showError('La copie du modèle gardée sur cet appareil était abîmée : elle a été téléchargée de nouveau.',
        Object.assign(new Error(ner.info.repaired), { code: 'repaired' }));
    } else if (ner.info.storeError) {
      showError('Le modèle n’a pas été gardé sur cet appareil.', Object.assign(new Error(ner.info.storeError), { code: 'store' }));
    }
  }
  rememberModel({ name: model.name, url: model.url, sha256: ner.info.sha256, expectedBytes: ner.info.bytes });
  describeModel(model.name, ner.info);
  legend($('legend'), ner.entityTypes);
  window.surligne = { ner, Surligne, run };
  showStored();
  await run();
}

main();
