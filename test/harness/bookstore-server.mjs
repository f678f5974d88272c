// A real @grpc/grpc-js bookstore server (test/fixtures/bookstore/bookstore.proto) for the
// transcoding tests. Messages are (de)serialized with @bufbuild/protobuf from the descriptor set
// in DESCRIPTOR_SET (a file). Prints "listening PORT".
//   GetShelf      shelf 1 -> {id: 1, theme: "science fiction"}; others NOT_FOUND
//   ListBooks     the shelf's books (page_size limits), filtered by authors if given
//   CreateBook    INVALID_ARGUMENT without a title; else the book with name shelves/<shelf>/books/<isbn>
//   UpdateBook    echoes the book
//   GetBookTitle  {title: "Dune", name}
//   StreamBooks   page_size books, one message each; shelf 13 fails with UNAVAILABLE after 2
//   Ping          Empty
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createFileRegistry, fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

const [, , port = '0'] = process.argv;
const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(process.env.DESCRIPTOR_SET)));
const svc = reg.getService('bookstore.Bookstore');
const def = {};
for (const m of svc.methods) {
  def[m.localName] = {
    path: `/${svc.typeName}/${m.name}`,
    requestStream: false,
    responseStream: m.methodKind === 'server_streaming',
    requestSerialize: (x) => Buffer.from(toBinary(m.input, x)),
    requestDeserialize: (b) => fromBinary(m.input, b),
    responseSerialize: (x) => Buffer.from(toBinary(m.output, x)),
    responseDeserialize: (b) => fromBinary(m.output, b),
  };
}
const msg = (name, init) => create(reg.getMessage(name), init);
const books = [
  { title: 'Dune', author: 'Herbert', isbn: 9780441013593n, genre: 1 },
  { title: 'The Guns of August', author: 'Tuchman', isbn: 9780345476098n, genre: 2 },
  { title: 'Hyperion', author: 'Simmons', isbn: 9780553283686n, genre: 1 },
];
const server = new grpc.Server();
server.addService(def, {
  getShelf(call, cb) {
    if (call.request.shelf !== 1n) return cb({ code: grpc.status.NOT_FOUND, message: `shelf ${call.request.shelf} does not exist` });
    cb(null, msg('bookstore.Shelf', { id: 1n, theme: 'science fiction' }));
  },
  listBooks(call, cb) {
    const r = call.request;
    let list = books.filter((b) => !r.authors.length || r.authors.includes(b.author));
    if (r.pageSize > 0) list = list.slice(0, r.pageSize);
    cb(null, msg('bookstore.ListBooksResponse', { books: list.map((b) => msg('bookstore.Book', b)), nextPageToken: '' }));
  },
  createBook(call, cb) {
    const b = call.request.book;
    if (!b?.title) return cb({ code: grpc.status.INVALID_ARGUMENT, message: 'a book needs a title' });
    cb(null, msg('bookstore.Book', { ...b, name: `shelves/${call.request.shelf}/books/${b.isbn}` }));
  },
  updateBook(call, cb) {
    cb(null, call.request);
  },
  getBookTitle(call, cb) {
    cb(null, msg('bookstore.Book', { name: call.request.name, title: 'Dune' }));
  },
  streamBooks(call) {
    const n = call.request.pageSize || 3;
    for (let i = 0; i < n; i++) {
      if (call.request.shelf === 13n && i === 2) return call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'shelf 13 collapsed' });
      call.write(msg('bookstore.Book', { ...books[i % books.length], name: `shelves/${call.request.shelf}/books/${i}` }));
    }
    call.end();
  },
  ping(call, cb) {
    cb(null, msg('google.protobuf.Empty', {}));
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) throw err;
  process.stdout.write(`listening ${p}\n`);
});
