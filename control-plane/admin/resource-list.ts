/**
 * `GET /v1/resources` written in slices: each slice of resources is presented (secrets redacted,
 * status added), summarized and serialized in its own event-loop task, and the response is
 * streamed. One JSON.stringify of a 20,000-resource list, and the Buffer of its text, held the
 * control plane's event loop for a fifth of a second (longer on a loaded machine), xDS included.
 */
import type { ServerResponse } from 'node:http';
import { kindDefinition, presentResource } from '../config/kinds/index.js';
import { resourceKey } from '../config/resource-key.js';
import type { MeshModel, MeshResource } from '../config/types.js';
import { nextTurn } from '../slices.js';

/** Resources serialized between two yields to the event loop. */
const SLICE = 256;

/**
 * Writes `{ revision, items, summaries }` for `resources` (already filtered and sorted), as of
 * `model`: items as handed out, summaries the one-line SUMMARY `weft get` prints, by resource key.
 * Stops early when the client goes away.
 */
export async function sendResourceList(res: ServerResponse, resources: readonly MeshResource[], model: MeshModel): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json' });
  const summaries: string[] = [];
  let chunk = `{"revision":${model.revision},"items":[`;
  for (let i = 0; i < resources.length; i++) {
    const shown = presentResource(resources[i]!, model);
    chunk += `${i ? ',' : ''}${JSON.stringify(shown)}`;
    summaries.push(`${JSON.stringify(resourceKey(shown))}:${JSON.stringify(kindDefinition(shown.kind).summary(shown as never))}`);
    if (i % SLICE === SLICE - 1) {
      const more = res.write(chunk);
      chunk = '';
      await (more ? nextTurn() : drained(res));
      if (res.destroyed) return;
    }
  }
  res.end(`${chunk}],"summaries":{${summaries.join(',')}}}`);
}

/** Resolves when `res` can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
