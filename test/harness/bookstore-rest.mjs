// A plain HTTP/JSON bookstore (no gRPC) for the gRPC -> HTTP/JSON translation test, speaking the
// REST shape of test/fixtures/bookstore/bookstore.proto's google.api.http rules.
//   GET  /v1/shelves/1                  {"id":"1","theme":"poetry"}; other shelves 404 {"message"}
//   GET  /v1/shelves/S/books?page_size=N&authors=A...   {"books":[...]} (echoes what it got in nextPageToken)
//   POST /v1/shelves/S/books  (a Book)  the book with name shelves/S/books/<isbn>; 400 without a title
//   GET  /v1/shelves/S/books/B:title    "Dune" (response_body)
// Prints "listening PORT".
import http from 'node:http';

const [, , port = '0'] = process.argv;
const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const json = (status, o) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(o));
  };
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    let m;
    if (req.method === 'GET' && (m = /^\/v1\/shelves\/(\d+)$/.exec(u.pathname))) {
      return m[1] === '1' ? json(200, { id: '1', theme: 'poetry' }) : json(404, { message: `shelf ${m[1]} not found` });
    }
    if (req.method === 'GET' && (m = /^\/v1\/shelves\/(\d+)\/books$/.exec(u.pathname))) {
      const books = [{ title: 'Leaves of Grass', author: 'Whitman' }, { title: 'Ariel', author: 'Plath' }];
      const authors = u.searchParams.getAll('authors');
      const list = books.filter((b) => !authors.length || authors.includes(b.author)).slice(0, Number(u.searchParams.get('page_size') || 10));
      return json(200, { books: list, nextPageToken: `shelf=${m[1]};query=${u.search}` });
    }
    if (req.method === 'POST' && (m = /^\/v1\/shelves\/(\d+)\/books$/.exec(u.pathname))) {
      if (req.headers['content-type'] !== 'application/json') return json(415, { message: 'want JSON' });
      const b = JSON.parse(body || '{}');
      if (!b.title) return json(400, { message: 'a book needs a title' });
      return json(200, { ...b, name: `shelves/${m[1]}/books/${b.isbn ?? 0}` });
    }
    if (req.method === 'GET' && (m = /^\/v1\/shelves\/(\d+)\/books\/(\w+):title$/.exec(u.pathname))) return json(200, 'Dune');
    json(404, { message: `no route for ${req.method} ${u.pathname}` });
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
