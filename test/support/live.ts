// Real subscription clients for the tests: graphql-ws over WebSocket, and Server-Sent Events over fetch.
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient, type Client } from "graphql-ws";
import { createParser } from "eventsource-parser";
import type { GraphQLResponse } from "./server.ts";

/** What a subscription has received so far, and a way to wait for more. */
export class Received<T> {
  readonly results: GraphQLResponse<T>[] = [];
  ended = false;
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];

  push(result: GraphQLResponse<T>): void {
    this.results.push(result);
    this.notify();
  }

  end(code: number | null = null): void {
    this.ended = true;
    this.closeCode = code;
    this.notify();
  }

  get data(): T[] {
    return this.results.flatMap((r) => (r.data ? [r.data] : []));
  }

  /** Waits until `ready()` holds, or fails after `timeoutMs`. */
  async until(ready: (received: this) => boolean, timeoutMs = 15_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    while (!ready(this)) {
      if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(this.results).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export type Subscription<T> = { received: Received<T>; stop(): void };

export function wsClient(httpUrl: string, token: string | null): Client & { closeCodes: number[] } {
  const closeCodes: number[] = [];
  const client = createClient({
    url: httpUrl.replace(/^http/, "ws"),
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => closeCodes.push((event as CloseEvent).code) },
  });
  return Object.assign(client, { closeCodes });
}

/** `headers` go in the operation's `extensions.headers`, as GraphiQL sends its Headers tab. */
export function subscribeWs<T, V>(client: Client, document: TypedDocumentNode<T, V>, variables: V, headers?: Record<string, unknown>): Subscription<T> {
  const received = new Received<T>();
  const stop = client.subscribe<T>(
    { query: print(document), variables: variables as Record<string, unknown>, ...(headers ? { extensions: { headers } } : {}) },
    {
      next: (result) => received.push(result as GraphQLResponse<T>),
      error: (error) => {
        if (Array.isArray(error)) received.push({ errors: error });
        else if (error && typeof error === "object" && "code" in error) received.end((error as CloseEvent).code);
        else received.push({ errors: [{ message: String(error) }] });
        received.end(received.closeCode);
      },
      complete: () => received.end(),
    },
  );
  return { received, stop };
}

export function subscribeSse<T, V>(httpUrl: string, document: TypedDocumentNode<T, V>, variables: V, token: string | null): Subscription<T> {
  const received = new Received<T>();
  const abort = new AbortController();
  void (async () => {
    try {
      const response = await fetch(httpUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query: print(document), variables }),
        signal: abort.signal,
      });
      const parser = createParser({
        onEvent: (event) => {
          if (event.event === "complete") return received.end();
          if (event.data) received.push(JSON.parse(event.data) as GraphQLResponse<T>);
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      received.end();
    } catch (error) {
      if (!abort.signal.aborted) received.push({ errors: [{ message: String(error) }] });
      received.end();
    }
  })();
  return { received, stop: () => abort.abort() };
}
