// A throwaway TCP proxy in front of the machine's PostgreSQL: "stopping the database" for a test is
// closing this proxy (its port then refuses, its connections drop), never touching PostgreSQL itself.
import net from "node:net";
import { freePort } from "./processes.ts";

export type TcpProxy = {
  /** the target URL with the proxy's host and port */
  url: string;
  port: number;
  /** listens (again) on the same port */
  open(): Promise<void>;
  /** stops listening and drops every connection through it */
  close(): Promise<void>;
};

export async function tcpProxy(target: URL): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let listener: net.Server | null = null;
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    async open() {
      if (listener) return;
      const server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on("close", () => sockets.delete(socket));
          socket.on("error", () => {});
        }
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      listener = server;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
      });
    },
    async close() {
      const server = listener;
      listener = null;
      for (const socket of sockets) socket.destroy();
      if (server) await new Promise((resolve) => server.close(resolve));
    },
  };
}
