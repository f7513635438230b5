// What a web developer writes, in TypeScript checked by tsc against the package's declarations: the
// package's API and its model list; the model file is served by the app (public/, copied there by the test).
// ?threads=N asks for threads (used where the page is cross-origin isolated). The entities are drawn as <mark>s and left in window.result for the test.
import { Surligne, type Entity, type ModelInfo } from 'surligne';
import models from 'surligne/models.json';

declare global {
  interface Window {
    result?: { entities: Entity[]; info: ModelInfo } | { error: string; code?: string };
  }
}

const SENTENCE = 'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.';

async function main() {
  const output = document.querySelector('#output') as HTMLElement;
  const entry = models.models.find((m) => m.name === models.default)!;
  const threads = Number(new URLSearchParams(location.search).get('threads')) || 1;
  try {
    const ner = await Surligne.load(new URL(entry.file, document.baseURI), { sha256: entry.sha256, threads });
    const entities = await ner.recognize(SENTENCE);
    let at = 0;
    const parts: (string | HTMLElement)[] = [];
    for (const e of entities) {
      parts.push(SENTENCE.slice(at, e.start));
      const mark = document.createElement('mark');
      mark.dataset.label = e.label;
      mark.textContent = SENTENCE.slice(e.start, e.end);
      parts.push(mark);
      at = e.end;
    }
    parts.push(SENTENCE.slice(at));
    output.replaceChildren(...parts);
    window.result = { entities, info: ner.info };
  } catch (err) {
    const { message, code } = err as Error & { code?: string };
    output.textContent = message;
    window.result = { error: message, code };
  }
}

main();
