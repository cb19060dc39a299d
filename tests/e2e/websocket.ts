/**
 * A minimal WebSocket client for the e2e tests (Node 20 has no WebSocket of its own without a flag):
 * TLS to an address with the name for SNI and the Host header, trusting the given CA; the RFC 6455
 * handshake, checked; server frames read (unmasked, as servers send them); text frames sent masked,
 * as a client must. Enough to hold a connection open through Traefik and the JIT helper and see
 * that it stays live; not a general client (no fragmentation, no extensions).
 */
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as tls from "tls";

export interface WebSocketClient {
  /** Text frames received so far, in order. */
  readonly texts: string[];
  /** True once the connection has ended, for whatever reason. */
  readonly closed: () => boolean;
  send(text: string): void;
  /** Sends a close frame and ends the connection. */
  close(): Promise<void>;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, mask, masked]);
}

/** Opens wss://<name><path> at address:443; resolves once the server answered 101 with the right accept key. */
export function openWebSocket(opts: { address: string; name: string; path?: string; caFile: string; timeoutMs?: number }): Promise<WebSocketClient> {
  const key = randomBytes(16).toString("base64");
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: opts.address, port: 443, servername: opts.name, ca: fs.readFileSync(opts.caFile), ALPNProtocols: ["http/1.1"] });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`websocket to ${opts.name}: no 101 within ${opts.timeoutMs ?? 90000} ms`));
    }, opts.timeoutMs ?? 90000);
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let ended = false;
    const texts: string[] = [];
    const client: WebSocketClient = {
      texts,
      closed: () => ended,
      send: (text) => socket.write(frame(0x1, Buffer.from(text))),
      close: () =>
        new Promise((done) => {
          if (ended) return done();
          socket.once("close", () => done());
          socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
          setTimeout(() => socket.destroy(), 2000);
        }),
    };
    socket.on("secureConnect", () => {
      socket.write(
        [
          `GET ${opts.path ?? "/"} HTTP/1.1`,
          `Host: ${opts.name}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${key}`,
          "Sec-WebSocket-Version: 13",
          "",
          "",
        ].join("\r\n"),
      );
    });
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString("latin1");
        buffer = buffer.subarray(end + 4);
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101 /.test(head) || !new RegExp(`^sec-websocket-accept: ${accept.replace(/[+/=]/g, "\\$&")}$`, "im").test(head)) {
          socket.destroy();
          reject(new Error(`websocket to ${opts.name}: not upgraded:\n${head}`));
          return;
        }
        upgraded = true;
        resolve(client);
      }
      // Server frames: FIN + opcode, then an unmasked length of 7, 7+16 or 7+64 bits.
      for (;;) {
        if (buffer.length < 2) return;
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 0x1) texts.push(payload.toString("utf8"));
        else if (opcode === 0x8) socket.end();
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      if (!upgraded) reject(err);
    });
    socket.on("close", () => {
      ended = true;
      clearTimeout(timer);
      if (!upgraded) reject(new Error(`websocket to ${opts.name}: closed before the upgrade`));
    });
  });
}
