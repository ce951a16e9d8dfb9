// Real processes: the server (`npm start`'s entry) and the CLI, as operators run them.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import type { TestDatabase } from "./databases.ts";

export type ServerProcess = { url: string; child: ChildProcessWithoutNullStreams; output(): string; stop(signal?: NodeJS.Signals): Promise<number | null> };

export function databaseEnv(database: TestDatabase): NodeJS.ProcessEnv {
  return { ...process.env, DATA_DIR: database.dataDir, DATABASE_URL: database.databaseUrl ?? "", DIRECT_URL: database.directUrl ?? "" };
}

/**
 * Starts the server and resolves with its URL once it logs it: when ready, or (`until: "listening"`)
 * as soon as it listens, before its database answers.
 */
export async function startServerProcess(env: NodeJS.ProcessEnv, { until = "ready" }: { until?: "ready" | "listening" } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--experimental-strip-types", "src/server/main.ts"], {
    env: { PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL logged: ${output}`)), 60_000);
    const look = () => {
      const match = (until === "ready" ? /ready at (http:\/\/\S+\/graphql)/ : /listening at (http:\/\/\S+\/graphql)/).exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off("data", look); // the output grows by a line per request (the access log)
      resolve(match[1]!);
    };
    child.stdout.on("data", look);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, "exit");
      return code as number | null;
    },
  };
}

/** A port nothing listens on now: a server restarted on it is found at the same URL. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A long-running CLI command whose stdout lines are collected as they come. */
export function startCli(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let partial = "";
  let errors = "";
  child.stdout.on("data", (chunk: Buffer) => {
    partial += chunk.toString();
    const complete = partial.split("\n");
    partial = complete.pop()!;
    lines.push(...complete.filter((l) => l.length > 0));
  });
  child.stderr.on("data", (chunk) => (errors += chunk));
  return {
    lines,
    stderr: () => errors,
    async until(ready: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!ready()) {
        if (Date.now() > deadline) throw new Error(`timed out; lines: ${lines.join("\n")}; stderr: ${errors}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    /** Waits for the command to end by itself. */
    async exited(): Promise<number | null> {
      if (child.exitCode !== null) return child.exitCode;
      const [code] = await once(child, "exit");
      return code as number | null;
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGINT");
      const [code] = await once(child, "exit");
      return code as number | null;
    },
  };
}
