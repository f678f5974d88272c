// A server-first line protocol (SMTP-like) for layer-4 tests: the server speaks first, so a proxy
// that waits for the client's first bytes before connecting upstream hangs here. Run as its own
// process by test/harness/l4-servers.ts (startGreeter):
//   node greeter-server.mjs PORT [NAME]     (PORT 0: any free port)
// Prints "listening PORT" on stdout once bound; a bind error goes to stderr with exit code 1.
// On each connection it writes at once, before reading anything:
//   220 <NAME> ready\r\n                (NAME defaults to weft-greeter)
// then answers each line (CRLF or LF):
//   HELO x   -> 250 hello x
//   QUIT     -> 221 bye, then closes the connection
//   anything else -> 500 <line>
// SIGTERM/SIGINT: closes the listener and every open connection, exits 0.
import net from 'node:net';

const [portArg = '0', name = 'weft-greeter'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`greeter-server: '${portArg}' is not a port\n`);
  process.exit(2);
}

const sockets = new Set();
const server = net.createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  // A peer that resets is not our error: note it and let the socket close.
  s.on('error', (e) => process.stderr.write(`greeter-server: connection error: ${e.code ?? e.message}\n`));
  s.setEncoding('utf8');
  s.write(`220 ${name} ready\r\n`);
  let buf = '';
  s.on('data', (chunk) => {
    buf += chunk;
    if (buf.length > 64 * 1024) return void s.end('500 line too long\r\n');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      const helo = /^HELO (.+)$/i.exec(line);
      if (helo) s.write(`250 hello ${helo[1]}\r\n`);
      else if (/^QUIT$/i.test(line)) return void s.end('221 bye\r\n');
      else s.write(`500 ${line}\r\n`);
    }
  });
});
server.on('error', (e) => {
  process.stderr.write(`greeter-server: ${e.code ?? ''} ${e.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));

const stop = () => {
  server.close(() => process.exit(0));
  for (const s of sockets) s.destroy();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
