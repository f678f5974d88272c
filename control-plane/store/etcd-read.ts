/**
 * Reading a whole etcd prefix (the configuration, the shared registry) in pages at one revision.
 */
import { Range, type IKeyValue, type Namespace } from 'etcd3';

/**
 * Keys per page of a prefix read: the whole prefix is read a page at a time, each page
 * an attempt of its own (its own deadline), all at the first page's revision, so a configuration of
 * any size loads as one consistent state. One read of everything took one deadline for all of it,
 * and its answer was one gRPC message (grpc-js takes at most 4 MiB by default): a configuration of
 * about 5 MiB could not be loaded at all. 100 keys keep a page under 4 MiB while resources average
 * under 40 KiB.
 */
export const PAGE_KEYS = 100;

/**
 * Every key under `prefix` as of one etcd revision, read PAGE_KEYS at a time (pages after the first
 * at the first one's revision). A page whose revision etcd compacted away in between starts the
 * read again at the newest revision (at most three times). Used for the configuration and the
 * shared registry.
 */
export async function readPrefix(client: Namespace, prefix: string, pageKeys = PAGE_KEYS): Promise<{ kvs: IKeyValue[]; revision: number }> {
  const end = Range.prefix(prefix).end;
  for (let tries = 1; ; tries++) {
    const kvs: IKeyValue[] = [];
    let revision: string | undefined;
    let from = Buffer.from(prefix);
    try {
      for (;;) {
        const q = client.getAll().inRange(new Range(from, end)).limit(pageKeys);
        const page = await (revision === undefined ? q : q.revision(revision)).exec();
        revision ??= page.header.revision;
        for (const kv of page.kvs) kvs.push(kv);
        if (!page.more || page.kvs.length === 0) return { kvs, revision: Number(revision) };
        from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
      }
    } catch (e) {
      if (tries < 3 && /required revision has been compacted/.test((e as Error)?.message ?? '')) continue;
      throw e;
    }
  }
}
