// A redis-server of the test's own, never the machine's: started, killed (by its pid) and restarted at will.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { freePort } from "./processes.ts";

export type ThrowawayRedis = { url: string; start(): Promise<void>; kill(): Promise<void> };

/** A redis-server of the test's own on a free port, never the machine's: started, killed and restarted at will. */
export async function throwawayRedis(port?: number): Promise<ThrowawayRedis> {
  port ??= await freePort();
  let child: ChildProcess | null = null;
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = started;
      let output = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
        started.stdout!.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("Ready to accept connections")) {
            clearTimeout(timer);
            resolve();
          }
        });
        started.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited with ${code}: ${output}`));
        });
      });
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null) return;
      running.kill("SIGKILL"); // by its pid: this one, and only this one
      await once(running, "exit");
    },
  };
}
