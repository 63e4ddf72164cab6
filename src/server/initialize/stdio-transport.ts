/**
 * An MCP transport over the stdin/stdout of a process we spawned ourselves (the SDK's
 * StdioClientTransport spawns its own child and cannot put it in a process group). Messages
 * are newline-delimited JSON-RPC, framed with the SDK's serializer and parser. Anything else
 * on stdout — a banner, a log line, an oversized line — is a protocol violation reported
 * once through `onInvalidOutput`, with the whole offending output (the caller masks secrets
 * before it shortens it) and an error that never quotes it; blank lines are ignored. End of
 * stdout closes the transport.
 * With `maxTotalBytes`, stdout as a whole is bounded too: past it the transport stops reading
 * (so our memory stays bounded whatever the child writes) and reports `onOutputLimit` once.
 */
import type { Readable, Writable } from 'node:stream';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export const DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024;

export class ChildStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /**
   * Called once, with the offending output (a line, or what there is of an overlong one), when
   * stdout is not JSON-RPC. The error describes the problem without quoting the output.
   */
  onInvalidOutput?: (output: string, error: Error) => void;
  /** Called once when stdout as a whole passes `maxTotalBytes`; nothing is read after that. */
  onOutputLimit?: (limit: number) => void;
  /** The protocol version agreed in the initialize handshake. */
  protocolVersion: string | undefined;

  readonly #stdin: Writable;
  readonly #stdout: Readable;
  readonly #maxLineBytes: number;
  readonly #maxTotalBytes: number;
  #totalBytes = 0;
  #buffer: Buffer = Buffer.alloc(0);
  #started = false;
  #closed = false;
  #invalid = false;

  constructor(
    stdin: Writable,
    stdout: Readable,
    options: { maxLineBytes?: number; maxTotalBytes?: number } = {},
  ) {
    this.#stdin = stdin;
    this.#stdout = stdout;
    this.#maxTotalBytes = options.maxTotalBytes ?? Number.POSITIVE_INFINITY;
    this.#maxLineBytes = Math.min(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, this.#maxTotalBytes);
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('ChildStdioTransport already started');
    this.#started = true;
    this.#stdout.on('data', this.#onData);
    this.#stdout.once('end', this.#onEnd);
    this.#stdout.once('close', this.#onEnd);
    this.#stdin.on('error', this.#onStdinError);
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#stdin;
    if (this.#closed || !stdin.writable) return Promise.reject(new Error('Not connected'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null) => {
        stdin.off('drain', onDrain);
        stdin.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error('Not connected: the server closed its stdin'));
      if (stdin.write(serializeMessage(message))) {
        resolve();
        return;
      }
      stdin.once('drain', onDrain);
      stdin.once('close', onClose);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stdout.off('data', this.#onData);
    this.#stdout.off('end', this.#onEnd);
    this.#stdout.off('close', this.#onEnd);
    this.#stdin.off('error', this.#onStdinError);
    this.#buffer = Buffer.alloc(0);
    this.onclose?.();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#invalid) return;
    this.#totalBytes += chunk.length;
    if (this.#totalBytes > this.#maxTotalBytes) {
      this.#invalid = true;
      this.#buffer = Buffer.alloc(0);
      this.#stdout.off('data', this.#onData);
      this.#stdout.pause();
      const error = new Error(`stdout passed ${this.#maxTotalBytes} bytes`);
      this.onOutputLimit?.(this.#maxTotalBytes);
      this.onerror?.(error);
      return;
    }
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let newline = this.#buffer.indexOf(0x0a);
    while (newline !== -1 && !this.#invalid && !this.#closed) {
      const line = this.#buffer.toString('utf8', 0, newline).replace(/\r$/, '');
      this.#buffer = this.#buffer.subarray(newline + 1);
      if (line.trim() !== '') this.#deliver(line);
      newline = this.#buffer.indexOf(0x0a);
    }
    if (this.#buffer.length > this.#maxLineBytes && !this.#invalid) {
      const output = this.#buffer.toString('utf8');
      this.#violation(output, new Error(`a line of stdout exceeded ${this.#maxLineBytes} bytes`));
    }
  };

  #deliver(line: string): void {
    let message: JSONRPCMessage;
    try {
      message = deserializeMessage(line);
    } catch (err) {
      // JSON.parse's message quotes the line's first characters, cut wherever its limit falls;
      // a secret cut in two there could not be masked.
      const why = err instanceof SyntaxError ? 'not valid JSON' : 'valid JSON, but not a JSON-RPC message';
      this.#violation(line, new Error(why, { cause: err }));
      return;
    }
    this.onmessage?.(message);
  }

  #violation(excerpt: string, error: Error): void {
    this.#invalid = true;
    this.#buffer = Buffer.alloc(0);
    this.onInvalidOutput?.(excerpt, error);
    this.onerror?.(error);
  }

  readonly #onEnd = (): void => {
    void this.close();
  };

  readonly #onStdinError = (err: Error): void => {
    this.onerror?.(err);
  };
}
