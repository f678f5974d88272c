/**
 * An in-process gRPC app for filter tests: an h2c server on loopback port 0 answering
 * bookstore.Bookstore/GetShelf with Shelf{id: <asked>, theme: "shelf <id>"}, and every other
 * method UNIMPLEMENTED. The bookstore descriptor set (test/fixtures/bookstore) decodes and
 * encodes the messages, as a real server's generated code would.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage, type Registry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { buildDescriptorSet } from './descriptors.js';

let cached: { set: Uint8Array; reg: Registry } | undefined;
/** The bookstore descriptor set (built once per test file) and its registry. */
export function bookstore(): { set: Uint8Array; reg: Registry; msg(name: string): DescMessage } {
  cached ??= (() => {
    const set = buildDescriptorSet(join(import.meta.dirname, '..', 'fixtures', 'bookstore'));
    return { set, reg: createFileRegistry(fromBinary(FileDescriptorSetSchema, set)) };
  })();
  const { set, reg } = cached;
  return { set, reg, msg: (name) => reg.getMessage(name)! };
}

/** A gRPC length-prefixed frame. */
export function frame(payload: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, 5);
  return b;
}

export interface GrpcUpstream {
  readonly port: number;
  /** Paths of the calls received, in order. */
  readonly calls: string[];
  close(): Promise<void>;
}

export async function grpcUpstream(): Promise<GrpcUpstream> {
  const b = bookstore();
  const calls: string[] = [];
  const srv = http2.createServer();
  srv.on('stream', (st, headers) => {
    st.on('error', () => undefined);
    const path = String(headers[':path']);
    calls.push(path);
    const chunks: Buffer[] = [];
    st.on('data', (c: Buffer) => chunks.push(c));
    st.on('end', () => {
      if (path !== '/bookstore.Bookstore/GetShelf') {
        st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true });
        return;
      }
      const body = Buffer.concat(chunks);
      const req = fromBinary(b.msg('bookstore.GetShelfRequest'), body.subarray(5)) as unknown as { shelf: bigint };
      const reply = toBinary(b.msg('bookstore.Shelf'), create(b.msg('bookstore.Shelf'), { id: req.shelf, theme: `shelf ${req.shelf}` }));
      st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
      st.end(frame(reply));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    calls,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}
