// options.js — the options page: which model (the one bundled with the extension, or one added from a URL
// and kept in the extension's IndexedDB by web/store.js), which labels are highlighted, which aggregation.
// Settings are saved at once in storage.local ({ model, hidden, aggregation }); the background passes them
// to the tabs where highlighting is on. A model added from a URL replaces the one in use only once it is
// downloaded, verified, kept and read by the engine; otherwise the page says why and nothing changes.
import { deleteModel, formatBytes, listModels, loadModel } from './web/store.js';

const $ = (id) => document.getElementById(id);
const DEFAULTS = { model: null, hidden: [], aggregation: 'first' };

async function getSettings() {
  const { settings } = await chrome.storage.local.get('settings');
  return { ...DEFAULTS, ...settings };
}

async function save(change) {
  const settings = { ...(await getSettings()), ...change };
  await chrome.storage.local.set({ settings });
  return settings;
}

async function ask(message) {
  const answer = await chrome.runtime.sendMessage({ to: 'background', ...message });
  if (!answer || answer.error) throw new Error(answer?.error || 'no answer from the extension');
  return answer;
}

function showError(err) {
  $('error').hidden = !err;
  $('error').textContent = err ? String(err.message || err) : '';
}

function radio(name, value, checked, text, extra) {
  const label = document.createElement('label');
  label.className = 'model';
  const input = document.createElement('input');
  input.type = 'radio';
  input.name = name;
  input.value = value;
  input.checked = checked;
  label.append(input, ' ', text);
  if (extra) label.append(' ', extra);
  return label;
}

async function renderModels() {
  const settings = await getSettings();
  const { model: bundled } = await ask({ type: 'bundled' });
  const stored = (await listModels().catch(() => [])).filter((m) => m.url !== bundled.url);
  const form = $('models');
  const current = settings.model?.url || '';
  const rows = [radio('model', '', !current, `${bundled.name} (fourni avec l'extension, ${formatBytes(bundled.bytes)})`)];
  for (const m of stored) {
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Supprimer';
    del.addEventListener('click', async () => {
      await deleteModel(m.url, m.sha256);
      if ((await getSettings()).model?.url === m.url) await save({ model: null });
      await refresh();
    });
    rows.push(radio('model', m.url, current === m.url, `${m.url} (${formatBytes(m.bytes)})`, del));
    rows[rows.length - 1].querySelector('input').dataset.sha256 = m.sha256;
  }
  form.replaceChildren(...rows);
  form.onchange = async (e) => {
    const input = e.target;
    const model = input.value ? { url: input.value, sha256: input.dataset.sha256 } : null;
    await save({ model });
    await renderLabels();
  };
}

async function renderLabels() {
  showError(null);
  $('model-info').textContent = 'Chargement du modèle…';
  let answer;
  try {
    answer = await ask({ type: 'model' });
  } catch (err) {
    $('model-info').textContent = '';
    showError(err);
    return;
  }
  const { entityTypes, colours, info } = answer;
  const settings = await getSettings();
  $('model-info').textContent = `Étiquettes du modèle : ${entityTypes.join(', ')} · ${formatBytes(info.bytes)} · ` +
    `moteur ${info.build}, ${info.threads} fil, prêt en ${Math.round(info.readyMs)} ms`;
  $('labels').replaceChildren(...entityTypes.map((type) => {
    const label = document.createElement('label');
    label.className = 'label-choice';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = type;
    box.checked = !settings.hidden.includes(type);
    box.addEventListener('change', async () => {
      const s = await getSettings();
      const hidden = new Set(s.hidden);
      if (box.checked) hidden.delete(type);
      else hidden.add(type);
      await save({ hidden: [...hidden] });
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colours[type];
    label.append(box, ' ', swatch, type);
    return label;
  }));
}

async function addModel() {
  const url = $('add-url').value.trim();
  const sha256 = $('add-sha').value.trim().toLowerCase();
  const status = $('add-status');
  if (!/^https?:\/\//.test(url)) {
    status.textContent = 'Une URL http(s) est nécessaire.';
    return;
  }
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    status.textContent = 'Le sha256 du fichier est nécessaire (64 chiffres hexadécimaux).';
    return;
  }
  const progress = $('add-progress');
  progress.hidden = false;
  $('add-button').disabled = true;
  try {
    const model = await loadModel(url, {
      sha256,
      onProgress: ({ phase, loaded, total }) => {
        if (phase === 'download' && total) progress.value = loaded / total;
        status.textContent = phase === 'download' && total ? `Téléchargement… ${formatBytes(loaded)} / ${formatBytes(total)}`
          : `${phase}…`;
      },
    });
    if (!model.stored) throw new Error(model.storeError || 'the model could not be kept');
    // the engine must read it before it replaces the model in use: else the previous one stays, this one goes
    const previous = (await getSettings()).model;
    await save({ model: { url, sha256 } });
    status.textContent = 'Chargement du modèle…';
    try {
      await ask({ type: 'model' });
    } catch (err) {
      await save({ model: previous });
      await deleteModel(url, sha256).catch(() => {});
      await refresh();
      throw new Error(`the engine cannot read this model, the previous one is kept: ${err.message}`);
    }
    status.textContent = `Ajouté (${formatBytes(model.bytes.length)}).`;
    await refresh();
  } catch (err) {
    status.textContent = `Échec : ${err.message}`;
  } finally {
    progress.hidden = true;
    $('add-button').disabled = false;
  }
}

async function refresh() {
  await renderModels();
  await renderLabels();
}

async function main() {
  const settings = await getSettings();
  $('aggregation').value = settings.aggregation;
  $('aggregation').addEventListener('change', () => save({ aggregation: $('aggregation').value }));
  $('add-button').addEventListener('click', addModel);
  await refresh();
  document.body.dataset.ready = 'true';
}

main().catch(showError);
